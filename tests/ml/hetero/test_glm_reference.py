"""Hetero LR / LinR with the ``plain`` cipher against a reference written here from the maths alone.

The reference shares no code with the product: not its batch plan, not its optimiser, not its
initialisation. It cuts the rows in order into batches (``shuffle: false``), runs one joined
weight vector ``[w_g, b, w_h...]`` and implements sgd and adam as textbook formulas with
FATE's learning-rate decay ``lr_t = lr / sqrt(1 + decay·t)`` (``t`` the epoch), the L2 penalty
``½·alpha·‖w‖²`` (intercept excluded) in the gradient and in the loss.

Tolerance 1e-6: the protocol's only deviation is fixed point (forwards and ``[d]`` at 2^-32,
features in ``[d]ᵀx`` at 2^-23, so each gradient entry is off by ≲ 2^-24·mean|d| ≈ 1e-8); sgd
passes that on scaled by the learning rate. Adam normalises the step by ``sqrt(v̂)``, which
turns a gradient error ε into a step error ≈ lr·ε/|g|: the data here keep |g| ≳ 1e-2, so that
stays ≲ 1e-7 per step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, regression_data

from fedloom.core import PartyId
from fedloom.ml.hetero.linr import HeteroLinRArbiter, HeteroLinRGuest, HeteroLinRHost, HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.testing import run_parties

G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
LR, ALPHA, DECAY, EPOCHS, BATCH = 0.15, 0.01, 0.5, 4, 200


def reference(
    kind: str, xg: np.ndarray, xh: np.ndarray, y: np.ndarray, optimizer: str
) -> tuple[np.ndarray, list[float]]:
    """Mini-batch descent on the joined data; returns ``[w_g, b, w_h]`` and the loss per epoch.

    ``y`` is ±1 for LR (Taylor loss ``log 2 − ½·y·z + ⅛·z²``, residual ``¼·z − ½·y``), the target
    for LinR (loss ``½·(z − y)²``, residual ``z − y``).
    """
    n, mg = xg.shape
    x = np.hstack([xg, np.ones((n, 1)), xh])
    penalised = np.ones(x.shape[1])
    penalised[mg] = 0.0  # the intercept
    w = np.zeros(x.shape[1])
    m1, m2, steps = np.zeros_like(w), np.zeros_like(w), 0
    losses = []
    for epoch in range(EPOCHS):
        lr = LR / math.sqrt(1.0 + DECAY * epoch)
        total = 0.0
        for start in range(0, n, BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            z = xb @ w
            if kind == "lr":
                residual, loss = 0.25 * z - 0.5 * yb, math.log(2.0) - 0.5 * yb * z + 0.125 * z * z
            else:
                residual, loss = z - yb, 0.5 * (z - yb) ** 2
            total += float(loss.sum()) + len(yb) * 0.5 * ALPHA * float(np.sum((w * penalised) ** 2))
            g = xb.T @ residual / len(yb) + ALPHA * w * penalised
            if optimizer == "sgd":
                w = w - lr * g
            else:  # adam (Kingma & Ba), bias-corrected moments
                steps += 1
                m1 = 0.9 * m1 + 0.1 * g
                m2 = 0.999 * m2 + 0.001 * g * g
                w = w - lr * (m1 / (1 - 0.9**steps)) / (np.sqrt(m2 / (1 - 0.999**steps)) + 1e-8)
        losses.append(total / n)
    return w, losses


def params(cls: Any, optimizer: str) -> Any:
    return cls.from_dict(
        {
            "penalty": "L2",
            "alpha": ALPHA,
            "optimizer": optimizer,
            "learning_rate": LR,
            "decay": DECAY,
            "decay_sqrt": True,
            "max_iter": EPOCHS,
            "batch_size": BATCH,
            "shuffle": False,
            "early_stop": "diff",
            "tol": 0.0,
            "init_param": {"init_method": "zeros", "fit_intercept": True},
            "encrypt_param": {"method": "plain", "key_length": 1024},
        }
    )


def run(roles: tuple[Any, Any, Any], p: Any, guest: Any, host: Any) -> dict[PartyId, Any]:
    g_cls, h_cls, a_cls = roles
    return run_parties(
        {
            G: lambda c: g_cls(p).fit(c, guest),
            H: lambda c: h_cls(p).fit(c, host),
            A: lambda c: a_cls(p).fit(c),
        },
        timeout=60,
    )


def joined(out: dict[PartyId, Any]) -> np.ndarray:
    return np.concatenate([out[G].coef[0], [out[G].intercept[0]], out[H].coef[0]])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_plain_lr_equals_an_independent_numpy_reference(optimizer: str) -> None:
    # Prepare
    guest, host = breast()
    y = np.where(guest.label == 1, 1.0, -1.0)
    # Execute
    out = run((HeteroLRGuest, HeteroLRHost, HeteroLRArbiter), params(HeteroLRParams, optimizer), guest, host)
    w, losses = reference("lr", guest.features, host.features, y, optimizer)
    # Assert
    np.testing.assert_allclose(joined(out), w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
    assert np.abs(w).max() > 0.05  # the weights moved: the comparison is not between zeros


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_plain_linr_equals_an_independent_numpy_reference(optimizer: str) -> None:
    guest, hosts, _ = regression_data("linr", n=500)
    assert guest.label is not None
    roles = (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter)
    out = run(roles, params(HeteroLinRParams, optimizer), guest, hosts[0])
    w, losses = reference("linr", guest.features, hosts[0].features, guest.label.astype(float), optimizer)
    np.testing.assert_allclose(joined(out), w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
