"""Hetero LR benchmark: guest, host and arbiter as three OS processes over loopback gRPC.

Setup (the one FATE 2.2 was measured with on this machine kind: 25–29 s per epoch, test AUC
0.7678): ``make_classification(50000, 30, n_informative=15, n_redundant=5, random_state=0)``,
stratified 70/30 split with seed 42, standardised with the training part's mean and standard
deviation; the guest has the label and the first 10 columns, the host the other 20; SGD,
learning rate 0.1 (no decay), L2 with alpha 0.001, zero initialisation, intercept, full batch,
Paillier with ``key_size`` bits. ``breast`` uses FATE's breast_hetero data (569 rows, 10 + 20
columns) with the same split and settings.

Every party builds its own columns before the clock starts (no data travels through the
launcher). ``epoch_seconds`` are the guest's wall time per epoch (the first includes waiting for
the arbiter's first batch of encryptions of zero), ``fit_seconds`` the guest's whole fit (key
generation and setup included), ``test_auc`` the AUC of the federated prediction of the test
part, ``bytes`` the sum of every party's bytes sent during fit and predict.

Crypto threads: each party runs ``set_num_workers(workers)``, default 1. The Paillier kernels
(comb obfuscators, bucket multi-exponentiation) are Python loops over gmpy2 calls that hold the
GIL between 1-µs operations, so extra threads in one process add contention, not speed (measured
on the 2-core machine: 9.8 s vs 8.7 s per epoch with 2 vs 1); the three party processes already
keep the cores busy (the arbiter makes the next batch's encryptions of zero while guest and host
compute their gradients).

``python benchmarks/hetero_lr.py [--dataset synth50k|breast] [--epochs 5] [--key-size 1024] [--json]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import PaillierKeySize, party_rows, print_report
from fedloom.context import Context
from fedloom.core import PartyId
from fedloom.core.errors import ConfigError
from fedloom.core.validation import validate
from fedloom.crypto.paillier.parallel import set_num_workers
from fedloom.data.frame import Frame
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.runner.launcher import PartySpec, launch

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
ARBITER_PARTY = PartyId.parse("arbiter:10000")
DATASETS = ("synth50k", "breast")
GUEST_COLUMNS = 10


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dataset: Literal["synth50k", "breast"]
    epochs: int = Field(ge=1, le=10_000)
    key_size: PaillierKeySize
    timeout: float = Field(gt=0.0)
    workers: int = Field(ge=1, le=1024)
    obfuscators: Literal["arbiter", "local"]


def _shared_data_dir() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "fate_examples" / "data"
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        "the 'breast' dataset needs FATE's example data (shared/fate_examples/data) beside the "
        "repository; use --dataset synth50k without it",
        field="dataset",
    )


def load(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: split 70/30 stratified (seed 42), standardised."""
    from sklearn.model_selection import train_test_split

    if dataset == "synth50k":
        from sklearn.datasets import make_classification

        x, y = make_classification(50000, 30, n_informative=15, n_redundant=5, random_state=0)
    elif dataset == "breast":
        import pandas as pd

        d = _shared_data_dir()
        g = pd.read_csv(d / "breast_hetero_guest.csv")
        h = pd.read_csv(d / "breast_hetero_host.csv").set_index("id").loc[g["id"]]
        x = np.hstack([g.drop(columns=["id", "y"]).to_numpy(), h.to_numpy()])
        y = g["y"].to_numpy()
    else:
        raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}. Got {dataset!r}.", field="dataset")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=42)
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    sd[sd == 0] = 1.0
    return (x_tr - mu) / sd, y_tr, (x_te - mu) / sd, y_te


def params(epochs: int, key_size: int, obfuscators: str = "arbiter") -> HeteroLRParams:
    """The benchmark's settings (``obfuscators``: who makes the encryptions of zero)."""
    return HeteroLRParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.001,
            "optimizer": "sgd",
            "learning_rate": 0.1,
            "decay": 0.0,
            "batch_size": -1,
            "max_iter": epochs,
            "init_param": {"init_method": "zeros", "fit_intercept": True},
            "encrypt_param": {"method": "paillier", "key_length": key_size, "obfuscators": obfuscators},
        }
    )


def _frames(role: str, dataset: str) -> tuple[Frame, Frame]:
    x_tr, y_tr, x_te, y_te = load(dataset)
    ids_tr = [f"r{i}" for i in range(len(x_tr))]
    ids_te = [f"t{i}" for i in range(len(x_te))]
    if role == "guest":
        cols = [f"x{i}" for i in range(GUEST_COLUMNS)]
        return (
            Frame(ids_tr, x_tr[:, :GUEST_COLUMNS], cols, label=y_tr),
            Frame(ids_te, x_te[:, :GUEST_COLUMNS], cols, label=y_te),
        )
    cols = [f"x{i}" for i in range(GUEST_COLUMNS, x_tr.shape[1])]
    return Frame(ids_tr, x_tr[:, GUEST_COLUMNS:], cols), Frame(ids_te, x_te[:, GUEST_COLUMNS:], cols)


