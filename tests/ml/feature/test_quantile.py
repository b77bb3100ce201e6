"""QuantileSummary: the rank guarantee against the sorted data, merges, size, errors.

The reference is the sorted data itself: a value's rank interval is
``[searchsorted(left), searchsorted(right)]``; the guarantee is that it meets
``[q·n - bound, q·n + bound]`` with ``bound = rank_error_bound <= floor(error · n)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.feature import QuantileSummary

PROPERTY = settings(max_examples=150, deadline=None)
GRID = np.linspace(0.0, 1.0, 41)


def assert_rank_guarantee(summary: QuantileSummary, data: np.ndarray, qs: np.ndarray = GRID) -> None:
    """Every answer is an observed value whose rank interval meets [q·n - b, q·n + b]."""
    srt = np.sort(data)
    n = len(srt)
    b = summary.rank_error_bound
    assert summary.count == n
    assert 0 <= b <= math.floor(summary.error * n)
    got = summary.query(qs)
    lo = np.searchsorted(srt, got, side="left")
    hi = np.searchsorted(srt, got, side="right")
    assert (hi > lo).all(), "every answer must be an observed value"
    t = qs * n
    bad = (lo > t + b) | (hi < t - b)
    assert not bad.any(), f"q={qs[bad]} rank intervals {lo[bad]}..{hi[bad]} vs t={t[bad]} ± {b}"


def assert_entries_valid(summary: QuantileSummary, data: np.ndarray) -> None:
    """The stored invariants: rmin <= U(v), rmax >= L(v) + 1, A and B non-decreasing."""
    v, rmin, rmax = summary.entries
    srt = np.sort(data)
    assert (np.diff(v) > 0).all()
    assert (rmin <= np.searchsorted(srt, v, side="right")).all()
    assert (rmax >= np.searchsorted(srt, v, side="left") + 1).all()
    assert (np.diff(rmin) >= 0).all() and (np.diff(rmax) >= 0).all()
    assert v[0] == srt[0] and v[-1] == srt[-1]


def make_data(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "continuous":
        return rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)
    if kind == "few":  # a handful of distinct values, heavy ties
        return rng.choice(rng.standard_normal(int(rng.integers(1, 6))), n)
    if kind == "ints":  # ties of every size
        return rng.integers(-20, 20, n).astype(float)
    # mixed: a heavy atom plus a continuous tail
    x = rng.standard_normal(n)
    x[rng.random(n) < 0.6] = 0.0
    return x


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3000),
    kind=st.sampled_from(["continuous", "few", "ints", "mixed"]),
    error=st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2]),
    head_size=st.sampled_from([1, 7, 64, 500]),
    compress_thres=st.sampled_from([1, 10, 100, 10_000]),
    parts=st.integers(1, 6),
    sort_input=st.booleans(),
)
def test_rank_guarantee_under_updates_and_merges(
    seed: int,
    n: int,
    kind: str,
    error: float,
    head_size: int,
    compress_thres: int,
    parts: int,
    sort_input: bool,
) -> None:
    # Prepare: data split at random into parts, each part fed in random batches.
    rng = np.random.default_rng(seed)
    data = make_data(rng, n, kind)
    if sort_input:
        data = np.sort(data)
    cuts = np.sort(rng.integers(0, n + 1, parts - 1))
    summaries = []
    for part in np.split(data, cuts):
        s = QuantileSummary(error, compress_thres=compress_thres, head_size=head_size)
        for batch in np.split(part, np.sort(rng.integers(0, len(part) + 1, int(rng.integers(0, 5))))):
            s.update(batch)
        summaries.append(s)
    # Execute: merge in a random tree order.
    while len(summaries) > 1:
        i, j = sorted(rng.choice(len(summaries), 2, replace=False))
        merged = summaries[i].merge(summaries[j])
        summaries = [s for k, s in enumerate(summaries) if k not in (i, j)] + [merged]
    (summary,) = summaries
    # Assert
    assert_rank_guarantee(summary, data, np.r_[GRID, rng.random(20)])
    assert_entries_valid(summary, data)
    assert summary.query([0.0, 1.0]).tolist() == [data.min(), data.max()]


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 2000), kind=st.sampled_from(["continuous", "ints"]))
def test_error_zero_is_exact(seed: int, n: int, kind: str) -> None:
    # With error 0 the answer's rank interval contains q·n: it is numpy's inverted-CDF quantile.
    rng = np.random.default_rng(seed)
    data = make_data(rng, n, kind)
    s = QuantileSummary(0.0, compress_thres=5, head_size=33)
    s.update(data)
    qs = np.linspace(0.01, 1.0, 100)
    assert s.rank_error_bound == 0
    np.testing.assert_array_equal(s.query(qs), np.quantile(data, qs, method="inverted_cdf"))


def test_bound_within_budget_on_a_long_stream_and_answers_hold() -> None:
    rng = np.random.default_rng(1)
    data = rng.standard_normal(200_000)
    s = QuantileSummary(0.001, compress_thres=10_000, head_size=10_000)
    for chunk in np.array_split(data, 37):
        s.update(chunk)
        assert s.rank_error_bound <= math.floor(0.001 * s.count)
    assert_rank_guarantee(s, data, np.linspace(0, 1, 1001))
    assert_entries_valid(s, data)


@pytest.mark.parametrize("order", ["random", "ascending", "descending"])
def test_size_stays_bounded_by_a_multiple_of_one_over_error(order: str) -> None:
    # 200k values, ε = 0.001, compress_thres = 2/ε: the entries never exceed 3/ε, and a compress
    # leaves at most 2/ε. A block of 10k values adds at most 10k / (2·floor(ε·10k/2) + 1) + 2 = 911.
    eps = 0.001
    rng = np.random.default_rng(2)
    data = rng.standard_normal(200_000)
    if order != "random":
        data = np.sort(data)[:: 1 if order == "ascending" else -1]
    s = QuantileSummary(eps, compress_thres=int(2 / eps), head_size=10_000)
    sizes = []
    for chunk in np.array_split(data, 50):
        s.update(chunk)
        sizes.append(s.size)
    assert max(sizes) <= 3 / eps
    s.compress()
    assert s.size <= 2 / eps
    assert s.rank_error_bound <= math.floor(eps * len(data))
    assert_rank_guarantee(s, data)


def test_default_thresholds_keep_size_below_compress_thres_plus_one_block() -> None:
    rng = np.random.default_rng(3)
    s = QuantileSummary()  # FATE defaults: error 0.001, compress_thres 10_000, head_size 10_000
    for _ in range(20):
        s.update(rng.standard_normal(10_000))
        assert s.size <= 10_000 + 911


@pytest.mark.parametrize("compress_thres", [200, 100_000])
def test_merging_many_summaries_keeps_the_total_budget(compress_thres: int) -> None:
    # 12 summaries of 5k values, merged pairwise. Without a compress after merging (a threshold
    # above the merged size) the bound is at most the sum of the inputs' bounds; with one, the
    # compress may spend any slack up to floor(ε·60k), never more.
    rng = np.random.default_rng(4)
    blocks = [rng.standard_normal(5_000) + i % 3 for i in range(12)]
    summaries = []
    for block in blocks:
        s = QuantileSummary(0.01, compress_thres=compress_thres, head_size=1_000)
        s.update(block)
        s.compress()
        summaries.append(s)
    bounds = [s.rank_error_bound for s in summaries]
    sizes = [s.size for s in summaries]
    while len(summaries) > 1:
        pairs = len(summaries) // 2
        merged_pairs = [summaries[2 * i].merge(summaries[2 * i + 1]) for i in range(pairs)]
        summaries = merged_pairs + summaries[2 * pairs :]
    merged = summaries[0]
    if compress_thres > merged.size:
        assert merged.rank_error_bound <= sum(bounds)
    # Each input used its whole budget, so merging leaves no slack to drop entries: the size is
    # at most the sum of the inputs' sizes (documented), never more.
    assert merged.size <= sum(sizes)
    assert merged.rank_error_bound <= math.floor(0.01 * 60_000)
    assert_rank_guarantee(merged, np.concatenate(blocks))
    assert_entries_valid(merged, np.concatenate(blocks))


def test_merge_leaves_inputs_unchanged_and_takes_the_larger_error() -> None:
    a = QuantileSummary(0.01, head_size=50)
    b = QuantileSummary(0.05, head_size=50)
    a.update(np.arange(120.0))
    b.update(np.arange(30.0) + 0.5)
    before = (a.count, a.entries[0].tolist(), b.count, b.entries[0].tolist())
    m = a.merge(b)
    assert (a.count, a.entries[0].tolist(), b.count, b.entries[0].tolist()) == before
    assert m.count == 150 and m.error == 0.05
    assert_rank_guarantee(m, np.r_[np.arange(120.0), np.arange(30.0) + 0.5])
    empty = QuantileSummary()
    assert_rank_guarantee(empty.merge(a), np.arange(120.0))


def test_buffered_values_count_and_are_queried() -> None:
    s = QuantileSummary(0.1, head_size=1_000)
    s.update([3.0, 1.0, 2.0])
    assert s.count == 3 and s.size == 0
    assert s.query([0.0, 0.5, 1.0]).tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"error": -0.1}, "error"),
        ({"error": 1.0}, "error"),
        ({"error": "0.1"}, "error"),
        ({"compress_thres": 0}, "compress_thres"),
        ({"head_size": 2.5}, "head_size"),
        ({"head_size": True}, "head_size"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        QuantileSummary(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bad_values_and_queries_are_refused() -> None:
    s = QuantileSummary()
    with pytest.raises(DataError) as err:
        s.query([0.5])
    assert err.value.field == "count"
    for bad in ([1.0, np.nan], [np.inf]):
        with pytest.raises(DataError) as err:
            s.update(bad)
        assert err.value.field == "values"
    s.update([1.0])
    for q in ([-0.01], [1.5], [np.nan]):
        with pytest.raises(ConfigError) as cerr:
            s.query(q)
        assert cerr.value.field == "quantiles"
    with pytest.raises(ConfigError):
        s.merge("not a summary")  # type: ignore[arg-type]
