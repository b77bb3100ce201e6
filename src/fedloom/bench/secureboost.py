"""Hetero SecureBoost benchmark (issue 11): guest and host as two OS processes over loopback gRPC,
with XGBoost's ``hist`` on the joined table in the same run.

The data is FATE 2.2's comparison set-up (57 s per tree there):
``make_classification(rows, 30, n_informative=15, n_redundant=5, random_state=0)`` (``rows =
50,000`` for ``synth50k``, or ``--rows N``), split 70/30 stratified with seed 42, standardised
with the training part's mean and standard deviation. The guest holds the label and columns
``x0..x9``, the host ``x10..x29``. Every party builds the table itself from the seed before its
clock starts (no data travels through the launcher) and keeps only its own columns; the ids are
``r0, r1, ...`` (train) and ``t0, t1, ...`` (test) on both sides (the intersection is done).

Both sides train with the same hyper-parameters: ``trees`` trees of depth ``depth``, learning
rate ``learning_rate`` (FATE's default 0.3), L2 ``reg_lambda`` (FATE's ``criterion_params``
[0.1]), ``bin_num`` bins per feature (FATE's ``bin_num`` and XGBoost's ``max_bin``, 32),
``min_child_weight = 0`` (FATE's default; XGBoost's is 1) and the cross-entropy (logistic)
objective. SecureBoost's early stop (``n_iter_no_change``) is off so that every tree is built.

What is measured, inside each party's process (start-up and building the data excluded):

- ``fit_seconds``: the guest's wall time of ``HeteroSecureBoostGuest(params).fit(ctx, train,
  None)`` (key generation, binning, every tree; the guest's fit ends last);
- ``tree_seconds``: the guest's wall seconds of each tree (the model's ``history.round_seconds``);
  ``seconds_per_tree``: their mean;
- ``phases``: the guest's seconds per phase (``model.to_dict()["work"]["seconds"]``: key
  generation, binning, encryption, histograms, waiting for the host's splits, decryption...);
- ``test_auc``: the guest's predictions of the test part (host's decisions over the network),
  ``predict_seconds`` their time;
- ``bytes``: both parties' bytes sent during fit and predict (``ctx.stats``);
- ``parties``: per party its fit seconds, CPU seconds, bytes sent and peak resident set (MiB, the
  process's maximum since it started: the generated table included);
- ``xgboost``: ``XGBClassifier(tree_method="hist")`` fit seconds and test AUC on the joined
  table, run in the launcher's process after the parties have finished (so they do not share
  the cores), with ``n_jobs`` threads;
- ``machine``: cores, ``OMP_NUM_THREADS``, workers per party; ``wall_seconds`` (launch to exit),
  ``load_average`` after the run.

Workers: each party runs its heavy loops on ``workers`` processes (``FEDLOOM_WORKERS``; crypto
threads alike); the default is ``cpu_count // 2`` (at least one), as if each party had half of the
machine.

``OMP_NUM_THREADS=1 fedloom bench secureboost --dataset synth50k --trees 5 --depth 3
--key-size 1024 [--rows N] [--cipher paillier|plain] [--workers W] --json``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import PaillierKeySize, fit_and_score, party_rows, run_command_line
from fedloom.context import Context
from fedloom.core import PartyId
from fedloom.core.validation import validate
from fedloom.data.frame import Frame
from fedloom.runner.launcher import PartySpec, launch

if TYPE_CHECKING:
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostParams

__all__ = ["DATASETS", "frames", "load", "main", "params", "run"]

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
DATASETS = ("synth50k",)
#: Rows of ``synth50k`` (before the 70/30 split).
SYNTH_ROWS = 50_000
#: Columns of the generated table; the guest holds the first ``GUEST_COLUMNS``.
FEATURES, GUEST_COLUMNS = 30, 10


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dataset: Literal["synth50k"]
    rows: int | None = Field(default=None, ge=100, le=20_000_000)
    trees: int = Field(ge=1, le=1000)
    depth: int = Field(ge=1, le=16)
    key_size: PaillierKeySize
    cipher: Literal["paillier", "plain"]
    bin_num: int = Field(ge=2, le=1024)
    learning_rate: float = Field(gt=0.0, le=1.0)
    reg_lambda: float = Field(ge=0.0)
    workers: int | None = Field(default=None, ge=1, le=1024)
    timeout: float = Field(gt=0.0)


def load(rows: int = SYNTH_ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` of the generated table (module docstring).

    The split is stratified 70/30 with seed 42; both parts are standardised with the training
    part's mean and standard deviation (a constant column is left centred).
    """
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(rows, FEATURES, n_informative=15, n_redundant=5, random_state=0)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=42)
    del x
    mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
    sd[sd == 0] = 1.0
    x_tr -= mu
    x_tr /= sd
    x_te -= mu
    x_te /= sd
    return x_tr, y_tr, x_te, y_te