def party(
    ctx: Context,
    role: str,
    dataset: str,
    epochs: int,
    key_size: int,
    workers: int = 1,
    obfuscators: str = "arbiter",
) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process)."""
    set_num_workers(workers)
    p = params(epochs, key_size, obfuscators)
    out: dict[str, Any] = {}
    if role == "arbiter":
        t0 = time.perf_counter()
        model = HeteroLRArbiter(p).fit(ctx.sub("fit"))
        out["fit_seconds"] = time.perf_counter() - t0
        out["loss_history"] = model.loss_history[0]
    else:
        train, test = _frames(role, dataset)
        algo: HeteroLRGuest | HeteroLRHost = HeteroLRGuest(p) if role == "guest" else HeteroLRHost(p)
        t0 = time.perf_counter()
        model = algo.fit(ctx.sub("fit"), train)
        out["fit_seconds"] = time.perf_counter() - t0
        out["epoch_seconds"] = model.epoch_seconds[0]
        if isinstance(algo, HeteroLRGuest):
            from sklearn.metrics import roc_auc_score

            pred = algo.predict(ctx.sub("predict"), model, test)
            out["test_auc"] = float(roc_auc_score(test.label, pred.score))
        else:
            algo.predict(ctx.sub("predict"), model, test)
    out["cpu_seconds"] = time.process_time()
    out["bytes_sent"] = ctx.stats.total_sent
    return out


def run(
    dataset: str = "synth50k",
    epochs: int = 5,
    key_size: int = 1024,
    timeout: float = 600.0,
    workers: int = 1,
    obfuscators: str = "arbiter",
) -> dict[str, Any]:
    """Train and evaluate hetero LR with three processes on loopback.

    Returns
    -------
    dict
        ``{"dataset", "epochs", "key_size", "epoch_seconds", "fit_seconds", "test_auc", "bytes"}``
        plus ``"parties"`` (each party's fit seconds, process CPU seconds and bytes sent),
        ``"loss_history"`` and ``"load_average"`` (1-minute, after the run: timings on a busy
        machine are not comparable).

    Raises
    ------
    ConfigError
        An argument out of range (``dataset`` not synth50k/breast, ``epochs`` not in [1, 10000],
        ``key_size`` not an even int in [1024, 8192], ``workers`` not in [1, 1024],
        ``obfuscators`` not arbiter/local, ``timeout`` not positive).
    """
    kwargs = {
        "dataset": dataset,
        "epochs": epochs,
        "key_size": key_size,
        "workers": workers,
        "obfuscators": obfuscators,
    }
    validate(_Args, {**kwargs, "timeout": timeout}, owner="the hetero LR benchmark")
    if dataset == "breast":
        _shared_data_dir()  # fail here, not in three party processes
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
        PartySpec(ARBITER_PARTY, f"{__name__}:party", {"role": "arbiter", **kwargs}),
    ]
    res = launch(specs, job_id=f"bench-hetero-lr-{dataset}", timeout=timeout)
    res.raise_for_failure()
    out = res.results()
    guest = out[GUEST_PARTY]
    return {
        "dataset": dataset,
        "epochs": epochs,
        "key_size": key_size,
        "epoch_seconds": [round(s, 3) for s in guest["epoch_seconds"]],
        "fit_seconds": round(guest["fit_seconds"], 3),
        "test_auc": round(guest["test_auc"], 4),
        "bytes": sum(o["bytes_sent"] for o in out.values()),
        "loss_history": [round(v, 6) for v in out[ARBITER_PARTY]["loss_history"]],
        "parties": party_rows(out, ("fit_seconds", "cpu_seconds", "bytes_sent")),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--dataset synth50k|breast] [--epochs N] [--key-size BITS] [--workers K] [--json]``."""
    parser = argparse.ArgumentParser(description="Hetero LR with guest, host and arbiter processes.")
    parser.add_argument("--dataset", choices=DATASETS, default="synth50k")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--key-size", type=int, default=1024, help="Paillier key bits")
    parser.add_argument("--workers", type=int, default=1, help="crypto threads per party")
    parser.add_argument(
        "--obfuscators", choices=("arbiter", "local"), default="arbiter", help="who makes the zeros"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    report = run(args.dataset, args.epochs, args.key_size, workers=args.workers, obfuscators=args.obfuscators)
    return print_report(report, args.json)


if __name__ == "__main__":
    sys.exit(main())
