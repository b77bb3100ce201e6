"""GOSS sample sizes and weights; feature importance counts."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.errors import ConfigError
from fedloom.ml.tree import Node, Tree, feature_importance, goss_sample


def test_goss_keeps_the_largest_gradients_and_reweights_the_rest() -> None:
    # Prepare
    rng = np.random.default_rng(0)
    g = rng.normal(size=(1000, 2))
    # Execute
    rows, weights = goss_sample(g, 0.2, 0.1, np.random.default_rng(7))
    # Assert
    magnitude = np.abs(g).sum(axis=1)
    top = set(np.argsort(-magnitude)[:200].tolist())
    assert rows.size == 300 and np.unique(rows).size == 300 and np.all(np.diff(rows) > 0)
    assert top <= set(rows.tolist())
    is_top = np.array([r in top for r in rows])
    np.testing.assert_array_equal(weights[is_top], 1.0)
    np.testing.assert_allclose(weights[~is_top], (1 - 0.2) / 0.1)
    again, _ = goss_sample(g, 0.2, 0.1, np.random.default_rng(7))
    np.testing.assert_array_equal(rows, again)  # seeded


def test_goss_sizes_round_down_and_cap() -> None:
    g = np.arange(10, dtype=float)
    rows, weights = goss_sample(g, 0.25, 0.15, np.random.default_rng(0))
    assert rows.size == 2 + 1 and set(rows[weights == 1.0].tolist()) == {8, 9}
    rows, _ = goss_sample(g, 0.0, 1.0, np.random.default_rng(0))
    assert rows.tolist() == list(range(10))
    for top, other in ((-0.1, 0.1), (0.5, 0.0), (0.7, 0.4)):
        with pytest.raises(ConfigError):
            goss_sample(g, top, other, np.random.default_rng(0))


def test_feature_importance_counts_splits_and_sums_gains() -> None:
    def split(i: int, feature: int, gain: float, owner: str = "guest") -> Node:
        return Node(
            id=i,
            depth=0,
            is_leaf=False,
            feature=feature,
            bin=0,
            left=i + 1,
            right=i + 2,
            gain=gain,
            owner=owner,
        )

    def leaf(i: int) -> Node:
        return Node(id=i, depth=1, is_leaf=True, weight=[0.1])

    t1 = Tree(nodes=[split(0, 2, 1.5), leaf(1), split(2, 0, 0.5), leaf(3), leaf(4)])
    t2 = Tree(nodes=[split(0, 2, 2.0), leaf(1), leaf(2)])
    t3 = Tree(nodes=[split(0, 5, 4.0, owner="host-10000"), leaf(1), leaf(2)])
    names = {("guest", 0): "x0", ("guest", 2): "x2", ("host-10000", 5): "host_10000_5"}
    imp = feature_importance([t1, t2, t3], lambda n: names[(n.owner, n.feature)])
    assert imp == {
        "x2": {"split": 2.0, "gain": 3.5},
        "x0": {"split": 1.0, "gain": 0.5},
        "host_10000_5": {"split": 1.0, "gain": 4.0},
    }
    assert list(imp) == ["x2", "x0", "host_10000_5"]
