"""``fedloom bench scale``: SecureBoost seconds per tree against compute workers, local or Ray.

For each worker count ``w`` the guest and the host of a SecureBoost fit (the data of
:mod:`fedloom.bench.secureboost`, a smaller table by default) run in this process over the
in-memory transport, with the process' executor set as a party's configuration would set it
(:func:`fedloom.compute.select.configure_process`): ``{backend: local, workers: w}`` (a process
pool) or ``{backend: ray, workers: w}`` (a private single-node Ray with ``w`` CPUs, or the cluster
at ``--address``). Reported: seconds per tree and the speed-up over the first worker count.

Fairness: before each timed fit an untimed warm-up fit (a small table, one tree) starts the
executor's workers (Ray's worker processes, the process pool) and imports everything in them, so
the clock measures the heavy loops only. With Ray every worker count, 1 included, runs its work as
Ray tasks (a cluster executor with one partition still sends one task), so 1 and 2 workers pay the
same transfer costs. ``backend`` may name several backends (``"local,ray"``).
Both parties share the one executor here (a deployment gives each party its own cluster), so the
numbers measure the executor's scaling of the heavy loops, not a two-site deployment.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from fedloom.core.roles import PartyId


def _fit_once(rows: int, trees: int, depth: int, key_size: int, bin_num: int) -> float:
    from fedloom.bench.secureboost import _frames, params
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost
    from fedloom.testing import run_parties

    g_train, _ = _frames("guest", rows)
    h_train, _ = _frames("host", rows)
    p = params(trees, depth, key_size, "paillier", bin_num)
    guest, host = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    start = time.perf_counter()
    run_parties(
        {
            guest: lambda c: HeteroSecureBoostGuest(p).fit(c, g_train, None),
            host: lambda c: HeteroSecureBoostHost(p).fit(c, h_train, None),
        },
        timeout=3600,
    )
    return (time.perf_counter() - start) / trees


#: Rows and trees of the untimed warm-up fit.
WARMUP_ROWS = 600


def run(
    backend: str = "local",
    workers: Sequence[int] = (1, 2),
    rows: int = 20_000,
    trees: int = 2,
    depth: int = 3,
    key_size: int = 1024,
    bin_num: int = 32,
    address: str | None = None,
) -> dict[str, Any]:
    """Seconds per tree for each backend and worker count (see the module docstring)."""
    names = [b.strip() for b in backend.split(",") if b.strip()]
    if len(names) > 1:
        runs = [run(b, workers, rows, trees, depth, key_size, bin_num, address) for b in names]
        return {
            "backend": ",".join(names),
            "rows": rows,
            "trees": trees,
            "key_size": key_size,
            "cpu_count": os.cpu_count(),
            "uptime": _uptime(),
            "results": [{"backend": r["backend"], **x} for r in runs for x in r["results"]],
            "runs": runs,
        }
    return _run_backend(backend, workers, rows, trees, depth, key_size, bin_num, address)


def _uptime() -> str:
    """``uptime``'s load line (a shared machine's numbers need it next to them)."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _run_backend(
    backend: str,
    workers: Sequence[int],
    rows: int,
    trees: int,
    depth: int,
    key_size: int,
    bin_num: int,
    address: str | None,
) -> dict[str, Any]:
    from fedloom.compute import executor as compute_executor
    from fedloom.compute.select import COMPUTE_ENV, configure_process
    from fedloom.crypto.paillier import parallel

    old = os.environ.get(COMPUTE_ENV)
    results: list[dict[str, Any]] = []
    try:
        for w in workers:
            conf: dict[str, Any] = {"backend": backend, "workers": int(w)}
            if backend == "ray" and address:
                conf["address"] = address
            configure_process(conf)
            parallel.set_num_workers(1)  # the executor alone spreads the work
            ex = compute_executor.default_executor()
            connect = getattr(ex, "_connect", None)
            if connect is not None:  # start or join Ray before the clock starts
                connect()
            # Untimed warm-up: workers started, modules imported, comb tables built in them.
            _fit_once(WARMUP_ROWS, 1, depth, key_size, bin_num)
            tasks0 = getattr(ex, "stats", {}).get("tasks", 0)
            seconds = _fit_once(rows, trees, depth, key_size, bin_num)
            results.append(
                {
                    "workers": int(w),
                    "seconds_per_tree": round(seconds, 3),
                    "tasks": getattr(ex, "stats", {}).get("tasks", 0) - tasks0,
                }
            )
            ex.close()
            with compute_executor._default_lock:
                compute_executor._default = None
    finally:
        if old is None:
            os.environ.pop(COMPUTE_ENV, None)
        else:
            os.environ[COMPUTE_ENV] = old
    base = results[0]["seconds_per_tree"] if results else 0.0
    for r in results:
        r["speedup"] = round(base / r["seconds_per_tree"], 2) if r["seconds_per_tree"] else None
    return {
        "backend": backend,
        "address": address,
        "rows": rows,
        "trees": trees,
        "depth": depth,
        "key_size": key_size,
        "bin_num": bin_num,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "uptime": _uptime(),
        "results": results,
    }
