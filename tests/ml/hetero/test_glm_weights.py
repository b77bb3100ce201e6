"""Sample weights in hetero LR / LinR / Poisson: the weighted Taylor gradient and loss, centrally.

With weights ``s`` the guest sends ``[s·d]``: every party's gradient is ``Xᵀ(s·d) / n_b`` and the
loss ``Σ s·ℓ / n`` (LR: ``ℓ = log 2 − ½·y·z + ⅛·z²``; LinR ``½·(z − y)²``; Poisson
``μ − y·(z + log e)``). The reference here is plain NumPy from those formulas.

Tolerances. First step at zero weights (``test_first_step_*``): features rounded to multiples of
2⁻²⁰ are exact at the protocol's 2⁻²³ encoding, the residual at zero weights is exact
(``−½·y``, ``−y``, ``1 − y``), and weights are encoded at 2⁻⁴⁰, so the one sgd step (learning
rate 1, no penalty) equals ``−gradient`` to 1e-9. Several epochs: the same 1e-6 as
``test_glm_reference`` (fixed point of the forwards and features).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, regression_data

from fedloom.core import PartyId
from fedloom.core.errors import ConfigError, DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.linr import HeteroLinRArbiter, HeteroLinRGuest, HeteroLinRHost, HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.ml.hetero.poisson import (
    HeteroPoissonArbiter,
    HeteroPoissonGuest,
    HeteroPoissonHost,
    HeteroPoissonParams,
)
from fedloom.testing import run_parties

G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
LR_ROLES = (HeteroLRGuest, HeteroLRHost, HeteroLRArbiter)
LINR_ROLES = (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter)
POISSON_ROLES = (HeteroPoissonGuest, HeteroPoissonHost, HeteroPoissonArbiter)


def params(cls: Any, **over: Any) -> Any:
    values: dict[str, Any] = {
        "penalty": "L2",
        "alpha": 0.01,
        "optimizer": "sgd",
        "learning_rate": 0.15,
        "decay": 0.5,
        "decay_sqrt": True,
        "max_iter": 3,
        "batch_size": 200,
        "shuffle": False,
        "early_stop": "diff",
        "tol": 0.0,
        "init_param": {"init_method": "zeros", "fit_intercept": True},
        "encrypt_param": {"method": "plain", "key_length": 1024},
    }
    values.update(over)
    return cls.from_dict(values)


def run(roles: tuple[Any, Any, Any], p: Any, guest: Frame, host: Frame) -> dict[PartyId, Any]:
    g_cls, h_cls, a_cls = roles
    return run_parties(
        {
            G: lambda c: g_cls(p).fit(c, guest),
            H: lambda c: h_cls(p).fit(c, host),
            A: lambda c: a_cls(p).fit(c),
        },
        timeout=120,
    )


def joined(out: dict[PartyId, Any]) -> np.ndarray:
    return np.concatenate([out[G].coef[0], [out[G].intercept[0]], out[H].coef[0]])


def residual_and_loss(kind: str, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if kind == "lr":
        return 0.25 * z - 0.5 * y, math.log(2.0) - 0.5 * y * z + 0.125 * z * z
    if kind == "linr":
        return z - y, 0.5 * (z - y) ** 2
    mu = np.exp(z)
    return mu - y, mu - y * z


def reference(
    kind: str, xg: np.ndarray, xh: np.ndarray, y: np.ndarray, s: np.ndarray, epochs: int, batch: int
) -> tuple[np.ndarray, list[float]]:
    """Weighted mini-batch sgd on the joined data ``[x_g, 1, x_h]`` (rows in order)."""
    lr0, alpha, decay = 0.15, 0.01, 0.5
    n, mg = xg.shape
    x = np.hstack([xg, np.ones((n, 1)), xh])
    pen = np.ones(x.shape[1])
    pen[mg] = 0.0
    w = np.zeros(x.shape[1])
    losses = []
    for epoch in range(epochs):
        lr = lr0 / math.sqrt(1.0 + decay * epoch)
        total = 0.0
        for start in range(0, n, batch):
            xb, yb, sb = x[start : start + batch], y[start : start + batch], s[start : start + batch]
            d, loss = residual_and_loss(kind, xb @ w, yb)
            total += float(np.dot(sb, loss)) + len(yb) * 0.5 * alpha * float(np.sum((w * pen) ** 2))
            w = w - lr * (xb.T @ (sb * d) / len(yb) + alpha * w * pen)
        losses.append(total / n)
    return w, losses


def dyadic(frame: Frame) -> Frame:
    """The frame with features rounded to multiples of 2⁻²⁰ (exact in the 2⁻²³ encoding)."""
    feats = np.round(frame.features * 2.0**20) / 2.0**20
    return Frame(frame.ids, feats, frame.feature_names, frame.label, table=frame.table)


def test_frame_keeps_weights_through_selection() -> None:
    # Prepare
    guest, _ = breast()
    s = np.arange(guest.n_rows, dtype=float)
    weighted = guest.with_weights(s)
    # Execute
    picked = weighted.select(weighted.ids[[5, 2, 9]])
    cols = picked.select_features(list(picked.feature_names[:2]))
    # Assert
    assert guest.weights is None
    np.testing.assert_array_equal(cols.weights, [5.0, 2.0, 9.0])
    with pytest.raises(DataError, match="finite and >= 0"):
        guest.with_weights(-s)


@pytest.mark.parametrize("kind", ["lr", "linr", "poisson"])
def test_first_step_equals_the_weighted_gradient(kind: str) -> None:
    # Prepare: one full batch, sgd with learning rate 1, no penalty, zero initial weights
    rng = np.random.default_rng(7)
    if kind == "lr":
        guest, host = breast()
        y = np.where(guest.label == 1, 1.0, -1.0)
        cls, roles = HeteroLRParams, LR_ROLES
    else:
        guest, hosts, _ = regression_data(kind, n=300)
        host = hosts[0]
        if kind == "poisson":
            guest = guest.select_features([f for f in guest.feature_names if f != "exposure"])
        assert guest.label is not None
        y = guest.label.astype(float)
        cls, roles = (
            (HeteroLinRParams, LINR_ROLES) if kind == "linr" else (HeteroPoissonParams, POISSON_ROLES)
        )
    guest, host = dyadic(guest), dyadic(host)
    s = rng.uniform(0.1, 3.0, size=guest.n_rows)
    p = params(cls, penalty=None, alpha=0.0, learning_rate=1.0, decay=0.0, max_iter=1, batch_size=-1)
    # Execute
    out = run(roles, p, guest.with_weights(s), host)
    # Assert
    x = np.hstack([guest.features, np.ones((guest.n_rows, 1)), host.features])
    d, loss = residual_and_loss(kind, np.zeros(guest.n_rows), y)
    gradient = x.T @ (s * d) / guest.n_rows
    np.testing.assert_allclose(joined(out), -gradient, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out[A].loss_history[0][0], float(np.dot(s, loss)) / guest.n_rows, atol=1e-9)


@pytest.mark.parametrize(
    ("kind", "roles", "cls"), [("lr", LR_ROLES, HeteroLRParams), ("linr", LINR_ROLES, HeteroLinRParams)]
)
def test_weighted_training_equals_the_weighted_reference(kind: str, roles: Any, cls: Any) -> None:
    # Prepare
    if kind == "lr":
        guest, host = breast()
        y = np.where(guest.label == 1, 1.0, -1.0)
    else:
        guest, hosts, _ = regression_data("linr", n=500)
        host = hosts[0]
        assert guest.label is not None
        y = guest.label.astype(float)
    s = np.random.default_rng(3).uniform(0.2, 2.5, size=guest.n_rows)
    # Execute
    out = run(roles, params(cls), guest.with_weights(s), host)
    w, losses = reference(kind, guest.features, host.features, y, s, epochs=3, batch=200)
    unweighted, _ = reference(kind, guest.features, host.features, y, np.ones_like(s), epochs=3, batch=200)
    # Assert
    np.testing.assert_allclose(joined(out), w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
    assert np.abs(w - unweighted).max() > 1e-3  # the weights changed the model


def test_unit_weights_equal_no_weights() -> None:
    # Prepare
    guest, host = breast()
    p = params(HeteroLRParams, max_iter=2)
    # Execute
    plain = run(LR_ROLES, p, guest, host)
    ones = run(LR_ROLES, p, guest.with_weights(np.ones(guest.n_rows)), host)
    # Assert
    np.testing.assert_allclose(joined(ones), joined(plain), rtol=0, atol=1e-9)
    # the weighted loss is assembled as Σ [s·d]·(u_h + g) (host forwards encoded at 2⁻²³ in the dot)
    # where the unweighted one uses Σ u_h² + 2Σ d·g − Σ g²: equal up to that fixed point
    np.testing.assert_allclose(ones[A].loss_history[0], plain[A].loss_history[0], rtol=0, atol=1e-7)


def test_zero_weights_do_not_count_towards_the_batch_size() -> None:
    # Prepare: all but 15 rows weigh 0, so the host's gradient (20 weights) would pin their residuals
    guest, host = breast()
    s = np.zeros(guest.n_rows)
    s[:15] = 1.0
    p = params(HeteroLRParams, max_iter=1, batch_size=-1)
    # Execute / Assert
    with pytest.raises(ConfigError, match="non-zero sample weight"):
        run(LR_ROLES, p, guest.with_weights(s), host)
