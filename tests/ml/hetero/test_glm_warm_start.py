"""Warm start of the hetero GLMs: k epochs, then up to k + m from the stored model, equal k + m epochs.

Tolerance: 1e-9 with the ``plain`` cipher. Both runs perform the same fixed-point integer steps
(the masks are removed exactly), and the stored model goes through JSON (``to_dict`` →
``json`` → ``from_dict``), whose floats round-trip exactly; so the weights agree to the last bit
in practice, and 1e-9 only leaves room for a platform's float formatting.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, regression_data

from fedloom.core import PartyId
from fedloom.core.errors import ConfigError, DataError, PartyFailedError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.linr import HeteroLinRArbiter, HeteroLinRGuest, HeteroLinRHost, HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.ml.hetero.poisson import (
    HeteroPoissonArbiter,
    HeteroPoissonGuest,
    HeteroPoissonHost,
    HeteroPoissonParams,
)
from fedloom.testing import run_parties

G = PartyId.parse("guest:9999")
H = PartyId.parse("host:10000")
A = PartyId.parse("arbiter:10000")
KINDS: dict[str, tuple[Any, Any, Any, Any]] = {
    "lr": (HeteroLRParams, HeteroLRGuest, HeteroLRHost, HeteroLRArbiter),
    "linr": (HeteroLinRParams, HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter),
    "poisson": (HeteroPoissonParams, HeteroPoissonGuest, HeteroPoissonHost, HeteroPoissonArbiter),
}


def params(kind: str, max_iter: int, **kw: Any) -> GLMParams:
    conf: dict[str, Any] = {
        "penalty": "L2",
        "alpha": 0.01,
        "optimizer": "adam",
        "learning_rate": 0.05 if kind == "poisson" else 0.15,
        "decay": 0.3,
        "max_iter": max_iter,
        "early_stop": "diff",
        "tol": 1e-12,
        "batch_size": 100,
        "init_param": {"init_method": "random_uniform", "random_seed": 3},
        "encrypt_param": {"method": "plain", "key_length": 1024},
    }
    if kind == "poisson":
        conf["exposure_colname"] = "exposure"
    conf.update(kw)
    return KINDS[kind][0].from_dict(conf)


def data(kind: str) -> tuple[Frame, Frame]:
    if kind == "lr":
        guest, host = breast()
        return guest.take(np.arange(300)), host.take(np.arange(300))
    guest, hosts, _ = regression_data(kind, n=240)
    return guest, hosts[0]


def stored(model: GLMModel) -> dict[str, Any]:
    """The model as a job stores it and reads it back (JSON)."""
    return json.loads(json.dumps(model.to_dict()))


def run(
    kind: str, p: GLMParams, guest: Frame, host: Frame, init: dict[PartyId, Any] | None = None
) -> dict[PartyId, GLMModel]:
    _, g_cls, h_cls, a_cls = KINDS[kind]
    start = init or {}
    return run_parties(
        {
            G: lambda c: g_cls(p).fit(c, guest, None, init=start.get(G)),
            H: lambda c: h_cls(p).fit(c, host, None, init=start.get(H)),
            A: lambda c: a_cls(p).fit(c, init=start.get(A)),
        },
        timeout=60,
    )


@pytest.mark.parametrize("kind", ["lr", "linr", "poisson"])
def test_warm_start_k_then_m_equals_k_plus_m(kind: str) -> None:
    # Prepare
    guest, host = data(kind)
    # Execute: 2 epochs, then up to 5 from the stored models; and 5 from scratch
    first = run(kind, params(kind, 2), guest, host)
    warm = run(kind, params(kind, 5), guest, host, {r: stored(m) for r, m in first.items()})
    full = run(kind, params(kind, 5), guest, host)
    # Assert
    for role in (G, H):
        np.testing.assert_allclose(warm[role].coef, full[role].coef, rtol=0, atol=1e-9)
        np.testing.assert_allclose(warm[role].intercept, full[role].intercept, rtol=0, atol=1e-9)
        for a, b in zip(warm[role].optimizer_state, full[role].optimizer_state, strict=True):
            for key in ("m", "v"):
                np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=0, atol=1e-9)
            assert a["beta1_power"] == pytest.approx(b["beta1_power"], abs=1e-15)
        assert warm[role].n_iter == full[role].n_iter == [5]
        assert len(warm[role].epoch_seconds[0]) == 5
    np.testing.assert_allclose(warm[A].loss_history, full[A].loss_history, rtol=0, atol=1e-9)
    assert warm[A].n_iter == [5]
    # it continued (the first run's epoch timings are kept as they were), it did not start over
    assert warm[G].epoch_seconds[0][:2] == first[G].epoch_seconds[0]
    assert warm[H].epoch_seconds[0][:2] == first[H].epoch_seconds[0]


def test_warm_start_uses_the_stored_optimizer_state_and_epoch() -> None:
    # Prepare: the same 2-epoch models, once without their adam moments, once with epoch 0
    guest, host = data("lr")
    first = run("lr", params("lr", 2), guest, host)
    full = run("lr", params("lr", 5), guest, host)
    no_state = {r: stored(m) for r, m in first.items()}
    for role in (G, H):
        no_state[role]["optimizer_state"] = []
    # Execute
    warm = run("lr", params("lr", 5), guest, host, no_state)
    # Assert: fresh moments give another model (so the exact equality above needs the state)
    assert np.max(np.abs(np.subtract(warm[G].coef, full[G].coef))) > 1e-6
    assert warm[G].n_iter == [5]


def test_one_vs_rest_warm_start_continues_every_class() -> None:
    # Prepare: three classes from the first guest feature's terciles
    guest, host = data("lr")
    cls = np.digitize(guest.features[:, 0], np.quantile(guest.features[:, 0], [1 / 3, 2 / 3]))
    g3 = Frame(guest.ids, guest.features[:, 1:], guest.feature_names[1:], label=cls)
    # Execute
    first = run("lr", params("lr", 1), g3, host)
    warm = run("lr", params("lr", 3), g3, host, {r: stored(m) for r, m in first.items()})
    full = run("lr", params("lr", 3), g3, host)
    # Assert
    assert len(warm[G].coef) == 3 and warm[G].n_iter == [3, 3, 3]
    for role in (G, H):
        np.testing.assert_allclose(warm[role].coef, full[role].coef, rtol=0, atol=1e-9)
    np.testing.assert_allclose(warm[A].loss_history, full[A].loss_history, rtol=0, atol=1e-9)


def test_warm_start_from_a_finished_model_runs_no_epoch() -> None:
    # Prepare
    guest, host = data("lr")
    first = run("lr", params("lr", 2), guest, host)
    # Execute: max_iter already reached
    again = run("lr", params("lr", 2), guest, host, {r: stored(m) for r, m in first.items()})
    # Assert
    assert again[G].coef == first[G].coef and again[H].coef == first[H].coef
    assert again[A].loss_history == first[A].loss_history


def test_warm_start_refuses_a_model_of_other_features() -> None:
    # Prepare
    guest, host = data("lr")
    first = run("lr", params("lr", 1), guest, host)
    bad = stored(first[G])
    bad["feature_names"] = [f"other_{i}" for i in range(len(bad["feature_names"]))]
    # Execute / Assert
    with pytest.raises((DataError, PartyFailedError), match="features"):
        run("lr", params("lr", 2), guest, host, {G: bad, H: stored(first[H]), A: stored(first[A])})


def test_warm_start_refuses_another_optimizer() -> None:
    # Prepare
    guest, host = data("lr")
    first = run("lr", params("lr", 1), guest, host)
    init = {r: stored(m) for r, m in first.items()}
    # Execute / Assert
    with pytest.raises((ConfigError, PartyFailedError), match="optimizer"):
        run("lr", params("lr", 2, optimizer="rmsprop"), guest, host, init)


def test_models_stored_before_warm_start_still_load() -> None:
    # A model.json written before optimizer_state existed: loads, continues with fresh moments
    d = GLMModel(role="host", feature_names=["a"], coef=[[0.5]], intercept=[0.0], n_iter=[2]).to_dict()
    del d["optimizer_state"]
    model = GLMModel.from_dict(d)
    assert model.state_of(0) == {} and model.epochs_of(0) == 2
