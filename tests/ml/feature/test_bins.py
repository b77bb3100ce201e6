"""ColumnBins, fit_bins and bin_matrix against independent numpy / bisect computations."""

from __future__ import annotations

import bisect
import json
import math
from typing import Literal

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.feature import ColumnBins, bin_matrix, fit_bins


def reference_index(bins: ColumnBins, values: np.ndarray) -> list[int]:
    """The rules written out with bisect, one value at a time."""
    k = bins.n_value_bins
    out = []
    for x in values.tolist():
        if math.isnan(x):
            out.append(k)
        elif bins.categories is not None:
            out.append(bins.categories.index(x) if x in bins.categories else k)
        elif k == 0:
            out.append(0)
        else:
            out.append(min(bisect.bisect_left(bins.split_points, x), k - 1))
    return out


def rank_interval(sorted_values: np.ndarray, v: float) -> tuple[int, int]:
    return int(np.searchsorted(sorted_values, v, "left")), int(np.searchsorted(sorted_values, v, "right"))


# ---------------------------------------------------------------------- fitting
def test_bucket_split_points_are_equal_width() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 7, (500, 3))
    x[::7, 1] = np.nan
    bins = fit_bins(x, ["a", "b", "c"], method="bucket", bin_num=8)
    for c, b in enumerate(bins):
        col = x[~np.isnan(x[:, c]), c]
        expected = np.linspace(col.min(), col.max(), 9)[1:]
        np.testing.assert_allclose(b.split_points, expected, rtol=1e-12, atol=1e-12)
        assert b.split_points[-1] == col.max()  # exactly the maximum
        assert b.has_missing == (c == 1)
        assert b.n_bins == 8 + (c == 1)


@pytest.mark.parametrize("bin_num", [1, 4, 10, 37])
def test_quantile_split_points_within_the_rank_bound_of_numpy(bin_num: int) -> None:
    rng = np.random.default_rng(bin_num)
    n = 30_000
    x = np.c_[rng.standard_normal(n), rng.exponential(size=n), rng.integers(0, 5, n).astype(float)]
    x[rng.random(n) < 0.1, 0] = np.nan
    error = 0.01
    bins = fit_bins(x, ["z", "e", "i"], method="quantile", bin_num=bin_num, error=error, head_size=2_000)
    for c, b in enumerate(bins):
        col = np.sort(x[~np.isnan(x[:, c]), c])
        bound = math.floor(error * len(col))
        pts = np.asarray(b.split_points)
        assert (np.diff(pts) > 0).all() and pts[-1] == col[-1]
        assert np.isin(pts, col).all(), "split points are observed values"
        for k in range(1, bin_num + 1):
            t = k * len(col) / bin_num
            # numpy's quantile at k/bin_num has t in its rank interval; some split point's rank
            # interval comes within the bound of t.
            q = np.quantile(col, k / bin_num, method="inverted_cdf")
            lo, hi = rank_interval(col, q)
            assert lo <= t <= hi
            ranks = [rank_interval(col, p) for p in pts]
            near = [p for p, (lo, hi) in zip(pts, ranks, strict=True) if lo <= t + bound and hi >= t - bound]
            assert near, f"k={k}: no split point within {bound} ranks of {t}"


def test_quantile_with_error_zero_equals_numpy_inverted_cdf() -> None:
    rng = np.random.default_rng(5)
    x = np.c_[rng.standard_normal(4_000), rng.integers(0, 30, 4_000).astype(float)]
    bins = fit_bins(x, ["a", "b"], method="quantile", bin_num=10, error=0.0, head_size=300, compress_thres=50)
    for c, b in enumerate(bins):
        expected = np.unique(np.quantile(x[:, c], np.arange(1, 11) / 10, method="inverted_cdf"))
        assert b.split_points == tuple(expected.tolist())


