"""``optimizer: sqn`` (hetero LR / LinR) against a centralised stochastic quasi-Newton written here.

The reference runs Byrd et al.'s SQN on the joined weights ``[w_g, b, w_h...]``: mini-batches in
order (``shuffle: false``), the L2-penalised Taylor gradient, after every ``L`` steps the average
of the weights since the last average, from the second average on the pair
``s = w̄_t − w̄_{t−1}``, ``y = c·X_Sᵀ X_S s/|S| + alpha·s`` (``c = ¼`` LR, 1 LinR; ``S`` drawn with
``default_rng([seed, k, t])``, the documented rule), at most ``M`` pairs, and the textbook
two-loop recursion with ``γ = sᵀy/yᵀy`` of the newest pair. No code is shared with the product.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, regression_data

from fedloom.core import ConfigError, PartyId
from fedloom.core.errors import MessageError
from fedloom.ml.hetero.glm import sqn
from fedloom.ml.hetero.linr import HeteroLinRArbiter, HeteroLinRGuest, HeteroLinRHost, HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.testing import run_parties

G, A = PartyId.parse("guest:9999"), PartyId.parse("arbiter:10000")
H1, H2 = PartyId.parse("host:10000"), PartyId.parse("host:10001")
LR, ALPHA, DECAY, EPOCHS, BATCH = 0.1, 0.01, 0.5, 4, 100
L, M, SAMPLE, SEED = 2, 3, 120, 7
FATE = Path("/work/shared/fate_examples/dsl_v2/hetero_logistic_regression")


def reference(
    kind: str, xg: np.ndarray, xhs: list[np.ndarray], y: np.ndarray, quasi_newton: bool = True
) -> np.ndarray:
    """The joined weights after SQN (``quasi_newton=False``: plain SGD, to show the pairs matter)."""
    n, mg = xg.shape
    x = np.hstack([xg, np.ones((n, 1)), *xhs])
    pen = np.ones(x.shape[1])
    pen[mg] = 0.0
    c = 0.25 if kind == "lr" else 1.0
    w = np.zeros(x.shape[1])
    k, t, acc, prev = 0, 0, np.zeros_like(w), np.zeros_like(w)
    ss: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for epoch in range(EPOCHS):
        lr = LR / math.sqrt(1.0 + DECAY * epoch)
        for start in range(0, n, BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            z = xb @ w
            residual = 0.25 * z - 0.5 * yb if kind == "lr" else z - yb
            g = xb.T @ residual / len(yb) + ALPHA * w * pen
            if ss and quasi_newton:  # two-loop recursion
                q, alphas = g.copy(), [0.0] * len(ss)
                for i in reversed(range(len(ss))):
                    alphas[i] = (ss[i] @ q) / (ss[i] @ ys[i])
                    q = q - alphas[i] * ys[i]
                r = q * (ss[-1] @ ys[-1]) / (ys[-1] @ ys[-1])
                for i in range(len(ss)):
                    beta = (ys[i] @ r) / (ss[i] @ ys[i])
                    r = r + ss[i] * (alphas[i] - beta)
                g = r
            w = w - lr * g
            k += 1
            acc = acc + w
            if k % L == 0:
                t += 1
                bar, acc = acc / L, np.zeros_like(w)
                if t >= 2:
                    rows = np.sort(
                        np.random.default_rng([SEED, k, t]).choice(n, size=min(SAMPLE, n), replace=False)
                    )
                    s = bar - prev
                    xs = x[rows]
                    ss.append(s)
                    ys.append(c * xs.T @ (xs @ s) / len(rows) + ALPHA * s * pen)
                    ss, ys = ss[-M:], ys[-M:]
                prev = bar
    return w


def params(cls: Any, method: str = "plain", **extra: Any) -> Any:
    conf = {
        "penalty": "L2",
        "alpha": ALPHA,
        "optimizer": "sqn",
        "learning_rate": LR,
        "decay": DECAY,
        "decay_sqrt": True,
        "max_iter": EPOCHS,
        "batch_size": BATCH,
        "shuffle": False,
        "early_stop": "diff",
        "tol": 0.0,
        "init_param": {"init_method": "zeros", "fit_intercept": True},
        "encrypt_param": {"method": method, "key_length": 1024},
        "sqn_param": {"update_interval_L": L, "memory_M": M, "sample_size": SAMPLE, "random_seed": SEED},
    }
    conf.update(extra)
    return cls.from_dict(conf)


def run(roles: tuple[Any, Any, Any], p: Any, guest: Any, hosts: list[Any]) -> dict[PartyId, Any]:
    g_cls, h_cls, a_cls = roles
    fns: dict[PartyId, Any] = {G: lambda c: g_cls(p).fit(c, guest), A: lambda c: a_cls(p).fit(c)}
    for pid, frame in zip((H1, H2), hosts, strict=False):
        fns[pid] = lambda c, f=frame: h_cls(p).fit(c, f)
    return run_parties(fns, timeout=120)


def joined(out: dict[PartyId, Any], n_hosts: int) -> np.ndarray:
    hosts = [out[h].coef[0] for h in (H1, H2)[:n_hosts]]
    return np.concatenate([out[G].coef[0], [out[G].intercept[0]], *hosts])


def test_plain_lr_sqn_equals_a_centralised_numpy_sqn() -> None:
    guest, host = breast()
    y = np.where(guest.label == 1, 1.0, -1.0)
    out = run((HeteroLRGuest, HeteroLRHost, HeteroLRArbiter), params(HeteroLRParams), guest, [host])
    w = reference("lr", guest.features, [host.features], y)
    np.testing.assert_allclose(joined(out, 1), w, rtol=0, atol=1e-6)
    assert np.abs(w).max() > 0.05
    assert np.abs(w - reference("lr", guest.features, [host.features], y, False)).max() > 1e-3


def test_plain_linr_sqn_with_two_hosts_equals_a_centralised_numpy_sqn() -> None:
    guest, hosts, _ = regression_data("linr", n=400, m_h=(4, 3))
    assert guest.label is not None
    roles = (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter)
    out = run(roles, params(HeteroLinRParams), guest, hosts)
    w = reference("linr", guest.features, [h.features for h in hosts], guest.label.astype(float))
    np.testing.assert_allclose(joined(out, 2), w, rtol=0, atol=1e-6)
    assert np.abs(w).max() > 0.05
    sgd = reference("linr", guest.features, [h.features for h in hosts], guest.label.astype(float), False)
    assert np.abs(w - sgd).max() > 1e-3


def test_paillier_sqn_equals_plain() -> None:
    guest, hosts, _ = regression_data("linr", n=120, m_h=(3,))
    roles = (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter)
    small = {
        "max_iter": 2,
        "batch_size": 40,
        "sqn_param": {"update_interval_L": 1, "memory_M": 2, "sample_size": 30, "random_seed": 1},
    }
    plain = run(roles, params(HeteroLinRParams, "plain", **small), guest, hosts)
    paillier = run(roles, params(HeteroLinRParams, "paillier", **small), guest, hosts)
    assert type(paillier[A]).__name__ == type(plain[A]).__name__
    np.testing.assert_allclose(joined(paillier, 1), joined(plain, 1), rtol=0, atol=1e-12)


def test_secure_sum_encoding_round_trips_and_shares_cancel() -> None:
    values = np.array([-1.5, 0.0, 3.25e-9, 12345.678])
    masks = sqn.draw_masks(len(values))
    guest = [a - b for a, b in zip(sqn.encode(values), masks, strict=True)]
    host = [a + b for a, b in zip(sqn.encode(values), masks, strict=True)]
    total = sqn.from_bytes(sqn.to_bytes([a + b for a, b in zip(guest, host, strict=True)]), 4, "x", "f")
    np.testing.assert_allclose(sqn.decode(total), 2 * values, rtol=0, atol=1e-12)


def test_sqn_refuses_l1_poisson_and_small_samples() -> None:
    with pytest.raises(ConfigError, match="L1"):
        sqn.check_sqn("L1", True, "HeteroLR")
    with pytest.raises(ConfigError, match="not available"):
        sqn.check_sqn("L2", False, "HeteroPoisson")
    with pytest.raises(ConfigError) as err:
        sqn.check_sample_size(12, {"host:1": 11}, False, "guest:1")
    assert err.value.field == "sqn_param.sample_size"
    sqn.check_sample_size(12, {"host:1": 11}, True, "guest:1")


@pytest.mark.skipif(not FATE.exists(), reason="FATE examples not available")
def test_fate_confs_with_sqn_param_parse_with_optimizer_sqn() -> None:
    # No FATE example sets optimizer "sqn"; every conf carrying sqn_param is accepted with it.
    confs = [f for f in FATE.glob("*.json") if "sqn_param" in f.read_text()]
    assert confs
    for conf in confs:
        algo = json.loads(conf.read_text())["component_parameters"]["common"]
        block = next(v for v in algo.values() if isinstance(v, dict) and "sqn_param" in v)
        p = HeteroLRParams.from_dict({**block, "optimizer": "sqn"})
        assert p.optimizer == "sqn" and p.sqn_param.memory_M == block["sqn_param"]["memory_M"]


def test_sparse_features_give_the_dense_sqn_model() -> None:
    guest, hosts, _ = regression_data("linr", n=300, m_h=(4,))
    roles = (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter)
    dense = run(roles, params(HeteroLinRParams), guest, hosts)
    sp = run(roles, params(HeteroLinRParams), guest.to_sparse(), [h.to_sparse() for h in hosts])
    np.testing.assert_allclose(joined(sp, 1), joined(dense, 1), rtol=0, atol=1e-9)


def test_host_refuses_a_malformed_sample() -> None:
    np.testing.assert_array_equal(sqn.expect_rows([3, 1, 2], 10, 3, "guest:1"), [3, 1, 2])
    for bad in ([1, 1, 2], [1, 2], [1, 2, 10], [-1, 2, 3], "rows"):
        with pytest.raises(MessageError) as err:
            sqn.expect_rows(bad, 10, 3, "guest:1")
        assert err.value.field == "sqn_sample"


def test_l1_with_sqn_is_refused_by_the_fit() -> None:
    p = params(HeteroLRParams, penalty="L1")
    with pytest.raises(ConfigError, match="L1"):
        HeteroLRArbiter(p).fit(None)  # type: ignore[arg-type]
