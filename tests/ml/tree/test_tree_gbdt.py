"""HistogramGBDT: stored trees re-evaluated by hand, leaf values from first principles, training loss."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.errors import DataError
from fedloom.ml.tree import HistogramGBDT, Tree, histograms, objective_for
from fedloom.ml.tree.split import Criterion


def _data(seed: int, n: int = 400, f: int = 5, n_bins: int = 8, classes: int = 2):
    rng = np.random.default_rng(seed)
    bins = rng.integers(0, n_bins, (n, f))
    logits = (bins[:, 0] - 3.5) * 0.8 - (bins[:, 1] > 4) * 1.5 + rng.normal(0, 0.7, n)
    if classes == 2:
        y = (logits > 0).astype(float)
    elif classes > 2:
        y = np.digitize(logits, np.quantile(logits, np.linspace(0, 1, classes + 1)[1:-1]))
    else:
        y = logits + 2.0
    return bins, y


def _walk(tree: Tree, row: np.ndarray, missing: np.ndarray | None) -> list[float]:
    """Route one row through the stored nodes with a plain loop."""
    node = tree.nodes[0]
    while not node.is_leaf:
        v = int(row[node.feature])
        left = node.missing_left if missing is not None and v == missing[node.feature] else v <= node.bin
        node = tree.nodes[node.left if left else node.right]
    return list(node.weight)


def _brute_predict(model: HistogramGBDT, bins: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    out = np.tile(model.init_score, (bins.shape[0], 1))
    for tree in model.trees:
        for i in range(bins.shape[0]):
            w = _walk(tree, bins[i], missing)
            if tree.class_index is None:
                out[i] += w
            else:
                out[i, tree.class_index] += w[0]
    return out


def test_histograms_equal_a_loop() -> None:
    bins, _ = _data(0, n=50, f=3, n_bins=4)
    rng = np.random.default_rng(1)
    g, h = rng.normal(size=(50, 2)), rng.uniform(size=(50, 2))
    rows = np.array([0, 3, 7, 8, 20, 49])
    G, H, N = histograms(bins, g, h, rows, 4)  # noqa: N806
    for f in range(3):
        for b in range(4):
            sel = [r for r in rows if bins[r, f] == b]
            np.testing.assert_allclose(G[f, b], g[sel].sum(axis=0), atol=1e-12)
            np.testing.assert_allclose(H[f, b], h[sel].sum(axis=0), atol=1e-12)
            assert N[f, b] == len(sel)


@pytest.mark.parametrize("with_missing", [False, True])
def test_binary_loss_decreases_and_predictions_match_the_stored_trees(with_missing: bool) -> None:
    # Prepare
    bins, y = _data(2)
    missing = np.array([7, -1, 0, -1, 3]) if with_missing else None
    obj = objective_for("classification", "cross_entropy", None, 2)
    model = HistogramGBDT(obj, n_trees=6, learning_rate=0.3, max_depth=3, criterion=Criterion(l2=0.1))
    # Execute
    trees = model.fit(bins, y, missing_bin=missing)
    # Assert
    assert len(trees) == 6
    assert model.history[0] < obj.loss(y, np.zeros((len(y), 1)))
    assert all(b < a for a, b in zip(model.history, model.history[1:], strict=False))
    np.testing.assert_allclose(model.predict(bins), _brute_predict(model, bins, missing), rtol=0, atol=1e-12)
    assert all(node.depth <= 3 for t in trees for node in t.nodes)
    assert any(not n.is_leaf and n.feature == 0 for n in trees[0].nodes)


def test_first_tree_leaves_are_learning_rate_times_newton_step() -> None:
    # Prepare: the first tree sees p = 1/2 everywhere: g = 1/2 - y, h = 1/4
    bins, y = _data(3)
    lr, lam = 0.2, 0.7
    model = HistogramGBDT(
        objective_for("classification", "cross_entropy", None, 2),
        n_trees=1,
        learning_rate=lr,
        max_depth=2,
        criterion=Criterion(l2=lam, min_leaf_node=5),
    )
    # Execute
    (tree,) = model.fit(bins, y)
    # Assert
    for node in tree.nodes:
        if node.is_leaf:
            rows = [i for i in range(len(y)) if _walk_to(tree, bins[i]) == node.id]
            g = np.sum(0.5 - y[rows])
            h = 0.25 * len(rows)
            assert node.n == len(rows) >= 5
            assert node.weight[0] == pytest.approx(-lr * g / (h + lam), rel=1e-12)


def _walk_to(tree: Tree, row: np.ndarray) -> int:
    node = tree.nodes[0]
    while not node.is_leaf:
        node = tree.nodes[node.left if row[node.feature] <= node.bin else node.right]
    return node.id


@pytest.mark.parametrize("multi_output", [False, True])
def test_multiclass_modes(multi_output: bool) -> None:
    bins, y = _data(4, classes=3)
    obj = objective_for("classification", "cross_entropy", None, 3)
    model = HistogramGBDT(obj, n_trees=4, max_depth=2, multi_output=multi_output)
    trees = model.fit(bins, y)
    assert len(trees) == (4 if multi_output else 12)
    if multi_output:
        assert all(t.class_index is None and len(t.nodes[-1].weight) == 3 for t in trees)
    else:
        assert [t.class_index for t in trees[:6]] == [0, 1, 2, 0, 1, 2]
    assert all(b < a for a, b in zip(model.history, model.history[1:], strict=False))
    np.testing.assert_allclose(model.predict(bins), _brute_predict(model, bins, None), atol=1e-12)


def test_regression_goss_feature_sampling_and_warm_start() -> None:
    bins, y = _data(5, n=600, classes=0)
    obj = objective_for("regression", "lse", None, 0)
    model = HistogramGBDT(obj, n_trees=5, max_depth=3, goss=(0.3, 0.2), subsample_feature_rate=0.6)
    trees = model.fit(bins, y)
    assert model.init_score[0] == pytest.approx(np.mean(y))
    assert model.history[-1] < model.history[0] < obj.loss(y, np.full((600, 1), np.mean(y)))
    assert all(t.nodes[0].n == 180 + 120 for t in trees)  # GOSS rows only
    np.testing.assert_allclose(model.predict(bins), _brute_predict(model, bins, None), atol=1e-12)
    # Warm start: 3 more trees after the stored ones, from a dict round trip.
    stored = [Tree.from_dict(t.to_dict()) for t in trees]
    more = HistogramGBDT(obj, n_trees=3, max_depth=3)
    all_trees = more.fit(bins, y, init=stored, init_score=model.init_score)
    assert len(all_trees) == 8 and all_trees[:5] == stored
    assert more.history[-1] < model.history[-1]


def test_tree_dict_round_trip_and_validation() -> None:
    bins, y = _data(6)
    model = HistogramGBDT(objective_for("classification", "cross_entropy", None, 2), n_trees=1)
    (tree,) = model.fit(bins, y)
    assert Tree.from_dict(tree.to_dict()) == tree
    bad = tree.to_dict()
    bad["nodes"][0]["left"] = 0
    with pytest.raises(DataError):
        Tree.from_dict(bad)
    with pytest.raises(DataError):
        Tree.from_dict({"nodes": [{"id": 0, "depth": 0}]})
    with pytest.raises(DataError):
        model.fit(bins.astype(float), y)