@pytest.mark.parametrize("method", ["quantile", "bucket"])
def test_constant_all_nan_and_empty_columns(method: Literal["quantile", "bucket"]) -> None:
    x = np.c_[np.full(50, 2.5), np.full(50, np.nan), np.r_[np.full(49, 1.0), np.nan]]
    const, all_nan, const_missing = fit_bins(x, ["k", "n", "m"], method=method, bin_num=5)
    assert const.split_points == (2.5,) and const.n_bins == 1 and not const.has_missing
    assert all_nan.split_points == () and all_nan.n_value_bins == 0 and all_nan.n_bins == 1
    assert all_nan.missing_bin == 0 and all_nan.index(np.array([np.nan, 3.0])).tolist() == [0, 0]
    assert const_missing.split_points == (1.0,) and const_missing.missing_bin == 1
    (empty,) = fit_bins(np.empty((0, 1)), ["e"], method=method, bin_num=5)
    assert empty.n_bins == 0 and not empty.has_missing


def test_categorical_columns_keep_their_values() -> None:
    x = np.array([[3.0, 1.0], [1.0, 2.0], [np.nan, 3.0], [3.0, 4.0], [-2.0, 5.0]])
    cat, num = fit_bins(x, ["c", "n"], method="quantile", bin_num=2, categorical=["c"])
    assert cat.categories == (-2.0, 1.0, 3.0) and cat.split_points == () and cat.has_missing
    assert cat.is_categorical and cat.n_value_bins == 3 and cat.n_bins == 4
    assert cat.index(np.array([3.0, -2.0, np.nan, 7.0, 1.0])).tolist() == [2, 0, 3, 3, 1]
    assert cat.labels() == ["c = -2.0", "c = 1.0", "c = 3.0", "missing"]
    assert not num.is_categorical and num.categories is None


# ---------------------------------------------------------------------- index / bin_matrix
@settings(max_examples=60, deadline=None)
@given(
    splits=st.lists(st.floats(-1e6, 1e6), max_size=40, unique=True).map(sorted),
    values=st.lists(st.one_of(st.floats(allow_nan=True), st.sampled_from([0.0, 1.0, -1.0])), max_size=60),
    has_missing=st.booleans(),
    categorical=st.booleans(),
)
def test_index_matches_a_bisect_reference(
    splits: list[float], values: list[float], has_missing: bool, categorical: bool
) -> None:
    if categorical:
        b = ColumnBins("x", (), tuple(splits), has_missing)
        values = values + splits[:5]
    else:
        b = ColumnBins("x", tuple(splits), None, has_missing)
        values = values + splits[:5]
    arr = np.asarray(values, dtype=float)
    assert b.index(arr).tolist() == reference_index(b, arr)


def test_numeric_index_rules() -> None:
    b = ColumnBins("x", (1.5, 2.0, 4.0), has_missing=True)
    got = b.index(np.array([-np.inf, 1.0, 1.5, 1.6, 2.0, 3.9, 4.0, 99.0, np.inf, np.nan]))
    assert got.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    assert got.dtype == np.int64
    assert b.index(np.array([[1.0, np.nan]])).shape == (1, 2)
    assert b.labels() == ["(-inf, 1.5]", "(1.5, 2.0]", "(2.0, 4.0]", "missing"]
    assert (b.n_value_bins, b.n_bins, b.missing_bin) == (3, 4, 3)
    assert ColumnBins("y", (1.0,)).missing_bin is None


@pytest.mark.parametrize("bin_num", [10, 60])  # 60: more edges than the broadcast path takes
def test_bin_matrix_is_columnwise_index(bin_num: int) -> None:
    rng = np.random.default_rng(bin_num)
    x = rng.standard_normal((3_000, 6))
    x[:, 4] = rng.integers(0, 4, 3_000)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 5] = np.nan
    names = [f"x{i}" for i in range(6)]
    bins = fit_bins(x, names, method="quantile", bin_num=bin_num, categorical=["x4"])
    fresh = np.r_[x, rng.standard_normal((100, 6)) * 5]  # values beyond the training range too
    fresh[:3, 4] = [7.0, np.nan, 1.0]
    got = bin_matrix(bins, fresh)
    assert got.dtype == np.int32 and got.shape == fresh.shape
    for c, b in enumerate(bins):
        assert got[:, c].tolist() == reference_index(b, fresh[:, c]), names[c]
    numeric_only = bin_matrix(bins[:4], fresh[:, :4])
    np.testing.assert_array_equal(numeric_only, got[:, :4])


