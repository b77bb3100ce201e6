"""Hetero feature binning benchmark (issue 10): guest and host as two OS processes over loopback gRPC.

The shape of FATE 2.0's published run (1 min 08 s on 16 cores) is the default:
``rows = 100,000``, the guest holding the label and ``guest_features = 30`` columns, the host
``host_features = 300`` columns, quantile binning with ``bin_num = 10``, Paillier with
``key_size = 1024`` bits; the goal is at most 30 s on the 2-core machine.

Data (no data travels through the launcher): every party builds its own columns from ``seed``
before the clock starts. Guest column ``j`` and host column ``j`` are ``rows`` standard normal
draws from the generators seeded ``[seed, 0, j]`` and ``[seed, 1, j]``, so the guest can rebuild
the few host columns its label depends on without building the host's matrix. The label comes
from a logistic model (``classes = 2``: ``P(y = 1) = σ(z)``) or a softmax model (``classes > 2``,
labels ``0..classes-1``) of the first ``min(3, guest_features)`` guest columns and the first
``min(3, host_features)`` host columns, with weights and draws from generators seeded
``[seed, 2]`` and ``[seed, 3]``. No missing values. Both parties hold the same ids ``r0, r1, ...``
in the same order (the intersection is done).

What is measured, inside each party's process (start-up and building the data excluded):

- ``seconds``: the guest's wall time of ``HeteroBinningGuest(params).fit(ctx, frame)``, from
  its first line to the returned model: key generation, its own binning, encrypting ``[y]``, the
  wait for the host's packed bin sums, decrypting them and WOE / IV for every column, guest's and
  host's. The guest's fit ends last (it decrypts the host's sums), so this is the protocol time.
- ``phases``: per party, the seconds of each phase as that party's ``model.summary()`` reports
  them (the names are the roles'; phases of the two parties overlap in time: the host bins its
  columns while the guest encrypts).
- ``encryptions`` (the guest's ``[y]``, one per row), ``ciphertexts_sent`` (by the host: packed
  bin sums), ``ciphertexts_received`` (by the guest) and ``decryptions`` (by the guest): the
  roles' own work counters (``model.to_dict()["work"]``).
- ``bytes``: the sum of both parties' bytes sent during fit (``ctx.stats``, per channel, payload
  after encoding); per party in ``parties``.
- ``parties``: per party its fit seconds, the CPU seconds of its process during fit (all its
  threads), bytes sent, peak resident set (MiB, the process's maximum since it started, data
  included) and work counters.
- ``host_columns_scored``: how many host columns the guest got WOE / IV for (a check that the run
  did the whole job: it must equal ``host_features``).
- ``machine``: ``os.cpu_count()``, ``OMP_NUM_THREADS`` as the parties saw it and the crypto
  threads per party; ``wall_seconds``: launch to exit (process start-up, TLS set-up and data
  building included); ``load_average``: the 1-minute load after the run (timings on a busy
  machine are not comparable).

Crypto threads: each party runs ``set_num_workers(workers)``; the default is ``cpu_count // 2``
(at least one), as if each party ran on its own machine with half of this one's cores (the PSI
benchmark's rule). ``cipher = "plain"`` runs the same protocol without encryption, to measure
the cost of cryptography.

``OMP_NUM_THREADS=1 python benchmarks/binning.py --rows 100000 --guest-features 30
--host-features 300 [--bin-num 10] [--method quantile] [--key-size 1024] [--classes 2] --json``
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import PaillierKeySize, party_rows, run_command_line
from fedloom.context import Context
from fedloom.core import PartyId
from fedloom.core.validation import validate
from fedloom.crypto.paillier.parallel import set_num_workers
from fedloom.data.frame import Frame
from fedloom.ml.hetero.binning import HeteroBinningGuest, HeteroBinningHost, HeteroFeatureBinningParams
from fedloom.runner.launcher import PartySpec, launch

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
#: Columns of each side the label depends on (at most).
LABEL_COLUMNS = 3
#: The work counters of ``model.work`` (``model.to_dict()["work"]`` in the binning contract).
WORK_KEYS = ("encryptions", "ciphertexts_received", "ciphertexts_sent", "decryptions")
#: Where a summary may keep its per-phase seconds, first match wins.
PHASE_KEYS = ("phase_seconds", "phases", "seconds", "timings")


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    rows: int = Field(ge=10, le=10_000_000)
    guest_features: int = Field(ge=1, le=100_000)
    host_features: int = Field(ge=1, le=100_000)
    bin_num: int = Field(ge=2, le=10_000)
    method: Literal["quantile", "bucket", "optimal"]
    key_size: PaillierKeySize
    classes: int = Field(ge=2, le=256)
    cipher: Literal["paillier", "plain"]
    workers: int | None = Field(default=None, ge=1, le=1024)
    seed: int = Field(ge=0, le=2**32 - 1)
    timeout: float = Field(gt=0.0)


def _column(seed: int, side: int, j: int, rows: int) -> np.ndarray:
    """Column ``j`` of side 0 (guest) or 1 (host): ``rows`` N(0, 1) draws of its own generator."""
    return np.random.default_rng([seed, side, j]).standard_normal(rows)


def make_label(rows: int, guest_features: int, host_features: int, classes: int, seed: int) -> np.ndarray:
    """The label (int64, ``0..classes-1``) from the first few guest and host columns (see the module docs)."""
    kg, kh = min(LABEL_COLUMNS, guest_features), min(LABEL_COLUMNS, host_features)
    x = np.column_stack(
        [_column(seed, 0, j, rows) for j in range(kg)] + [_column(seed, 1, j, rows) for j in range(kh)]
    )  # (rows, kg + kh)
    w = np.random.default_rng([seed, 2]).normal(size=(kg + kh, classes)) * 1.5
    draw = np.random.default_rng([seed, 3])
    if classes == 2:
        # logistic model: P(y = 1) = σ(z) with z = x·(w₁ − w₀)
        z = x @ (w[:, 1] - w[:, 0])
        return (draw.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    # softmax model sampled by Gumbel-max: argmax(logits + Gumbel noise) ~ softmax(logits)
    return np.argmax(x @ w + draw.gumbel(size=(rows, classes)), axis=1).astype(np.int64)


def make_frame(
    role: str, rows: int, guest_features: int, host_features: int, classes: int = 2, seed: int = 0
) -> Frame:
    """This party's part of the synthetic table: the guest's columns and label, or the host's columns."""
    ids = np.array([f"r{i}" for i in range(rows)], dtype=object)
    if role == "guest":
        x = np.column_stack([_column(seed, 0, j, rows) for j in range(guest_features)])
        y = make_label(rows, guest_features, host_features, classes, seed)
        return Frame(ids, x, [f"x{j}" for j in range(guest_features)], label=y)
    x = np.empty((rows, host_features))
    for j in range(host_features):
        x[:, j] = _column(seed, 1, j, rows)
    return Frame(ids, x, [f"h{j}" for j in range(host_features)])


