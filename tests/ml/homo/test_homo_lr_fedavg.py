"""Homo LR (fedloom.ml.homo.lr): FATE's breast_homo job, equality with local gradient descent, checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fedloom.core import ConfigError, DataError
from fedloom.data import Frame, frame_from_table, read_csv_table
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import HomoLRParams
from fedloom.testing import run_parties

DATA = (
    Path(
        os.environ.get(
            "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[4] / "shared" / "fate_examples")
        )
    )
    / "data"
)
FATE_CONF = {
    "penalty": "L2", "tol": 1e-05, "alpha": 0.01, "optimizer": "sgd", "batch_size": -1,
    "learning_rate": 0.15, "init_param": {"init_method": "zeros"}, "max_iter": 30, "early_stop": "diff",
    "encrypt_param": {"method": None}, "decay": 1, "decay_sqrt": True,
    "cv_param": {"n_splits": 4, "shuffle": True, "random_seed": 33, "need_cv": False},
}  # fmt: skip


def frame(name: str) -> Frame:
    if not (DATA / name).exists():
        pytest.skip("FATE example data not present")
    return frame_from_table(read_csv_table(DATA / name), with_label=True, label_name="y")


def test_fate_breast_homo_lr_learns_and_every_party_holds_the_global_model() -> None:
    g, h, test = frame("breast_homo_guest.csv"), frame("breast_homo_host.csv"), frame("breast_homo_test.csv")
    params = HomoLRParams.from_fate(FATE_CONF)
    out = run_parties(
        {
            "guest": lambda ctx: HomoLRClient(params).fit(ctx, g, test),
            "host": lambda ctx: HomoLRClient(params).fit(ctx, h),
            "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx),
        }
    )
    guest, host, arb = out["guest"], out["host"], out["arbiter"]
    assert np.array_equal(guest.weights, host.weights) and np.array_equal(guest.weights, arb.weights)
    preds = guest.predict(test)
    assert np.mean(preds.result == test.label) > 0.93
    assert guest.history[-1]["val_accuracy"] > 0.93
    losses = [r["global_loss"] for r in guest.history]
    assert losses[-1] < losses[0] and len(losses) <= 30
    assert HomoLRModel.from_dict(guest.to_dict()).to_dict() == guest.to_dict()
    assert preds.to_pandas().columns.tolist() == [
        "id",
        "label",
        "predict_result",
        "predict_score",
        "predict_detail",
    ]


def test_one_client_equals_local_gradient_descent() -> None:
    g = frame("breast_homo_guest.csv")
    params = HomoLRParams.from_fate({**FATE_CONF, "max_iter": 5, "early_stop": "diff", "tol": 0})
    out = run_parties(
        {
            "guest": lambda ctx: HomoLRClient(params).fit(ctx, g),
            "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx),
        }
    )
    # plain full-batch gradient descent with FATE's decayed learning rate and L2 penalty
    x, y = g.features, g.label.astype(float)
    w, b = np.zeros(x.shape[1]), 0.0
    for t in range(5):
        lr = 0.15 / np.sqrt(1 + t)
        r = 1 / (1 + np.exp(-(x @ w + b))) - y
        w, b = w - lr * (x.T @ r / len(y) + 0.01 * w), b - lr * r.mean()
    np.testing.assert_allclose(out["guest"].weights, w, atol=1e-6)  # fixed-point rounding: 2^-25 per round
    assert abs(out["guest"].intercept - b) < 1e-6


def test_fate_params_are_checked_by_name() -> None:
    p = HomoLRParams.from_fate({**FATE_CONF, "aggregate_iters": 4})
    assert (p.max_iter, p.local_epochs, p.early_stop, p.penalty) == (8, 4, "diff", "L2")
    with pytest.raises(ConfigError, match=r"'init_param.init_methd' parameter of HomoLR is not a known"):
        HomoLRParams.from_fate({"init_param": {"init_methd": "zeros"}})
    with pytest.raises(ConfigError, match=r"encrypt_param.method"):
        HomoLRParams.from_fate({"encrypt_param": {"method": "Paillier"}})
    with pytest.raises(ConfigError, match=r"The 'learning_rate' parameter of HomoLR must be a number > 0"):
        HomoLRParams.from_fate({"learning_rate": -1})
    with pytest.raises(ConfigError, match=r"'penalty'"):
        HomoLRParams.from_fate({"penalty": "L3"})


def test_labels_that_are_not_class_numbers_are_refused_clearly() -> None:
    # multi-class labels train one-vs-rest (test_homo_lr_ovr.py); fractional ones are refused
    g = frame("vehicle_scale_homo_guest.csv")
    assert g.label is not None
    f = Frame(g.ids, g.features, g.feature_names, g.label / 2 + 0.25, label_name="y", table="vehicle")
    params = HomoLRParams(max_iter=2)
    with pytest.raises(DataError, match=r"class labels must be integers 0\.\.255; vehicle holds \[0\.25"):
        run_parties(
            {
                "guest": lambda ctx: HomoLRClient(params).fit(ctx, f),
                "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx),
            },
            timeout=10,
        )


def test_clients_with_other_columns_are_refused() -> None:
    g, h = frame("breast_homo_guest.csv"), frame("breast_homo_host.csv")
    names = list(h.feature_names)
    h2 = h.select_features(names[1:] + names[:1])  # same columns, another order
    params = HomoLRParams(max_iter=2)
    with pytest.raises(ConfigError, match=r"feature columns differ"):
        run_parties(
            {
                "guest": lambda ctx: HomoLRClient(params).fit(ctx, g),
                "host": lambda ctx: HomoLRClient(params).fit(ctx, h2),
                "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx),
            },
            timeout=10,
        )
