"""What the benchmarks share: the Paillier key-size rule, per-party report rows, the JSON printer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fedloom.core.validation import rule
from fedloom.crypto.paillier.keys import MAX_KEY_SIZE, MIN_KEY_SIZE

__all__ = ["PaillierKeySize", "party_rows", "print_report"]


def _even_key_size(value: object) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value % 2 == 0
        and (MIN_KEY_SIZE <= value <= MAX_KEY_SIZE)
    )


#: A Paillier modulus size the benchmarks accept: an even number of bits in the key range.
PaillierKeySize = Annotated[int, rule(f"an even int in [{MIN_KEY_SIZE}, {MAX_KEY_SIZE}]", _even_key_size)]


def party_rows(results: Mapping[Any, Mapping[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{party: {key: value}}`` of each party's own measurements, seconds rounded to ms."""
    return {
        str(party): {k: round(out[k], 3) if isinstance(out[k], float) else out[k] for k in keys}
        for party, out in results.items()
    }


def print_report(report: Mapping[str, Any], as_json: bool) -> int:
    """The report as one JSON line, or one ``key: value`` line each; the exit status (0)."""
    if as_json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:>14}: {value}")
    return 0