def params(method: str, bin_num: int, key_size: int, cipher: str) -> HeteroFeatureBinningParams:
    """The benchmark's binning parameters (FATE names; no transform, every column binned)."""
    return HeteroFeatureBinningParams.from_dict(
        {
            "method": method,
            "bin_num": bin_num,
            "bin_indexes": -1,
            "encrypt_param": {"method": cipher, "key_length": key_size},
        }
    )


def phase_seconds(summary: Mapping[str, Any]) -> dict[str, float]:
    """The per-phase seconds of a model summary, rounded to ms (``{}`` when it has none)."""
    for key in PHASE_KEYS:
        value = summary.get(key)
        if isinstance(value, Mapping) and all(isinstance(v, int | float) for v in value.values()):
            return {str(k): round(float(v), 3) for k, v in value.items()}
    return {}


def party(
    ctx: Context,
    role: str,
    rows: int,
    guest_features: int,
    host_features: int,
    bin_num: int,
    method: str,
    key_size: int,
    classes: int,
    cipher: str,
    workers: int,
    seed: int,
) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process)."""
    set_num_workers(workers)
    frame = make_frame(role, rows, guest_features, host_features, classes, seed)
    p = params(method, bin_num, key_size, cipher)
    algo: HeteroBinningGuest | HeteroBinningHost = (
        HeteroBinningGuest(p) if role == "guest" else HeteroBinningHost(p)
    )
    t0, c0 = time.perf_counter(), time.process_time()
    model = algo.fit(ctx.sub("fit"), frame)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    work = model.work.to_dict()
    return {
        "fit_seconds": seconds,
        "cpu_seconds": cpu,
        "bytes_sent": ctx.stats.total_sent,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "work": {k: int(work[k]) for k in WORK_KEYS},
        "phases": phase_seconds(model.summary()),
        "host_columns": len(model.host_columns),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def run(
    rows: int = 100_000,
    guest_features: int = 30,
    host_features: int = 300,
    bin_num: int = 10,
    method: str = "quantile",
    key_size: int = 1024,
    classes: int = 2,
    cipher: str = "paillier",
    workers: int | None = None,
    seed: int = 0,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Bin a synthetic table between a guest and a host process on loopback and time it.

    Returns
    -------
    dict
        ``{"rows", "guest_features", "host_features", "bin_num", "method", "key_size", "classes",
        "cipher", "seconds", "phases", "encryptions", "ciphertexts_sent", "ciphertexts_received",
        "decryptions", "bytes", "host_columns_scored", "parties", "machine", "wall_seconds",
        "load_average"}`` (see the module docs for what each measures).

    Raises
    ------
    ConfigError
        An argument out of range (``rows`` not in [10, 10⁷], ``guest_features`` /
        ``host_features`` not in [1, 10⁵], ``bin_num`` not in [2, 10⁴], ``method`` not
        quantile/bucket/optimal, ``key_size`` not an even int in [1024, 8192], ``classes`` not in
        [2, 256], ``cipher`` not paillier/plain, ``workers`` not in [1, 1024], ``seed`` not in
        [0, 2³²), ``timeout`` not positive).
    """
    kwargs: dict[str, Any] = {
        "rows": rows,
        "guest_features": guest_features,
        "host_features": host_features,
        "bin_num": bin_num,
        "method": method,
        "key_size": key_size,
        "classes": classes,
        "cipher": cipher,
        "workers": workers,
        "seed": seed,
    }
    validate(_Args, {**kwargs, "timeout": timeout}, owner="the binning benchmark")
    kwargs["workers"] = workers or max(1, (os.cpu_count() or 2) // 2)
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
    ]
    t0 = time.perf_counter()
    res = launch(specs, job_id="bench-binning", timeout=timeout)
    wall = time.perf_counter() - t0
    res.raise_for_failure()
    out = res.results()
    return _report(out, kwargs, wall)


