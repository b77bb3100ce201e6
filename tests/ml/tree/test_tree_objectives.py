"""Objectives: derivatives against finite differences of their own losses, init scores, links."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.tree.objectives import Objective, objective_for

EPS = 1e-5

REGRESSION = [
    ("lse", None),
    ("lae", None),
    ("huber", [0.7]),
    ("fair", [1.3]),
    ("log_cosh", None),
    ("tweedie", [1.5]),
    ("tweedie", [1.0]),
]


def _row_loss(obj: Objective, y: np.ndarray, s: np.ndarray) -> float:
    """The loss of a single row (the objective reports a mean; one row makes it the row's loss)."""
    return obj.loss(y, s[None, :])


def _numeric(obj: Objective, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central differences: first derivative and the diagonal of the second, per row and output."""
    g = np.zeros_like(score)
    h = np.zeros_like(score)
    for i in range(score.shape[0]):
        for k in range(score.shape[1]):
            e = np.zeros(score.shape[1])
            e[k] = EPS
            yi = y[i : i + 1]
            up, mid, down = (
                _row_loss(obj, yi, score[i] + e),
                _row_loss(obj, yi, score[i]),
                _row_loss(obj, yi, score[i] - e),
            )
            g[i, k] = (up - down) / (2 * EPS)
            h[i, k] = (up - 2 * mid + down) / (EPS * EPS)
    return g, h


def test_binary_cross_entropy_derivatives_match_finite_differences() -> None:
    # Prepare
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 30).astype(float)
    score = rng.normal(0, 2, (30, 1))
    obj = objective_for("classification", "cross_entropy", None, 2)
    # Execute
    g, h = obj.grad_hess(y, score)
    ng, nh = _numeric(obj, y, score)
    # Assert
    p = 1 / (1 + np.exp(-score[:, 0]))
    np.testing.assert_allclose(g[:, 0], p - y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h[:, 0], p * (1 - p), rtol=1e-12)
    np.testing.assert_allclose(g, ng, atol=1e-7)
    np.testing.assert_allclose(h, nh, atol=1e-4)
    assert obj.n_outputs == 1 and obj.name == "cross_entropy"


def test_softmax_gradient_matches_finite_differences_and_hessian_is_fates_2p1p() -> None:
    # Prepare
    rng = np.random.default_rng(1)
    K = 4  # noqa: N806
    y = rng.integers(0, K, 25)
    score = rng.normal(0, 1.5, (25, K))
    obj = objective_for("classification", "cross_entropy", None, K)
    # Execute
    g, h = obj.grad_hess(y, score)
    ng, nh = _numeric(obj, y, score)
    # Assert: g exact; FATE 1.x (and XGBoost) use twice the true diagonal hessian p(1-p)
    np.testing.assert_allclose(g, ng, atol=1e-7)
    np.testing.assert_allclose(h, 2 * nh, atol=1e-4)
    p = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(obj.predict(score), p, rtol=1e-12)
    np.testing.assert_allclose(g, p - np.eye(K)[y], atol=1e-15)
    assert obj.n_outputs == K


@pytest.mark.parametrize(("name", "params"), REGRESSION)
def test_regression_derivatives_match_finite_differences(name: str, params: list[float] | None) -> None:
    # Prepare
    rng = np.random.default_rng(2)
    y = rng.gamma(2.0, 1.0, 30) if name == "tweedie" else rng.normal(0, 3, 30)
    score = (
        rng.normal(0, 0.5, (30, 1))
        if name == "tweedie"
        else y[:, None] + rng.choice([-1, 1], (30, 1)) * rng.uniform(0.05, 4, (30, 1))
    )
    obj = objective_for("regression", name, params, 0)
    # Execute
    g, h = obj.grad_hess(y, score)
    ng, nh = _numeric(obj, y, score)
    # Assert
    np.testing.assert_allclose(g, ng, atol=1e-6)
    if name == "lae":  # |d| has no curvature; FATE uses h = 1
        np.testing.assert_array_equal(h, 1.0)
    else:
        np.testing.assert_allclose(h, nh, rtol=1e-3, atol=1e-4)


def test_lse_is_fates_squared_error_with_factor_two() -> None:
    y = np.array([1.0, -2.0, 0.5])
    s = np.array([[0.0], [1.0], [0.5]])
    obj = objective_for("regression", "lse", None, 0)
    g, h = obj.grad_hess(y, s)
    np.testing.assert_array_equal(g[:, 0], [-2.0, 6.0, 0.0])
    np.testing.assert_array_equal(h[:, 0], [2.0, 2.0, 2.0])
    assert obj.loss(y, s) == pytest.approx((1 + 9 + 0) / 3)
    assert obj.loss(y, s, np.array([1.0, 0.0, 1.0])) == pytest.approx(0.5)


def test_lae_gradient_dead_zone() -> None:
    obj = objective_for("regression", "lae", None, 0)
    g, _ = obj.grad_hess(np.array([1.0, 1.0, 1.0]), np.array([[1.0 + 1e-9], [3.0], [-1.0]]))
    np.testing.assert_array_equal(g[:, 0], [0.0, 1.0, -1.0])


def test_init_scores() -> None:
    # Prepare
    y = np.array([0.0, 1.0, 1.0, 1.0, 5.0])
    w = np.array([1.0, 1.0, 1.0, 1.0, 10.0])
    # Execute / Assert
    assert objective_for("classification", "cross_entropy", None, 2).init_score(y[:4], None).tolist() == [0.0]
    soft = objective_for("classification", "cross_entropy", None, 3).init_score(np.array([0, 1, 2, 2]), None)
    np.testing.assert_array_equal(soft, np.zeros(3))
    for name in ("lse", "huber", "fair", "log_cosh"):
        obj = objective_for("regression", name, None, 0)
        assert obj.init_score(y, None)[0] == pytest.approx(np.mean(y))
        assert obj.init_score(y, w)[0] == pytest.approx((0 + 1 + 1 + 1 + 50) / 14)
    lae = objective_for("regression", "lae", None, 0)
    assert lae.init_score(y, None)[0] == 1.0
    assert lae.init_score(y, w)[0] == 5.0  # weight 10 of 14 sits on 5
    assert objective_for("regression", "tweedie", None, 0).init_score(y, None).tolist() == [0.0]


def test_links_and_bounds() -> None:
    rng = np.random.default_rng(3)
    s = rng.normal(0, 5, (200, 1))
    binary = objective_for("classification", "cross_entropy", None, 2)
    np.testing.assert_allclose(binary.predict(s), 1 / (1 + np.exp(-s[:, 0])), rtol=1e-12)
    assert np.isfinite(binary.loss(np.ones(1), np.array([[-800.0]])))  # no overflow
    tweedie = objective_for("regression", "tweedie", [1.2], 0)
    np.testing.assert_allclose(tweedie.predict(s), np.exp(s[:, 0]))
    for obj, y in (
        (binary, rng.integers(0, 2, 200)),
        (objective_for("classification", "cross_entropy", None, 3), rng.integers(0, 3, 200)),
        (objective_for("regression", "huber", [2.0], 0), rng.normal(0, 9, 200)),
        (objective_for("regression", "fair", [0.5], 0), rng.normal(0, 9, 200)),
    ):
        score = rng.normal(0, 5, (200, obj.n_outputs))
        g, h = obj.grad_hess(y, score)
        g_min, g_max, h_max = obj.bounds()
        assert g.min() >= g_min and g.max() <= g_max and h.max() <= h_max and h.min() >= 0


def test_objective_for_rejects_bad_configurations() -> None:
    with pytest.raises(ConfigError) as e:
        objective_for("classification", "lse", None, 2)
    assert e.value.field == "objective_param.objective"
    with pytest.raises(ConfigError) as e:
        objective_for("regression", "tweedie", [2.5], 0)
    assert e.value.field == "objective_param.params"
    with pytest.raises(ConfigError) as e:
        objective_for("ranking", "lse", None, 0)
    assert e.value.field == "task_type"
    with pytest.raises(ConfigError):
        objective_for("regression", "huber", [0.0], 0)
    with pytest.raises(DataError):
        objective_for("classification", "cross_entropy", None, 3).grad_hess(np.array([3]), np.zeros((1, 3)))
    with pytest.raises(DataError):
        objective_for("regression", "tweedie", None, 0).grad_hess(np.array([-1.0]), np.zeros((1, 1)))
