"""Split finding against a brute-force loop over every (feature, bin, missing side)."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.errors import DataError
from fedloom.ml.tree.split import Criterion, best_split, best_split_cumulative, leaf_weight, score


def _soft(g: float, l1: float) -> float:
    if g > l1:
        return g - l1
    if g < -l1:
        return g + l1
    return 0.0


def _node_score(G: np.ndarray, H: np.ndarray, c: Criterion) -> float:  # noqa: N803
    return sum(_soft(float(G[k]), c.l1) ** 2 / (float(H[k]) + c.l2) for k in range(len(G)))


def _brute(G, H, N, totals, c, missing):  # noqa: N803
    """Every candidate in (feature, bin, missing_left) order; keeps the first strictly best."""
    g_tot, h_tot, n_tot = totals
    if n_tot < c.min_sample_split:
        return None
    best = None
    n_features, n_bins, _ = G.shape
    for f in range(n_features):
        m = missing[f]
        for b in range(n_bins):
            if b == m:
                continue
            for side in (False, True):
                left = [(j <= b and j != m) or (j == m and side) for j in range(n_bins)]
                gl, hl, nl = G[f, left].sum(axis=0), H[f, left].sum(axis=0), int(N[f, left].sum())
                gr, hr, nr = g_tot - gl, h_tot - hl, n_tot - nl
                if min(nl, nr) < max(1, c.min_leaf_node):
                    continue
                if hl.sum() < c.min_child_weight or hr.sum() < c.min_child_weight:
                    continue
                gain = _node_score(gl, hl, c) + _node_score(gr, hr, c) - _node_score(g_tot, h_tot, c)
                if gain > c.min_impurity_split and (best is None or gain > best[0]):
                    best = (gain, f, b, side, gl, hl, nl)
    return best


def _histograms(seed: int, n_features: int, n_bins: int, n_out: int, n_rows: int, with_missing: bool):
    """Histograms summed from random rows (so N, H are consistent), a few structural ties."""
    rng = np.random.default_rng(seed)
    bins = rng.integers(0, n_bins, (n_rows, n_features))
    bins[:, 1] = np.minimum(bins[:, 1], n_bins - 3)  # padded / empty top bins
    if n_features > 3:
        bins[:, 3] = bins[:, 2]  # a duplicate feature: ties go to the lower index
    g = rng.normal(0, 1, (n_rows, n_out))
    h = rng.uniform(0.05, 0.25, (n_rows, n_out))
    G = np.zeros((n_features, n_bins, n_out))  # noqa: N806
    H = np.zeros_like(G)  # noqa: N806
    N = np.zeros((n_features, n_bins), dtype=np.int64)  # noqa: N806
    for i in range(n_rows):
        for f in range(n_features):
            G[f, bins[i, f]] += g[i]
            H[f, bins[i, f]] += h[i]
            N[f, bins[i, f]] += 1
    missing = np.full(n_features, -1)
    if with_missing:
        missing = rng.integers(-1, n_bins, n_features)
        missing[0] = n_bins - 1
        missing[1] = n_bins - 1  # an empty missing bin: both sides tie, missing_left=False wins
    totals = (g.sum(axis=0), h.sum(axis=0), n_rows)
    return G, H, N, totals, missing


CRITERIA = [
    Criterion(),
    Criterion(l1=0.5, l2=1.0),
    Criterion(l2=0.0, min_leaf_node=12),
    Criterion(min_child_weight=3.0, min_impurity_split=0.05),
    Criterion(l1=2.0, l2=0.3, min_leaf_node=5, min_child_weight=1.0),
]


@pytest.mark.parametrize("c", CRITERIA)
@pytest.mark.parametrize(
    ("seed", "n_out", "with_missing"), [(0, 1, False), (1, 1, True), (2, 3, True), (3, 2, False)]
)
def test_best_split_equals_brute_force(c: Criterion, seed: int, n_out: int, with_missing: bool) -> None:
    # Prepare
    G, H, N, totals, missing = _histograms(seed, 5, 7, n_out, 120, with_missing)  # noqa: N806
    # Execute
    got = best_split(G, H, N, totals, c, missing_bin=missing if with_missing else None)
    want = _brute(G, H, N, totals, c, missing)
    # Assert
    if want is None:
        assert got is None
        return
    assert got is not None
    assert (got.feature, got.bin, got.missing_left) == want[1:4]
    assert got.gain == pytest.approx(want[0], rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(got.G_left, want[4], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.H_left, want[5], rtol=1e-10)
    assert got.n_left == want[6]


def test_ties_lowest_feature_then_bin_then_missing_right() -> None:
    # Two identical features, an empty missing bin on both: every optimum appears 4 times.
    G = np.array([[[-3.0], [1.0], [2.0], [0.0]]] * 2)  # noqa: N806
    H = np.array([[[1.0], [1.0], [1.0], [0.0]]] * 2)  # noqa: N806
    N = np.array([[3, 3, 3, 0]] * 2)  # noqa: N806
    s = best_split(G, H, N, (np.array([0.0]), np.array([3.0]), 9), Criterion(), missing_bin=np.array([3, 3]))
    assert s is not None and (s.feature, s.bin, s.missing_left) == (0, 0, False)
    assert s.gain == pytest.approx(9 / 1.1 + 9 / 2.1 - 0.0)


def test_leaf_weight_and_score_hand_formulas() -> None:
    c = Criterion(l1=1.0, l2=0.5)
    G, H = np.array([3.0, -0.5, -4.0]), np.array([2.0, 1.0, 1.5])  # noqa: N806
    np.testing.assert_allclose(leaf_weight(G, H, c), [-2.0 / 2.5, 0.0, 3.0 / 2.0])
    assert score(G, H, c) == pytest.approx(4.0 / 2.5 + 0.0 + 9.0 / 2.0)
    assert leaf_weight(np.array([2.0]), np.array([3.0]), Criterion())[0] == pytest.approx(-2.0 / 3.1)


def test_constraints_can_forbid_every_split() -> None:
    G, H, N, totals, _ = _histograms(4, 3, 6, 1, 60, False)  # noqa: N806
    assert best_split(G, H, N, totals, Criterion(min_leaf_node=31)) is None
    assert best_split(G, H, N, totals, Criterion(min_child_weight=1e6)) is None
    assert best_split(G, H, N, totals, Criterion(min_impurity_split=1e6)) is None
    assert best_split(G, H, N, totals, Criterion(min_sample_split=61)) is None
    assert best_split(G, H, N, totals, Criterion(min_sample_split=60)) is not None


@pytest.mark.parametrize(("seed", "n_out"), [(5, 1), (6, 3)])
def test_best_split_cumulative_equals_best_split_on_the_same_candidates(seed: int, n_out: int) -> None:
    # Prepare: the candidates of best_split as LEFT sums, in (feature, bin, side) order
    G, H, N, totals, missing = _histograms(seed, 4, 6, n_out, 90, True)  # noqa: N806
    c = Criterion(l1=0.2, l2=0.7, min_leaf_node=3)
    keys, gl, hl, nl = [], [], [], []
    for f in range(4):
        for b in range(6):
            if b == missing[f]:
                continue
            for side in (False, True):
                left = np.array(
                    [(j <= b and j != missing[f]) or (j == missing[f] and side) for j in range(6)]
                )
                keys.append((f, b, side))
                gl.append(G[f, left].sum(axis=0))
                hl.append(H[f, left].sum(axis=0))
                nl.append(N[f, left].sum())
    # Execute
    want = best_split(G, H, N, totals, c, missing_bin=missing)
    got = best_split_cumulative(np.array(gl), np.array(hl), np.array(nl), totals, c)
    perm = np.random.default_rng(seed).permutation(len(keys))
    shuffled = best_split_cumulative(np.array(gl)[perm], np.array(hl)[perm], np.array(nl)[perm], totals, c)
    # Assert
    assert want is not None and got is not None and shuffled is not None
    assert keys[got.feature] == (want.feature, want.bin, want.missing_left)
    assert got.bin == -1 and got.gain == pytest.approx(want.gain, rel=1e-10)
    assert shuffled.gain == pytest.approx(want.gain, rel=1e-10)
    assert keys[perm[shuffled.feature]][0] in {want.feature, 3 if want.feature == 2 else want.feature}
    np.testing.assert_allclose(got.G_left, want.G_left, rtol=1e-10)
    assert got.n_left == want.n_left


def test_cumulative_ties_go_to_the_lowest_candidate() -> None:
    gl = np.array([[1.0], [-2.0], [-2.0]])
    hl = np.array([[1.0], [1.0], [1.0]])
    s = best_split_cumulative(gl, hl, np.array([2, 2, 2]), (np.array([0.0]), np.array([2.0]), 4), Criterion())
    assert s is not None and s.feature == 1


def test_shapes_are_checked() -> None:
    with pytest.raises(DataError):
        best_split(
            np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), (np.zeros(1), np.zeros(1), 5), Criterion()
        )
    with pytest.raises(DataError):
        best_split_cumulative(
            np.zeros((2, 1)), np.zeros((2, 1)), np.zeros(2), (np.zeros(2), np.zeros(2), 5), Criterion()
        )
