"""PSI benchmark: the full protocol between a guest and a host, each its own OS process.

Both parties are started by the local launcher and talk over loopback gRPC (the default path of
``fedloom run``). Each party builds its ``n`` ids before the clock starts; ``overlap·n`` of them
are shared. ``seconds`` is the protocol time measured inside each party (``fit`` from first
message to result; the maximum over the two parties). It **includes RSA key generation** (fresh
keys per run are part of the protocol) and excludes process start-up and building the ids.

Each party may use ``cpu_count // 2`` crypto threads (at least one), as if each ran on its own
machine with half of this one's cores: on a 2-core machine each party gets one core, so RSA
without ``split`` leaves the guest's core mostly idle while the host signs, which is exactly what
``split_calculation`` fixes.

``python benchmarks/psi.py --method ecdh --n 100000 [--overlap 0.5] [--split] [--key-size 2048] --json``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import party_rows, print_report
from fedloom.context import Context
from fedloom.core import PartyId
from fedloom.core.validation import validate
from fedloom.crypto.paillier.parallel import set_num_workers
from fedloom.crypto.rsa_blind import MAX_KEY_BITS, MIN_KEY_BITS
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost, IntersectParams, RsaParams
from fedloom.runner.launcher import PartySpec, launch

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
MAX_N = 100_000_000


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    method: Literal["ecdh", "rsa", "dh"]
    n: int = Field(ge=1, le=MAX_N)
    overlap: float = Field(ge=0.0, le=1.0)
    split: bool
    key_size: int = Field(ge=MIN_KEY_BITS, le=MAX_KEY_BITS)
    timeout: float = Field(gt=0.0)


def make_ids(n: int, overlap: float, role: str) -> list[str]:
    """``n`` ids for ``role``; guest and host share the first ``round(overlap·n)`` of them."""
    shared = round(overlap * n)
    start = 0 if role == "guest" else n - shared
    return [f"u{i:012d}" for i in range(start, start + n)]


def _params(method: str, split: bool, key_size: int) -> IntersectParams:
    return IntersectParams(
        intersect_method=method,
        sync_intersect_ids=True,
        rsa_params=RsaParams(key_length=key_size, split_calculation=split),
    )


def party(
    ctx: Context, role: str, method: str, n: int, overlap: float, split: bool, key_size: int
) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process)."""
    set_num_workers(max(1, (os.cpu_count() or 2) // 2))
    ids = make_ids(n, overlap, role)
    params = _params(method, split, key_size)
    algo = IntersectionGuest(params) if role == "guest" else IntersectionHost(params)
    t0, c0 = time.perf_counter(), time.process_time()
    result = algo.fit(ctx, ids)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "count": result.count, "bytes_sent": result.bytes_sent}


def run(
    method: str = "ecdh",
    n: int = 100_000,
    overlap: float = 0.5,
    split: bool = False,
    key_size: int = 2048,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Time one PSI run between two processes on loopback.

    Returns
    -------
    dict
        ``{"method", "n", "overlap", "seconds", "intersection", "bytes"}`` plus ``"split"`` and
        ``"key_size"`` (RSA), ``"wall_seconds"`` (launch to exit, start-up included) and
        ``"parties"`` (each party's own seconds, CPU seconds of its process and bytes sent) and
        ``"load_average"`` (1-minute, after the run: timings on a busy machine are not
        comparable). ``bytes`` is the sum of both parties' bytes sent.

    Raises
    ------
    ConfigError
        An argument out of range (``method`` not ecdh/rsa/dh, ``n`` not in [1, 10**8], ``overlap``
        not in [0, 1], ``key_size`` outside the RSA key sizes, ``timeout`` not positive).
    """
    kwargs = {"method": method, "n": n, "overlap": overlap, "split": split, "key_size": key_size}
    validate(_Args, {**kwargs, "timeout": timeout}, owner="the PSI benchmark")
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
    ]
    t0 = time.perf_counter()
    res = launch(specs, job_id=f"bench-psi-{method}", timeout=timeout)
    wall = time.perf_counter() - t0
    res.raise_for_failure()
    out = res.results()
    guest, host = out[GUEST_PARTY], out[HOST_PARTY]
    report: dict[str, Any] = {
        "method": method,
        "n": n,
        "overlap": overlap,
        "seconds": round(max(guest["seconds"], host["seconds"]), 3),
        "intersection": guest["count"],
        "bytes": guest["bytes_sent"] + host["bytes_sent"],
    }
    if method == "rsa":
        report.update(split=split, key_size=key_size)
    report["wall_seconds"] = round(wall, 3)
    report["parties"] = party_rows(out, ("seconds", "cpu_seconds", "bytes_sent"))
    report["load_average"] = round(os.getloadavg()[0], 2)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--method ecdh|rsa [--n N] [--overlap F] [--split] [--key-size BITS] [--json]``."""
    parser = argparse.ArgumentParser(description="PSI between two processes on loopback gRPC.")
    parser.add_argument("--method", choices=("ecdh", "rsa", "dh"), default="ecdh")
    parser.add_argument("--n", type=int, default=100_000, help="ids per party")
    parser.add_argument("--overlap", type=float, default=0.5, help="fraction of ids in common")
    parser.add_argument("--split", action="store_true", help="RSA split_calculation")
    parser.add_argument("--key-size", type=int, default=2048, help="RSA key bits")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    report = run(args.method, args.n, args.overlap, args.split, args.key_size)
    return print_report(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
