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

``sparse`` (issue 17): ``rows`` × 10 dense guest columns plus the label, and a host holding
``features`` (default 10,000) columns at ``density`` (default 0.1%) as a CSR matrix: about
``rows · features · density`` non-zeros, ``N(0, 1)`` values at uniformly random places, labels drawn
from a logistic model of the guest's and host's columns (seed 0; every party builds the same data
from the seed). The 70/30 split is by position (rows are already in random order); no scaling
(centring would make the host's matrix dense). The host's encrypted gradient ``[d]ᵀX_h`` is one
multi-exponentiation per column over that column's non-zeros. The report adds ``memory``: each
party's peak resident set (MiB) and the host's feature matrix in bytes, sparse and as it would be
dense; and ``dense``: the same run with the host's matrix dense-encoded, when that matrix is at
most ``DENSE_LIMIT_BYTES`` (else the reason it was skipped).

``python benchmarks/hetero_lr.py [--dataset synth50k|breast|sparse] [--rows N] [--epochs 5]
[--key-size 1024] [--json]``
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from fedloom.bench.common import PaillierKeySize, party_rows, run_command_line
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
DATASETS = ("synth50k", "breast", "sparse")
GUEST_COLUMNS = 10
#: ``sparse``: default rows, host columns and density (issue 17's setup).
SPARSE_ROWS, SPARSE_FEATURES, SPARSE_DENSITY = 100_000, 10_000, 0.001
#: Largest dense host matrix (bytes) the ``sparse`` benchmark also runs dense-encoded.
DENSE_LIMIT_BYTES = 1 << 30


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dataset: Literal["synth50k", "breast", "sparse"]
    rows: int = Field(ge=20, le=10_000_000)
    features: int = Field(ge=1, le=10_000_000)
    density: float = Field(gt=0.0, le=1.0)
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


def sparse_data(
    rows: int = SPARSE_ROWS, features: int = SPARSE_FEATURES, density: float = SPARSE_DENSITY, seed: int = 0
) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray]:
    """``(guest columns (rows, 10), host CSR matrix (rows, features), labels)`` of ``sparse``."""
    rng = np.random.default_rng(seed)
    xg = rng.normal(size=(rows, GUEST_COLUMNS))
    xh = sparse.random(
        rows, features, density=density, format="csr", random_state=rng, data_rvs=rng.standard_normal
    )
    wg = rng.normal(size=GUEST_COLUMNS) * 0.5
    wh = rng.normal(size=features) * 2.0
    p = 1.0 / (1.0 + np.exp(-(xg @ wg + xh @ wh)))
    y = (rng.random(rows) < p).astype(np.int64)
    return xg, sparse.csr_matrix(xh), y


def _sparse_frames(role: str, rows: int, features: int, density: float, dense: bool) -> tuple[Frame, Frame]:
    xg, xh, y = sparse_data(rows, features, density)
    cut = int(rows * 0.7)
    ids = np.array([f"r{i}" for i in range(rows)], dtype=object)
    if role == "guest":
        cols = [f"x{i}" for i in range(GUEST_COLUMNS)]
        return (
            Frame(ids[:cut], xg[:cut], cols, label=y[:cut]),
            Frame(ids[cut:], xg[cut:], cols, label=y[cut:]),
        )
    cols = [f"h{i}" for i in range(features)]
    tr, te = xh[:cut], xh[cut:]
    if dense:
        tr, te = tr.toarray(), te.toarray()
    return Frame(ids[:cut], tr, cols), Frame(ids[cut:], te, cols)


def _frames(
    role: str, dataset: str, shape: tuple[int, int, float] | None = None, dense: bool = False
) -> tuple[Frame, Frame]:
    if dataset == "sparse":
        rows, features, density = shape or (SPARSE_ROWS, SPARSE_FEATURES, SPARSE_DENSITY)
        return _sparse_frames(role, rows, features, density, dense)
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
    shape: tuple[int, int, float] | None = None,
    dense: bool = False,
) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process); ``shape``: the
    ``sparse`` dataset's ``(rows, features, density)``, ``dense``: its host matrix dense-encoded."""
    set_num_workers(workers)
    p = params(epochs, key_size, obfuscators)
    out: dict[str, Any] = {}
    if role == "arbiter":
        t0 = time.perf_counter()
        model = HeteroLRArbiter(p).fit(ctx.sub("fit"))
        out["fit_seconds"] = time.perf_counter() - t0
        out["loss_history"] = model.loss_history[0]
    else:
        train, test = _frames(role, dataset, shape, dense)
        if train.is_sparse:
            f = train.sparse_features()
            out["feature_bytes"] = int(f.data.nbytes + f.indices.nbytes + f.indptr.nbytes)
            out["nnz"] = int(f.nnz)
        else:
            out["feature_bytes"] = int(train.features.nbytes)
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
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return out