# ---------------------------------------------------------------------- storage
def test_to_dict_round_trip_is_json() -> None:
    for b in (
        ColumnBins("x", (0.1, 0.30000000000000004, 5.0), None, True),
        ColumnBins("c", (), (-1.0, 2.0), False),
        ColumnBins("n", (), None, True),
    ):
        d = json.loads(json.dumps(b.to_dict(), allow_nan=False))
        assert ColumnBins.from_dict(d) == b
        assert all(type(v) is float for v in d["split_points"])
    assert ColumnBins("i", [1, 2]).split_points == (1.0, 2.0)  # type: ignore[arg-type]  # ints -> floats
    assert ColumnBins.from_dict({"name": "i", "split_points": [1, 2]}).to_dict()["split_points"] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("d", "field"),
    [
        ({"name": "x", "split_points": [2.0, 1.0]}, "split_points"),
        ({"name": "x", "split_points": [1.0, 1.0]}, "split_points"),
        ({"name": "x", "split_points": ["1.0"]}, "split_points"),
        ({"name": "x", "split_points": 1.0}, "split_points"),
        ({"name": "x", "split_points": [True]}, "split_points"),
        ({"name": "x", "split_points": [float("inf")]}, "split_points"),
        ({"name": "x", "split_points": [float("nan")]}, "split_points"),
        ({"name": 3, "split_points": []}, "name"),
        ({"split_points": []}, "name"),
        ({"name": "x"}, "split_points"),
        ({"name": "x", "split_points": [], "categories": [3.0, 1.0]}, "categories"),
        ({"name": "x", "split_points": [], "categories": "ab"}, "categories"),
        ({"name": "x", "split_points": [1.0], "categories": [1.0]}, "split_points"),
        ({"name": "x", "split_points": [], "has_missing": "yes"}, "has_missing"),
        ({"name": "x", "split_points": [], "extra": 1}, "extra"),
        ([1, 2], "bins"),
    ],
)
def test_bad_dicts_are_refused(d: object, field: str) -> None:
    with pytest.raises(DataError) as err:
        ColumnBins.from_dict(d)  # type: ignore[arg-type]
    assert err.value.field == field


# ---------------------------------------------------------------------- errors
def test_fit_and_bin_errors_name_the_field() -> None:
    x = np.zeros((4, 2))
    cases: list[tuple[type[Exception], str, dict[str, object]]] = [
        (ConfigError, "method", {"method": "optimal", "bin_num": 3}),
        (ConfigError, "bin_num", {"method": "bucket", "bin_num": 0}),
        (ConfigError, "bin_num", {"method": "bucket", "bin_num": True}),
        (ConfigError, "categorical", {"method": "bucket", "bin_num": 3, "categorical": ["zz"]}),
        (ConfigError, "error", {"method": "quantile", "bin_num": 3, "error": 2.0}),
    ]
    for exc, field, kwargs in cases:
        with pytest.raises(exc) as err:
            fit_bins(x, ["a", "b"], **kwargs)  # type: ignore[arg-type]
        assert err.value.field == field  # type: ignore[attr-defined]
    with pytest.raises(DataError) as derr:
        fit_bins(x, ["a"], method="bucket", bin_num=3)
    assert derr.value.field == "names"
    with pytest.raises(DataError) as derr:
        fit_bins(np.array([[1.0, np.inf]]), ["a", "b"], method="bucket", bin_num=3)
    assert derr.value.field == "b"
    with pytest.raises(DataError) as derr:
        fit_bins(sp.csr_matrix(x), ["a", "b"], method="bucket", bin_num=3)
    assert derr.value.field == "features"
    with pytest.raises(DataError) as derr:
        fit_bins(np.zeros(3), ["a"], method="bucket", bin_num=3)
    assert derr.value.field == "features"
    bins = fit_bins(x, ["a", "b"], method="bucket", bin_num=3)
    with pytest.raises(DataError) as derr:
        bin_matrix(bins, np.zeros((4, 3)))
    assert derr.value.field == "features"