def _report(
    out: Mapping[PartyId, Mapping[str, Any]], kwargs: Mapping[str, Any], wall: float
) -> dict[str, Any]:
    guest, host = out[GUEST_PARTY], out[HOST_PARTY]
    parties = party_rows(out, ("fit_seconds", "cpu_seconds", "bytes_sent", "peak_rss_mib", "work"))
    return {
        **{k: v for k, v in kwargs.items() if k not in ("workers", "seed")},
        "seconds": round(guest["fit_seconds"], 3),
        "phases": {str(GUEST_PARTY): guest["phases"], str(HOST_PARTY): host["phases"]},
        "encryptions": guest["work"]["encryptions"],
        "ciphertexts_sent": host["work"]["ciphertexts_sent"],
        "ciphertexts_received": guest["work"]["ciphertexts_received"],
        "decryptions": guest["work"]["decryptions"],
        "bytes": guest["bytes_sent"] + host["bytes_sent"],
        "host_columns_scored": guest["host_columns"],
        "parties": parties,
        "machine": {
            "cpu_count": os.cpu_count(),
            "omp_num_threads": guest["omp_num_threads"],
            "workers_per_party": kwargs["workers"],
        },
        "wall_seconds": round(wall, 3),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--rows N] [--guest-features G] [--host-features H] [--bin-num B]
    [--method quantile|bucket|optimal] [--key-size BITS] [--classes K] [--cipher paillier|plain]
    [--workers W] [--seed S] [--json]``."""
    parser = argparse.ArgumentParser(description="Hetero feature binning between two processes on loopback.")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--guest-features", type=int, default=30)
    parser.add_argument("--host-features", type=int, default=300)
    parser.add_argument("--bin-num", type=int, default=10)
    parser.add_argument("--method", choices=("quantile", "bucket", "optimal"), default="quantile")
    parser.add_argument("--key-size", type=int, default=1024, help="Paillier key bits")
    parser.add_argument("--classes", type=int, default=2, help="label classes (2: binary)")
    parser.add_argument("--cipher", choices=("paillier", "plain"), default="paillier")
    parser.add_argument("--workers", type=int, default=None, help="crypto threads per party")
    parser.add_argument("--seed", type=int, default=0)
    return run_command_line(parser, argv, run)


if __name__ == "__main__":
    sys.exit(main())
