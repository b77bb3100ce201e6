"""The selection filters against independent computations (plain Python / pandas) on small data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import ConfigError
from fedloom.ml.feature.selection import (
    FilterOutcome,
    coefficient_of_variation_mask,
    column_quantile,
    column_statistics,
    keep_one,
    manually_mask,
    merge_class_iv,
    outlier_mask,
    percentage_value_mask,
    select_by_value,
    unique_value_mask,
    variance_mask,
)

RNG = np.random.default_rng(7)
X = np.column_stack(
    [
        RNG.normal(5, 2, 50),  # ordinary
        np.full(50, 3.0),  # constant
        np.r_[np.full(45, 1.0), np.arange(5.0)],  # one value on 45 + 1 rows
        RNG.normal(0, 1e-7, 50),  # tiny spread
        np.r_[RNG.normal(1, 0.1, 40), np.full(10, np.nan)],  # missing values
        RNG.integers(0, 3, 50).astype(float),  # three values
    ]
)
DF = pd.DataFrame(X)


def test_statistics_equal_pandas_with_missing_values_skipped() -> None:
    stats = column_statistics(X)

    np.testing.assert_allclose(stats.mean, DF.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(stats.variance, DF.var(ddof=0).to_numpy(), rtol=1e-9, atol=1e-20)
    assert list(stats.count) == list(DF.count())
    assert list(stats.mode_count) == [int(DF[c].round(8).value_counts().max()) for c in DF]


def test_unique_value_variance_and_cv_filters() -> None:
    stats = column_statistics(X)
    std = DF.std(ddof=0)

    assert list(unique_value_mask(stats, 1e-5)) == list(std >= 1e-5)
    assert list(unique_value_mask(stats, 1e-5)) == [True, False, True, False, True, True]
    assert list(variance_mask(stats, 0.5)) == list(DF.var(ddof=0) >= 0.5)
    cv = (std / DF.mean().abs()).abs()
    assert list(coefficient_of_variation_mask(stats, 0.3)) == list(cv >= 0.3)


def test_percentage_value_drops_a_dominated_column() -> None:
    stats = column_statistics(X)
    mode_share = [DF[c].round(8).value_counts().max() for c in DF]

    for pct in (0.5, 0.9, 0.92, 1.0):
        expected = [m <= math.ceil(50 * pct) for m in mode_share]
        assert list(percentage_value_mask(stats, pct)) == expected
    assert list(percentage_value_mask(stats, 0.9)) == [True, False, False, True, True, True]  # 46 > 45


def test_outlier_filter_uses_an_observed_quantile() -> None:
    q = column_quantile(X, 0.9)
    expected = [DF[c].dropna().quantile(0.9, interpolation="higher") for c in DF]  # ceil rank
    col0 = np.sort(X[:, 0])
    assert q[0] == col0[math.ceil(0.9 * 50) - 1]
    assert list(outlier_mask(X, 0.9, 4.0)) == [v <= 4.0 for v in q]
    assert np.isfinite(expected).all()


def test_manually_drops_or_keeps_listed_columns() -> None:
    header = ["a", "b", "c", "d"]
    cands = ["a", "c", "d"]

    assert list(manually_mask(cands, header, filter_out_indexes=[2], filter_out_names=["d", "zz"])) == [
        True,
        False,
        False,
    ]
    assert list(manually_mask(cands, header, left_col_indexes=[0], left_col_names=["d"])) == [
        True,
        False,
        True,
    ]
    assert list(manually_mask(cands, header)) == [True, True, True]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=12),
    st.integers(1, 14),
    st.floats(0, 1),
)
def test_top_k_and_percentile_match_a_sort(values: list[float], k: int, p: float) -> None:
    # independent: rank by (-value, position), take the first k
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))

    top = select_by_value(values, "top_k", k)
    pct = select_by_value(values, "top_percentile", p)

    assert set(np.flatnonzero(top)) == set(order[:k])
    assert set(np.flatnonzero(pct)) == set(order[: math.ceil(p * len(values))])
    low = select_by_value(values, "top_k", k, take_high=False)
    assert set(np.flatnonzero(low)) == set(sorted(range(len(values)), key=lambda i: (values[i], i))[:k])


def test_threshold_per_column_and_nan() -> None:
    values = [0.05, 0.1, 0.3, float("nan")]

    assert list(select_by_value(values, "threshold", 0.1)) == [False, True, True, False]
    assert list(select_by_value(values, "threshold", np.array([0.0, 0.2, 0.2, 0.0]))) == [
        True,
        False,
        True,
        False,
    ]
    assert list(select_by_value(values, "top_k", 4)) == [True, True, True, True]
    assert list(select_by_value(values, "top_k", 3)) == [True, True, True, False]  # NaN ranks last


def test_bad_rule_values_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        select_by_value([1.0], "top_k", 0)
    with pytest.raises(ConfigError):
        select_by_value([1.0], "top_percentile", 1.5)
    with pytest.raises(ConfigError):
        select_by_value([1.0], "median", 1)  # type: ignore[arg-type]


def test_keep_one_keeps_the_best_when_all_are_dropped() -> None:
    values = np.array([0.2, 0.7, np.nan, 0.5])

    assert list(keep_one(np.zeros(4, bool), values)) == [False, True, False, False]
    assert list(keep_one(np.zeros(4, bool), values, take_high=False)) == [True, False, False, False]
    assert list(keep_one(np.array([0, 0, 0, 1], bool), values)) == [False, False, False, True]


def test_multi_class_iv_merge() -> None:
    iv = {"0": 0.2, "1": 0.5, "2": 0.8}

    assert merge_class_iv(iv, "average") == pytest.approx(0.5)
    assert merge_class_iv(iv, "min") == 0.2
    assert merge_class_iv(iv, "max") == 0.8
    assert merge_class_iv(0.3) == 0.3
    assert math.isnan(merge_class_iv(None))


def test_outcome_round_trip() -> None:
    out = FilterOutcome("iv_filter", {"a": 0.1, "b": float("nan")}, ("a",), ("b",), {"host:1": {"kept": []}})

    back = FilterOutcome.from_dict(out.to_dict())

    assert back.kept == ("a",) and back.dropped == ("b",) and back.values == {"a": 0.1, "b": None}
    assert back.hosts == {"host:1": {"kept": []}}
