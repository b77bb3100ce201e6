"""``batch_strategy: random`` (FATE 1.x): one batch of ``batch_size`` distinct rows per epoch.

The guest draws epoch ``e`` of model ``k`` from ``numpy.random.default_rng([seed, k, e])``
(``seed`` = ``init_param.random_seed``) and sends the rows to the hosts (``EPOCH_PLAN``); the
reference below draws the same rows and runs textbook sgd on the joined data (tolerance 1e-6 as
in ``test_glm_reference``: fixed point only).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast

from fedloom.core import PartyId
from fedloom.core.errors import ConfigError, MessageError
from fedloom.ml.hetero.glm.batch import BatchPlan, check_batch_sizes, random_batch_seed
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.testing import run_parties

G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
SEED, BATCH, EPOCHS = 11, 150, 4


def params(**over: Any) -> HeteroLRParams:
    values: dict[str, Any] = {
        "penalty": "L2",
        "alpha": 0.01,
        "optimizer": "sgd",
        "learning_rate": 0.15,
        "decay": 0.5,
        "max_iter": EPOCHS,
        "batch_size": BATCH,
        "batch_strategy": "random",
        "masked_rate": 5,
        "early_stop": "diff",
        "tol": 0.0,
        "init_param": {"init_method": "zeros", "fit_intercept": True, "random_seed": SEED},
        "encrypt_param": {"method": "plain", "key_length": 1024},
    }
    values.update(over)
    return HeteroLRParams.from_dict(values)


def test_random_batches_equal_sgd_on_the_same_draws() -> None:
    # Prepare
    guest, host = breast()
    y = np.where(guest.label == 1, 1.0, -1.0)
    p = params()
    # Execute
    out = run_parties(
        {
            G: lambda c: HeteroLRGuest(p).fit(c, guest),
            H: lambda c: HeteroLRHost(p).fit(c, host),
            A: lambda c: HeteroLRArbiter(p).fit(c),
        },
        timeout=120,
    )
    # Assert: the reference, from the documented draws
    n, mg = guest.features.shape
    x = np.hstack([guest.features, np.ones((n, 1)), host.features])
    pen = np.ones(x.shape[1])
    pen[mg] = 0.0
    w, losses, drawn = np.zeros(x.shape[1]), [], []
    for e in range(EPOCHS):
        rows = np.sort(np.random.default_rng([SEED, 0, e]).choice(n, size=BATCH, replace=False))
        drawn.append(rows)
        xb, yb = x[rows], y[rows]
        z = xb @ w
        loss = np.log(2.0) - 0.5 * yb * z + 0.125 * z * z
        losses.append((float(loss.sum()) + BATCH * 0.5 * 0.01 * float(np.sum((w * pen) ** 2))) / BATCH)
        w = w - 0.15 / math.sqrt(1.0 + 0.5 * e) * (xb.T @ (0.25 * z - 0.5 * yb) / BATCH + 0.01 * w * pen)
    fitted = np.concatenate([out[G].coef[0], [out[G].intercept[0]], out[H].coef[0]])
    np.testing.assert_allclose(fitted, w, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
    assert not np.array_equal(drawn[0], drawn[1])  # a new batch every epoch


def test_random_falls_back_to_full_when_the_batch_covers_every_row() -> None:
    assert random_batch_seed(params(batch_size=-1), 569) is None
    assert random_batch_seed(params(batch_size=569), 569) is None
    assert random_batch_seed(params(batch_strategy="full"), 569) is None
    assert random_batch_seed(params(), 569) == SEED


def test_epoch_plan_is_checked_on_receipt() -> None:
    # Prepare
    plan = BatchPlan.sample(100, 30, np.random.default_rng(0))
    # Execute / Assert: a sample is accepted only as a sample, with distinct rows in range
    assert BatchPlan.from_wire(plan.order, plan.offsets, 100, "guest:9999", sample=True).sizes == [30]
    with pytest.raises(MessageError, match="batch plan"):
        BatchPlan.from_wire(plan.order, plan.offsets, 100, "guest:9999")
    dup = plan.order.copy()
    dup[1] = dup[0]
    with pytest.raises(MessageError, match="batch plan"):
        BatchPlan.from_wire(dup, plan.offsets, 100, "guest:9999", sample=True)
    with pytest.raises(MessageError, match="batch plan"):
        BatchPlan.from_wire(plan.order + 100, plan.offsets, 100, "guest:9999", sample=True)
    # the small-batch rule holds for a random batch as for any other
    with pytest.raises(ConfigError, match="batch_size"):
        check_batch_sizes(
            BatchPlan.sample(100, 5, np.random.default_rng(0)), {"host": 20}, False, "host", "HeteroLR"
        )


def test_fate_spellings_are_accepted() -> None:
    p = params(batch_strategy="RANDOM", shuffle=False, masked_rate=0)
    assert p.batch_strategy == "random"
