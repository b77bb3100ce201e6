"""What the benchmarks share: the Paillier key-size rule, per-party report rows, the JSON printer,
the command-line tail of a benchmark's ``main``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fedloom.core.validation import rule
from fedloom.crypto.paillier.keys import MAX_KEY_SIZE, MIN_KEY_SIZE

__all__ = ["PaillierKeySize", "party_rows", "print_report", "run_command_line"]


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


def run_command_line(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, run: Callable[..., Mapping[str, Any]]
) -> int:
    """Add ``--json`` to ``parser``, parse ``argv``, run the benchmark and print its report.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The benchmark's options; each one's ``dest`` is the name of a parameter of ``run``.
    argv : sequence of str or None
        The arguments (``None``: ``sys.argv[1:]``).
    run : callable
        The benchmark, called with every option but ``--json`` by keyword.

    Returns
    -------
    int
        The exit status (0).
    """
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = vars(parser.parse_args(argv))
    as_json = options.pop("json")
    return print_report(run(**options), as_json)