def run(
    dataset: str = "synth50k",
    epochs: int = 5,
    key_size: int = 1024,
    timeout: float = 600.0,
    workers: int = 1,
    obfuscators: str = "arbiter",
    rows: int = SPARSE_ROWS,
    features: int = SPARSE_FEATURES,
    density: float = SPARSE_DENSITY,
) -> dict[str, Any]:
    """Train and evaluate hetero LR with three processes on loopback.

    Returns
    -------
    dict
        ``{"dataset", "epochs", "key_size", "epoch_seconds", "fit_seconds", "test_auc", "bytes"}``
        plus ``"parties"`` (each party's fit seconds, process CPU seconds, bytes sent and peak
        resident MiB), ``"loss_history"`` and ``"load_average"`` (1-minute, after the run: timings
        on a busy machine are not comparable). ``sparse`` adds ``"rows"``, ``"features"``,
        ``"density"``, ``"nnz"``, ``"memory"`` and ``"dense"`` (see the module docs).

    Raises
    ------
    ConfigError
        An argument out of range (``dataset`` not synth50k/breast/sparse, ``epochs`` not in
        [1, 10000], ``key_size`` not an even int in [1024, 8192], ``workers`` not in [1, 1024],
        ``obfuscators`` not arbiter/local, ``timeout`` not positive, ``rows`` not in
        [20, 10⁷], ``features`` not in [1, 10⁷], ``density`` not in (0, 1]).
    """
    kwargs: dict[str, Any] = {
        "dataset": dataset,
        "epochs": epochs,
        "key_size": key_size,
        "workers": workers,
        "obfuscators": obfuscators,
    }
    shape = {"rows": rows, "features": features, "density": float(density)}
    validate(_Args, {**kwargs, **shape, "timeout": timeout}, owner="the hetero LR benchmark")
    if dataset == "breast":
        _shared_data_dir()  # fail here, not in three party processes
    if dataset != "sparse":
        return _report(_launch(kwargs, timeout, dataset), kwargs)
    if int(rows * 0.7) <= features + 1:  # the GLM refuses batches a host could solve for d
        raise ConfigError(
            f"The 'rows' parameter of the hetero LR benchmark must give more training rows (70%) than "
            f"the host's {features} weights + 1. Got {rows} ({int(rows * 0.7)} training rows).",
            field="rows",
        )
    kwargs["shape"] = (rows, features, float(density))
    report = _report(_launch(kwargs, timeout, "sparse"), kwargs)
    dense_bytes = int(rows * 0.7) * features * 8
    host = report["parties"][str(HOST_PARTY)]
    report |= {**shape, "nnz": host.pop("nnz")}
    report["memory"] = {
        "peak_rss_mib": {p: v["peak_rss_mib"] for p, v in report["parties"].items()},
        "host_features_bytes": host.pop("feature_bytes"),
        "host_features_bytes_if_dense": dense_bytes,
    }
    if dense_bytes > DENSE_LIMIT_BYTES:
        report["dense"] = {
            "skipped": f"the host's dense matrix would take {dense_bytes / 2**30:.1f} GiB "
            f"(limit {DENSE_LIMIT_BYTES / 2**30:.0f} GiB); rerun with fewer --rows to compare"
        }
        return report
    dense = _report(_launch({**kwargs, "dense": True}, timeout, "sparse-dense"), kwargs)
    report["dense"] = {
        k: dense[k] for k in ("epoch_seconds", "fit_seconds", "test_auc", "bytes", "loss_history", "parties")
    }
    return report


def _launch(kwargs: dict[str, Any], timeout: float, tag: str) -> dict[PartyId, dict[str, Any]]:
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
        PartySpec(ARBITER_PARTY, f"{__name__}:party", {"role": "arbiter", **kwargs}),
    ]
    res = launch(specs, job_id=f"bench-hetero-lr-{tag}", timeout=timeout)
    res.raise_for_failure()
    out: dict[PartyId, dict[str, Any]] = res.results()
    return out


def _report(out: dict[PartyId, dict[str, Any]], kwargs: dict[str, Any]) -> dict[str, Any]:
    guest = out[GUEST_PARTY]
    parties = party_rows(out, ("fit_seconds", "cpu_seconds", "bytes_sent", "peak_rss_mib"))
    if kwargs["dataset"] == "sparse":
        for key in ("nnz", "feature_bytes"):
            if key in out[HOST_PARTY]:
                parties[str(HOST_PARTY)][key] = out[HOST_PARTY][key]
    return {
        "dataset": kwargs["dataset"],
        "epochs": kwargs["epochs"],
        "key_size": kwargs["key_size"],
        "epoch_seconds": [round(s, 3) for s in guest["epoch_seconds"]],
        "fit_seconds": round(guest["fit_seconds"], 3),
        "test_auc": round(guest["test_auc"], 4),
        "bytes": sum(o["bytes_sent"] for o in out.values()),
        "loss_history": [round(v, 6) for v in out[ARBITER_PARTY]["loss_history"]],
        "parties": parties,
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--dataset synth50k|breast|sparse] [--rows N] [--features M] [--density D]
    [--epochs N] [--key-size BITS] [--workers K] [--json]``."""
    parser = argparse.ArgumentParser(description="Hetero LR with guest, host and arbiter processes.")
    parser.add_argument("--dataset", choices=DATASETS, default="synth50k")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--key-size", type=int, default=1024, help="Paillier key bits")
    parser.add_argument("--workers", type=int, default=1, help="crypto threads per party")
    parser.add_argument(
        "--obfuscators", choices=("arbiter", "local"), default="arbiter", help="who makes the zeros"
    )
    parser.add_argument("--rows", type=int, default=SPARSE_ROWS, help="sparse: rows (70%% train)")
    parser.add_argument("--features", type=int, default=SPARSE_FEATURES, help="sparse: host columns")
    parser.add_argument("--density", type=float, default=SPARSE_DENSITY, help="sparse: non-zero fraction")
    return run_command_line(parser, argv, run)


if __name__ == "__main__":
    sys.exit(main())