def frames(role: str, rows: int) -> tuple[Frame, Frame]:
    """This party's train and test frames: the guest's label and first columns, or the host's."""
    x_tr, y_tr, x_te, y_te = load(rows)
    ids_tr = [f"r{i}" for i in range(len(x_tr))]
    ids_te = [f"t{i}" for i in range(len(x_te))]
    cols = slice(0, GUEST_COLUMNS) if role == "guest" else slice(GUEST_COLUMNS, FEATURES)
    names = [f"x{i}" for i in range(FEATURES)][cols]
    # copies: the full table is freed when this returns
    train_x, test_x = np.ascontiguousarray(x_tr[:, cols]), np.ascontiguousarray(x_te[:, cols])
    if role == "guest":
        return Frame(ids_tr, train_x, names, label=y_tr), Frame(ids_te, test_x, names, label=y_te)
    return Frame(ids_tr, train_x, names), Frame(ids_te, test_x, names)


def params(
    trees: int,
    depth: int,
    key_size: int,
    cipher: str = "paillier",
    bin_num: int = 32,
    learning_rate: float = 0.3,
    reg_lambda: float = 0.1,
) -> HeteroSecureBoostParams:
    """The benchmark's SecureBoost parameters (FATE names; binary cross-entropy, no early stop)."""
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostParams

    return HeteroSecureBoostParams.from_dict(
        {
            "task_type": "classification",
            "objective_param": {"objective": "cross_entropy"},
            "num_trees": trees,
            "learning_rate": learning_rate,
            "bin_num": bin_num,
            "n_iter_no_change": False,
            "tree_param": {"max_depth": depth, "criterion_params": [reg_lambda], "min_child_weight": 0},
            "encrypt_param": {
                "method": "Paillier" if cipher == "paillier" else "plain",
                "key_length": key_size,
            },
        }
    )


def tree_seconds(model: Any) -> list[float]:
    """The guest's wall seconds of each boosting round (one tree per round for a binary task)."""
    history = model.to_dict().get("history") or {}
    return [round(float(v), 3) for v in history.get("round_seconds", [])]


def phase_seconds(model: Any) -> dict[str, float]:
    """The per-phase seconds a model's work counters hold (``{}`` when none), rounded to ms."""
    work = model.to_dict().get("work")
    seconds = work.get("seconds") if isinstance(work, Mapping) else None
    if not isinstance(seconds, Mapping):
        return {}
    return {str(k): round(float(v), 3) for k, v in seconds.items() if isinstance(v, int | float)}


