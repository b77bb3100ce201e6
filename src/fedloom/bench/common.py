"""What the benchmarks share: the Paillier key-size rule, per-party report rows, the JSON printer,
the command-line tail of a benchmark's ``main``."""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import numpy as np

from fedloom.core.validation import rule
from fedloom.crypto.paillier.keys import MAX_KEY_SIZE, MIN_KEY_SIZE

__all__ = ["PaillierKeySize", "fit_and_score", "party_rows", "print_report", "run_command_line"]


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


def fit_and_score(ctx: Any, algo: Any, train: Any, test: Any) -> tuple[Any, dict[str, Any]]:
    """One party's timed ``algo.fit`` then ``algo.predict`` (contexts ``fit`` / ``predict``): the
    model and what every two-party benchmark reports of it — fit wall and CPU seconds, predict
    seconds, bytes sent, peak resident set (MiB, the process' maximum), ``OMP_NUM_THREADS``,
    training rows and, where this party predicts (the guest), the test AUC."""
    t0, c0 = time.perf_counter(), time.process_time()
    model = algo.fit(ctx.sub("fit"), train, None)
    fit_seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    t1 = time.perf_counter()
    pred = algo.predict(ctx.sub("predict"), model, test)
    out: dict[str, Any] = {
        "fit_seconds": fit_seconds,
        "cpu_seconds": cpu,
        "predict_seconds": time.perf_counter() - t1,
        "bytes_sent": ctx.stats.total_sent,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "train_rows": len(train.ids),
    }
    if pred is not None:
        from sklearn.metrics import roc_auc_score

        out["test_auc"] = float(roc_auc_score(np.asarray(test.label), np.asarray(pred.score)))
    return model, out
