"""HomoLR warm start: a stored model (weights, optimiser state, round count, the arbiter's
early-stop state) continues training; k rounds then m more equal k + m rounds from scratch,
binary and one-vs-rest, with and without secure aggregation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fedloom.core.errors import ConfigError
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
CONF: dict[str, object] = {
    "penalty": "L2", "tol": 1e-12, "alpha": 0.01, "optimizer": "sgd", "batch_size": -1,
    "learning_rate": 0.15, "init_param": {"init_method": "zeros"}, "early_stop": "diff",
    "decay": 1, "decay_sqrt": True,
}  # fmt: skip
ROLES = ("guest", "host", "arbiter")
Models = dict[str, HomoLRModel]


def frame(name: str) -> Frame:
    if not (DATA / name).exists():
        pytest.skip("FATE example data not present")
    return frame_from_table(read_csv_table(DATA / name), with_label=True, label_name="y")


@pytest.fixture(scope="module")
def breast() -> tuple[Frame, Frame]:
    return frame("breast_homo_guest.csv"), frame("breast_homo_host.csv")


@pytest.fixture(scope="module")
def vehicle() -> tuple[Frame, Frame]:
    return frame("vehicle_scale_homo_guest.csv"), frame("vehicle_scale_homo_host.csv")


def stored(models: Models) -> Models:
    """The models as a job stores them (JSON) and the next job loads them."""
    return {r: HomoLRModel.from_dict(json.loads(json.dumps(m.to_dict()))) for r, m in models.items()}


def fit_all(conf: dict[str, object], data: tuple[Frame, Frame], init: Models | None = None) -> Models:
    params = HomoLRParams.from_dict(conf)
    start = stored(init) if init is not None else {r: None for r in ROLES}
    out = run_parties(
        {
            "guest": lambda ctx: HomoLRClient(params).fit(ctx, data[0], init=start["guest"]),
            "host": lambda ctx: HomoLRClient(params).fit(ctx, data[1], init=start["host"]),
            "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx, init=start["arbiter"]),
        }
    )
    return {r: out[r] for r in ROLES}


def binaries(m: HomoLRModel) -> list[HomoLRModel]:
    return m.per_class if m.per_class else [m]


def assert_same(warm: Models, scratch: Models) -> None:
    for role in ROLES:
        assert warm[role].classes == scratch[role].classes
        assert warm[role].converged == scratch[role].converged
        for a, b in zip(binaries(warm[role]), binaries(scratch[role]), strict=True):
            np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)
            assert a.intercept == pytest.approx(b.intercept, abs=1e-12)
            assert len(a.history) == len(b.history)
            key = "loss" if role == "arbiter" else "global_loss"
            np.testing.assert_allclose([h[key] for h in a.history], [h[key] for h in b.history], atol=1e-12)
            assert a.converged == b.converged
            assert a.state.keys() == b.state.keys()
            for k in a.state:
                x, y = a.state[k], b.state[k]
                if isinstance(x, list) and isinstance(y, list):
                    np.testing.assert_allclose(np.asarray(x, dtype=np.float64), y, rtol=0, atol=1e-12)
                else:
                    assert x == y


@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize(
    ("optimizer", "batch_size"), [("sgd", -1), ("adam", 64), ("nesterov_momentum_sgd", 100), ("rmsprop", -1)]
)
def test_k_rounds_then_m_more_equal_k_plus_m_rounds_binary(
    breast: tuple[Frame, Frame], secure: bool, optimizer: str, batch_size: int
) -> None:
    conf = {**CONF, "optimizer": optimizer, "batch_size": batch_size, "secure_aggregate": secure}

    first = fit_all({**conf, "max_iter": 3}, breast)
    warm = fit_all({**conf, "max_iter": 7}, breast, init=first)
    scratch = fit_all({**conf, "max_iter": 7}, breast)

    assert len(first["guest"].history) == 3 and len(warm["guest"].history) == 7
    assert not scratch["arbiter"].converged
    assert_same(warm, scratch)


@pytest.mark.parametrize("secure", [True, False])
def test_k_rounds_then_m_more_equal_k_plus_m_rounds_one_vs_rest(
    vehicle: tuple[Frame, Frame], secure: bool
) -> None:
    conf = {**CONF, "optimizer": "adam", "batch_size": 128, "secure_aggregate": secure}

    first = fit_all({**conf, "max_iter": 2}, vehicle)
    warm = fit_all({**conf, "max_iter": 5}, vehicle, init=first)
    scratch = fit_all({**conf, "max_iter": 5}, vehicle)

    assert warm["guest"].classes == [0, 1, 2, 3]
    assert all(len(m.history) == 5 for m in warm["guest"].per_class)
    assert_same(warm, scratch)


def test_the_early_stop_rule_continues_from_the_stored_loss_history(breast: tuple[Frame, Frame]) -> None:
    # Prepare: a tol at which the uninterrupted run stops early, after the first job's rounds
    conf = {**CONF, "max_iter": 30}
    losses = [h["loss"] for h in fit_all({**conf, "tol": 0.0}, breast)["arbiter"].history]
    diffs = np.abs(np.diff(losses))
    tol = float((diffs[5] + diffs[6]) / 2)  # fires at round 7 (the first diff below it), not before
    assert np.all(diffs[:6] > tol)
    scratch = fit_all({**conf, "tol": tol}, breast)
    assert scratch["arbiter"].converged and len(scratch["arbiter"].history) == 8

    first = fit_all({**conf, "tol": tol, "max_iter": 4}, breast)
    warm = fit_all({**conf, "tol": tol}, breast, init=first)

    assert_same(warm, scratch)
    # a converged model runs no more rounds
    again = fit_all({**conf, "tol": tol, "max_iter": 40}, breast, init=warm)
    assert_same(again, scratch)


def test_a_stored_model_at_max_iter_runs_no_more_rounds(breast: tuple[Frame, Frame]) -> None:
    first = fit_all({**CONF, "max_iter": 3}, breast)

    again = fit_all({**CONF, "max_iter": 3}, breast, init=first)

    assert_same(again, first)


def test_other_classes_than_the_stored_ones_are_refused_naming_the_model_input(
    breast: tuple[Frame, Frame], vehicle: tuple[Frame, Frame]
) -> None:
    binary = fit_all({**CONF, "max_iter": 1}, breast)
    guest, host = vehicle
    three = (
        guest.take(np.flatnonzero(np.asarray(guest.label) != 3)),
        host.take(np.flatnonzero(np.asarray(host.label) != 3)),
    )
    ovr3 = fit_all({**CONF, "max_iter": 1}, three)

    with pytest.raises(ConfigError, match="classes") as binary_on_ovr:
        fit_all({**CONF, "max_iter": 2}, vehicle, init=binary)
    with pytest.raises(ConfigError, match="classes") as ovr_on_other:
        fit_all({**CONF, "max_iter": 2}, vehicle, init=ovr3)

    assert binary_on_ovr.value.field == ovr_on_other.value.field == "input.model"


def test_a_model_stored_without_optimiser_state_is_refused_naming_the_model_input(
    breast: tuple[Frame, Frame],
) -> None:
    first = fit_all({**CONF, "max_iter": 1}, breast)
    for m in first.values():
        m.state = {}  # as fedloom stored models before HomoLR warm-started
    assert all("state" not in m.to_dict() for m in first.values())

    with pytest.raises(ConfigError, match="optimiser state") as err:
        fit_all({**CONF, "max_iter": 2}, breast, init=first)

    assert err.value.field == "input.model"