def party(
    ctx: Context,
    role: str,
    rows: int,
    trees: int,
    depth: int,
    key_size: int,
    cipher: str,
    bin_num: int,
    learning_rate: float,
    reg_lambda: float,
    workers: int,
) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process)."""
    os.environ["FEDLOOM_WORKERS"] = str(workers)  # the compute executor's pool size
    from fedloom.crypto.paillier.parallel import set_num_workers
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost

    set_num_workers(workers)
    train, test = frames(role, rows)
    p = params(trees, depth, key_size, cipher, bin_num, learning_rate, reg_lambda)
    algo = HeteroSecureBoostGuest(p) if role == "guest" else HeteroSecureBoostHost(p)
    model, out = fit_and_score(ctx, algo, train, test)
    return {**out, "tree_seconds": tree_seconds(model), "phases": phase_seconds(model)}


def xgboost_reference(
    rows: int, trees: int, depth: int, bin_num: int, learning_rate: float, reg_lambda: float, n_jobs: int
) -> dict[str, Any]:
    """XGBoost ``hist`` on the joined table with the same hyper-parameters: fit seconds, test AUC."""
    import xgboost
    from sklearn.metrics import roc_auc_score

    x_tr, y_tr, x_te, y_te = load(rows)
    clf = xgboost.XGBClassifier(
        n_estimators=trees,
        max_depth=depth,
        learning_rate=learning_rate,
        reg_lambda=reg_lambda,
        reg_alpha=0.0,
        min_child_weight=0.0,
        max_bin=bin_num,
        tree_method="hist",
        n_jobs=n_jobs,
    )
    t0 = time.perf_counter()
    clf.fit(x_tr, y_tr)
    seconds = time.perf_counter() - t0
    auc = float(roc_auc_score(y_te, clf.predict_proba(x_te)[:, 1]))
    return {
        "fit_seconds": round(seconds, 3),
        "test_auc": round(auc, 4),
        "n_jobs": n_jobs,
        "version": xgboost.__version__,
    }


def run(
    dataset: str = "synth50k",
    trees: int = 5,
    depth: int = 3,
    key_size: int = 1024,
    rows: int | None = None,
    cipher: str = "paillier",
    bin_num: int = 32,
    learning_rate: float = 0.3,
    reg_lambda: float = 0.1,
    workers: int | None = None,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Train SecureBoost between a guest and a host process on loopback, and XGBoost alike; time both.

    Returns
    -------
    dict
        ``{"dataset", "rows", "train_rows", "trees", "depth", "key_size", "cipher", "bin_num",
        "learning_rate", "reg_lambda", "tree_seconds", "seconds_per_tree", "fit_seconds",
        "predict_seconds", "phases", "test_auc", "bytes", "peak_rss_mib", "parties", "xgboost", "machine",
        "wall_seconds", "load_average"}`` (see the module docs for what each measures).

    Raises
    ------
    ConfigError
        An argument out of range (``dataset`` not synth50k, ``rows`` not in [100, 2·10⁷],
        ``trees`` not in [1, 1000], ``depth`` not in [1, 16], ``key_size`` not an even int in
        [1024, 8192], ``cipher`` not paillier/plain, ``bin_num`` not in [2, 1024],
        ``learning_rate`` not in (0, 1], ``reg_lambda`` negative, ``workers`` not in [1, 1024],
        ``timeout`` not positive).
    """
    checked: dict[str, Any] = {
        "dataset": dataset,
        "rows": rows,
        "trees": trees,
        "depth": depth,
        "key_size": key_size,
        "cipher": cipher,
        "bin_num": bin_num,
        "learning_rate": float(learning_rate),
        "reg_lambda": float(reg_lambda),
        "workers": workers,
        "timeout": timeout,
    }
    validate(_Args, checked, owner="the secureboost benchmark")
    n_workers = workers or max(1, (os.cpu_count() or 2) // 2)
    kwargs: dict[str, Any] = {
        "rows": rows or SYNTH_ROWS,
        "trees": trees,
        "depth": depth,
        "key_size": key_size,
        "cipher": cipher,
        "bin_num": bin_num,
        "learning_rate": float(learning_rate),
        "reg_lambda": float(reg_lambda),
        "workers": n_workers,
    }
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
    ]
    t0 = time.perf_counter()
    res = launch(specs, job_id="bench-secureboost", timeout=timeout)
    wall = time.perf_counter() - t0
    res.raise_for_failure()
    out: dict[PartyId, dict[str, Any]] = res.results()
    xgb = xgboost_reference(
        kwargs["rows"],
        trees,
        depth,
        bin_num,
        kwargs["learning_rate"],
        kwargs["reg_lambda"],
        os.cpu_count() or 1,
    )
    return _report(out, {"dataset": dataset, **kwargs}, xgb, wall)


def _report(
    out: Mapping[PartyId, Mapping[str, Any]], kwargs: Mapping[str, Any], xgb: dict[str, Any], wall: float
) -> dict[str, Any]:
    guest = out[GUEST_PARTY]
    per_tree = guest["tree_seconds"]
    phases = guest["phases"]
    mean = sum(per_tree) / len(per_tree) if per_tree else float("nan")
    parties = party_rows(out, ("fit_seconds", "cpu_seconds", "predict_seconds", "bytes_sent", "peak_rss_mib"))
    return {
        **{k: v for k, v in kwargs.items() if k != "workers"},
        "train_rows": guest["train_rows"],
        "tree_seconds": per_tree,
        "seconds_per_tree": round(mean, 3),
        "fit_seconds": round(guest["fit_seconds"], 3),
        "predict_seconds": round(guest["predict_seconds"], 3),
        "phases": phases,
        "test_auc": round(guest["test_auc"], 4),
        "bytes": sum(int(o["bytes_sent"]) for o in out.values()),
        "peak_rss_mib": {str(p): round(o["peak_rss_mib"], 1) for p, o in out.items()},
        "parties": parties,
        "xgboost": xgb,
        "machine": {
            "cpu_count": os.cpu_count(),
            "omp_num_threads": guest["omp_num_threads"],
            "workers_per_party": kwargs["workers"],
        },
        "wall_seconds": round(wall, 3),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--dataset synth50k] [--rows N] [--trees T] [--depth D] [--key-size BITS]
    [--cipher paillier|plain] [--bin-num B] [--workers W] [--json]``."""
    parser = argparse.ArgumentParser(description="Hetero SecureBoost between two processes on loopback.")
    parser.add_argument("--dataset", choices=DATASETS, default="synth50k")
    parser.add_argument("--rows", type=int, default=None, help="rows of the generated table (50,000)")
    parser.add_argument("--trees", type=int, default=5)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--key-size", type=int, default=1024, help="Paillier key bits")
    parser.add_argument("--cipher", choices=("paillier", "plain"), default="paillier")
    parser.add_argument("--bin-num", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="worker processes per party")
    return run_command_line(parser, argv, run)


if __name__ == "__main__":
    sys.exit(main())
