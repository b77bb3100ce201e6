"""Optimal binning: crafted counts with an obvious answer, an O(n²) reference merger written here,
the constraints (mixture, min_bin_pct, max_bin_pct), the parameters and the speed."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.feature.optimal import OptimalBinningParams, merge_bins, optimal_groups

MERGING = ("iv", "gini", "chi_square")


def params(metric: str = "iv", **kw: object) -> OptimalBinningParams:
    return OptimalBinningParams.from_dict({"metric_method": metric, "min_bin_pct": 0.0, **kw})


def group_counts(groups: list[int], counts: list[int]) -> list[int]:
    bounds = [-1, *groups]
    return [sum(counts[bounds[g] + 1 : bounds[g + 1] + 1]) for g in range(len(groups))]


# --- the reference: recompute every adjacent pair's cost at every step ---------------------------


def reference_groups(
    events: list[int],
    non_events: list[int],
    bin_num: int,
    metric: str,
    min_pct: float,
    max_pct: float,
    mixture: bool,
    a: float = 0.5,
) -> list[int]:
    # Each bin: [its last fine bin, events, non-events].
    bins = [[i, int(e), int(n)] for i, (e, n) in enumerate(zip(events, non_events, strict=True))]
    big_e, big_n = sum(events), sum(non_events)
    samples = big_e + big_n
    min_item = math.ceil(min_pct * samples - 1e-9)
    max_item = math.floor(max_pct * samples + 1e-9)

    def iv_of(e: int, n: int) -> float:
        de, dn = max(big_e, 1), max(big_n, 1)
        if e == 0 or n == 0:
            er, nr = (e + a) / de, (n + a) / dn
        else:
            er, nr = e / de, n / dn
        return (er - nr) * math.log(er / nr)

    def weighted_gini(e: int, n: int) -> Fraction:
        t = e + n
        return t * (1 - Fraction(e, t) ** 2 - Fraction(n, t) ** 2) if t else Fraction(0)

    def cost(left: list[int], right: list[int]) -> float | Fraction:
        el, nl, er, nr = left[1], left[2], right[1], right[2]
        e, n = el + er, nl + nr
        if e + n == 0:
            return -math.inf
        if metric == "iv":
            return iv_of(el, nl) + iv_of(er, nr) - iv_of(e, n)
        if metric == "gini":
            return weighted_gini(e, n) - weighted_gini(el, nl) - weighted_gini(er, nr)
        if e == 0 or n == 0:
            return -math.inf
        if el + nl == 0 or er + nr == 0:
            return Fraction(0)
        chi = Fraction(0)  # Pearson: sum over the 2x2 cells of (observed - expected)² / expected
        for observed, row_total, col_total in [
            (el, el + nl, e),
            (nl, el + nl, n),
            (er, er + nr, e),
            (nr, er + nr, n),
        ]:
            expected = Fraction(row_total * col_total, e + n)
            chi += (observed - expected) ** 2 / expected
        return chi

    def unmixed(b: list[int]) -> bool:
        return b[1] == 0 or b[2] == 0

    def small(b: list[int]) -> bool:
        return b[1] + b[2] < min_item

    def phase(bad: object, both: bool) -> None:
        while True:
            if bad is None:
                if len(bins) <= bin_num:
                    return
            elif not any(bad(b) for b in bins):  # type: ignore[operator]
                return
            options = []
            for i in range(len(bins) - 1):
                left, right = bins[i], bins[i + 1]
                if left[1] + left[2] + right[1] + right[2] > max_item:
                    continue
                if bad is not None:
                    flags = (bad(left), bad(right))  # type: ignore[operator]
                    if not (all(flags) if both else any(flags)):
                        continue
                options.append((cost(left, right), i))
            if not options:
                return
            _, i = min(options)
            left, right = bins[i], bins[i + 1]
            bins[i : i + 2] = [[right[0], left[1] + right[1], left[2] + right[2]]]

    if mixture:
        phase(unmixed, True)
        phase(unmixed, False)
    phase(small, True)
    phase(small, False)
    phase(None, False)
    return [b[0] for b in bins]


@pytest.mark.parametrize("metric", MERGING)
def test_equals_the_reference_on_random_counts(metric: str) -> None:
    rng = np.random.default_rng(11)
    for case in range(120):
        # Prepare: small counts, so empty, unmixed, small and tied bins are common.
        m = int(rng.integers(1, 30))
        high = int(rng.choice([3, 8, 40]))
        events = rng.integers(0, high, m).tolist()
        non_events = rng.integers(0, high, m).tolist()
        bin_num = int(rng.integers(1, 9))
        min_pct = float(rng.choice([0.0, 0.05, 0.1, 0.25]))
        max_pct = float(rng.choice([1.0, 1.0, 0.5, 0.35]))
        if math.ceil(1 / max_pct) > bin_num:
            max_pct = 1.0
        mixture = bool(rng.integers(0, 2))
        p = params(metric, min_bin_pct=min_pct, max_bin_pct=max_pct, mixture=mixture)
        # Execute
        got = optimal_groups(np.array(events), np.array(non_events), bin_num, p)
        # Assert
        want = reference_groups(events, non_events, bin_num, metric, min_pct, max_pct, mixture)
        assert got == want, f"case {case}: {events} {non_events} bin_num={bin_num} {p}"


# --- crafted counts ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", MERGING)
def test_the_pair_with_equal_event_rates_merges_first(metric: str) -> None:
    # Bins 2 and 3 have the same event rate (1/4): merging them loses no IV, adds no Gini
    # impurity, and their chi-square is 0; every other pair differs.
    events = [18, 2, 5, 10, 16]
    non_events = [2, 18, 15, 30, 4]
    assert optimal_groups(np.array(events), np.array(non_events), 4, params(metric)) == [0, 1, 3, 4]


@pytest.mark.parametrize("metric", MERGING)
def test_the_most_similar_pair_merges_when_none_is_equal(metric: str) -> None:
    # Event rates 0.9, 0.1, 0.5, 0.55: bins 2 and 3 are by far the closest.
    events = [90, 10, 50, 55]
    non_events = [10, 90, 50, 45]
    assert optimal_groups(np.array(events), np.array(non_events), 3, params(metric)) == [0, 1, 3]
    # Down to two bins: the low-rate bin joins the middle bins, the 0.9 bin stays alone.
    assert optimal_groups(np.array(events), np.array(non_events), 2, params(metric)) == [0, 3]


def test_iv_loss_is_what_is_minimised() -> None:
    # IV loss of each pair computed with woe_iv; the cheapest pair must be the one merged.
    from fedloom.ml.feature.woe import woe_iv

    events = np.array([30, 12, 40, 9, 25])
    non_events = np.array([10, 30, 20, 35, 28])
    base = woe_iv(events, non_events).iv
    losses = []
    for i in range(4):
        e = np.concatenate([events[:i], [events[i] + events[i + 1]], events[i + 2 :]])
        n = np.concatenate([non_events[:i], [non_events[i] + non_events[i + 1]], non_events[i + 2 :]])
        losses.append(base - woe_iv(e, n).iv)
    best = int(np.argmin(losses))
    want = [g for g in range(5) if g != best]
    assert optimal_groups(events, non_events, 4, params("iv")) == want


def test_ties_go_to_the_left_most_pair() -> None:
    # Every bin has the same rate: every merge costs 0 and the left-most pair merges each time.
    ones = np.ones(8, dtype=int)
    for metric in MERGING:
        assert optimal_groups(ones, ones, 4, params(metric)) == [4, 5, 6, 7], metric


def test_chi_square_merges_a_pure_pair_first() -> None:
    # Bins 0 and 1 hold events only: FATE scores their merge -inf, before the equal-rate pair.
    events = [5, 7, 10, 10, 1]
    non_events = [0, 0, 10, 10, 30]
    got = optimal_groups(np.array(events), np.array(non_events), 4, params("chi_square", mixture=False))
    assert got == [1, 2, 3, 4]


def test_ks_cuts_where_the_distributions_differ_most() -> None:
    # Cumulative event share minus non-event share peaks after bin 2.
    events = [1, 1, 1, 20, 20, 20]
    non_events = [20, 20, 20, 1, 1, 1]
    assert optimal_groups(np.array(events), np.array(non_events), 2, params("ks")) == [2, 5]


def test_ks_two_bins_is_the_best_single_cut_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(30):
        events = rng.integers(1, 50, 20)
        non_events = rng.integers(1, 50, 20)
        got = optimal_groups(events, non_events, 2, params("ks"))
        ks = [
            abs(events[: j + 1].sum() / events.sum() - non_events[: j + 1].sum() / non_events.sum())
            for j in range(19)
        ]
        assert got == [int(np.argmax(ks)), 19]


def test_ks_respects_min_bin_pct_and_mixture() -> None:
    rng = np.random.default_rng(5)
    for _ in range(30):
        events = rng.integers(0, 6, 60)
        non_events = rng.integers(0, 6, 60)
        got = optimal_groups(events, non_events, 8, params("ks", min_bin_pct=0.1))
        minimum = math.ceil(0.1 * (events.sum() + non_events.sum()))
        assert len(got) <= 8 and got[-1] == 59 and got == sorted(set(got))
        assert min(group_counts(got, (events + non_events).tolist())) >= minimum
        assert all(c > 0 for c in group_counts(got, events.tolist()))
        assert all(c > 0 for c in group_counts(got, non_events.tolist()))


def test_ks_without_an_acceptable_cut_keeps_one_bin() -> None:
    # Only events: no range can be split (FATE would force a middle cut).
    assert optimal_groups(np.array([3, 4, 5]), np.array([0, 0, 0]), 3, params("ks")) == [2]


# --- constraints -----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [*MERGING, "ks"])
def test_shape_of_the_result(metric: str) -> None:
    rng = np.random.default_rng(17)
    for _ in range(20):
        m = int(rng.integers(1, 200))
        events = rng.integers(0, 20, m)
        non_events = rng.integers(0, 20, m)
        bin_num = int(rng.integers(1, 12))
        got = optimal_groups(events, non_events, bin_num, OptimalBinningParams(metric_method=metric))
        assert 1 <= len(got) <= bin_num
        assert got == sorted(set(got)) and got[-1] == m - 1 and got[0] >= 0


@pytest.mark.parametrize("metric", MERGING)
def test_min_bin_pct_and_mixture_are_met(metric: str) -> None:
    rng = np.random.default_rng(23)
    for _ in range(30):
        events = rng.integers(0, 4, 100)
        non_events = rng.integers(0, 4, 100)
        events[0] += 1  # both labels present, so mixture is reachable
        non_events[0] += 1
        p = params(metric, min_bin_pct=0.08)
        got = optimal_groups(events, non_events, 10, p)
        e = group_counts(got, events.tolist())
        n = group_counts(got, non_events.tolist())
        minimum = math.ceil(0.08 * (events.sum() + non_events.sum()))
        assert min(a + b for a, b in zip(e, n, strict=True)) >= minimum
        assert all(a > 0 and b > 0 for a, b in zip(e, n, strict=True))


def test_min_bin_pct_merges_a_small_bin_even_below_bin_num() -> None:
    events = [10, 1, 10, 10]
    non_events = [10, 0, 10, 10]  # bin 1 holds 1 row of 61 (< 5%) and lacks non-events
    got = optimal_groups(
        np.array(events), np.array(non_events), 10, params("iv", min_bin_pct=0.05, mixture=False)
    )
    assert len(got) == 3
    assert not (0 in got and 1 in got)  # fine bin 1 is not a bin of its own
    assert optimal_groups(
        np.array(events), np.array(non_events), 10, params("iv", min_bin_pct=0.0, mixture=False)
    ) == [0, 1, 2, 3]


def test_mixture_merges_unmixed_bins() -> None:
    events = [3, 0, 4, 4]
    non_events = [3, 5, 4, 4]
    with_mixture = optimal_groups(np.array(events), np.array(non_events), 10, params("gini"))
    assert len(with_mixture) == 3
    assert all(c > 0 for c in group_counts(with_mixture, events))
    without = optimal_groups(np.array(events), np.array(non_events), 10, params("gini", mixture=False))
    assert without == [0, 1, 2, 3]


@pytest.mark.parametrize("metric", MERGING)
def test_no_merge_goes_above_max_bin_pct(metric: str) -> None:
    rng = np.random.default_rng(29)
    for _ in range(20):
        events = rng.integers(0, 10, 80)
        non_events = rng.integers(0, 10, 80)
        p = params(metric, max_bin_pct=0.3, min_bin_pct=0.05)
        got = optimal_groups(events, non_events, 5, p)
        sizes = group_counts(got, (events + non_events).tolist())
        bounds = [-1, *got]
        limit = math.floor(0.3 * (events.sum() + non_events.sum()))
        for g, size in enumerate(sizes):
            if bounds[g + 1] - bounds[g] > 1:  # a merged bin
                assert size <= limit


def test_max_bin_pct_can_leave_more_than_bin_num_bins() -> None:
    # Four bins of 25 rows; with max_bin_pct 0.4 no two can merge, so four remain (FATE's rule).
    p = params("iv", max_bin_pct=0.4, mixture=False)
    assert optimal_groups(np.array([5, 10, 15, 20]), np.array([20, 15, 10, 5]), 3, p) == [0, 1, 2, 3]


def test_totals_include_the_missing_rows() -> None:
    # 40 value rows and 60 missing rows: min_bin_pct 0.1 asks for 10 rows, not 4.
    events = np.array([3, 3, 3, 3, 3, 3])
    non_events = np.array([3, 3, 3, 3, 4, 4])
    alone = optimal_groups(events, non_events, 10, params("iv", min_bin_pct=0.1))
    with_missing = optimal_groups(events, non_events, 10, params("iv", min_bin_pct=0.1), totals=(50, 50))
    assert alone == [0, 1, 2, 3, 4, 5]
    assert len(with_missing) == 3
    with pytest.raises(DataError) as err:
        optimal_groups(events, non_events, 10, params(), totals=(1, 1))
    assert err.value.field == "totals"


def test_no_fine_bins() -> None:
    assert optimal_groups(np.array([], dtype=int), np.array([], dtype=int), 5, params()) == []


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError) as err:
        optimal_groups(np.array([1]), np.array([1]), 0, params())
    assert err.value.field == "bin_num"
    with pytest.raises(ConfigError) as err:
        optimal_groups(np.array([1]), np.array([1]), 3, params(max_bin_pct=0.3))
    assert err.value.field == "optimal_binning_param.max_bin_pct"
    with pytest.raises(DataError) as err:
        optimal_groups(np.array([1, 2]), np.array([1]), 3, params())
    assert err.value.field == "non_event_count"


# --- parameters ----------------------------------------------------------------------------------


def test_defaults_are_fates() -> None:
    p = OptimalBinningParams()
    assert p.model_dump() == {
        "metric_method": "iv",
        "min_bin_pct": 0.05,
        "max_bin_pct": 1.0,
        "init_bin_nums": 1000,
        "mixture": True,
        "init_bucket_method": "quantile",
    }


def test_fate_spellings() -> None:
    p = OptimalBinningParams.from_dict({"metric_method": "Chi-Square", "init_bucket_method": "BUCKET"})
    assert p.metric_method == "chi_square" and p.init_bucket_method == "bucket"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"metric_method": "entropy"}, "metric_method"),
        ({"min_bin_pct": 1.5}, "min_bin_pct"),
        ({"min_bin_pct": 0.3, "max_bin_pct": 0.2}, "max_bin_pct"),
        ({"max_bin_pct": 0}, "max_bin_pct"),
        ({"mixture": "yes"}, "mixture"),
        ({"init_bin_nums": 2.5}, "init_bin_nums"),
        ({"init_bucket_method": "kmeans"}, "init_bucket_method"),
        ({"metric": "iv"}, "metric"),
    ],
)
def test_bad_parameters_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        OptimalBinningParams.from_dict(values, component="hetero_feature_binning_0")
    assert err.value.field == field
    assert err.value.component == "hetero_feature_binning_0"


# --- merge_bins ----------------------------------------------------------------------------------


def test_merge_bins_takes_the_split_points_at_the_group_ends() -> None:
    bins_mod = pytest.importorskip("fedloom.ml.feature.bins")
    fine = bins_mod.ColumnBins(name="x0", split_points=(1.0, 2.0, 3.0, 4.0, 5.0), has_missing=True)
    merged = merge_bins(fine, [1, 2, 4])
    assert merged.split_points == (2.0, 3.0, 5.0)
    assert merged.has_missing and merged.name == "x0"
    assert merged.n_bins == 4 and merged.missing_bin == 3
    # Every value lands in the merged bin of its fine bin; NaN stays in the missing bin.
    values = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 9.0, np.nan])
    group_of_fine = np.array([0, 0, 1, 2, 2])
    fine_index = fine.index(values)
    want = np.where(
        fine_index == fine.n_value_bins, merged.n_value_bins, group_of_fine[np.minimum(fine_index, 4)]
    )
    np.testing.assert_array_equal(merged.index(values), want)


def test_merge_bins_end_to_end_with_optimal_groups() -> None:
    bins_mod = pytest.importorskip("fedloom.ml.feature.bins")
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    y = (x + rng.normal(scale=0.7, size=2000) > 0.3).astype(int)
    x[:50] = np.nan
    (fine,) = bins_mod.fit_bins(x[:, None], ["x"], method="quantile", bin_num=100)
    index = fine.index(x)
    valued = index < fine.n_value_bins
    events = np.bincount(index[valued], weights=y[valued], minlength=fine.n_value_bins)
    counts = np.bincount(index[valued], minlength=fine.n_value_bins)
    groups = optimal_groups(events.astype(int), (counts - events).astype(int), 6, OptimalBinningParams())
    merged = merge_bins(fine, groups)
    assert merged.n_value_bins == len(groups) <= 6 and merged.has_missing
    assert merged.split_points == tuple(fine.split_points[g] for g in groups)
    coarse = merged.index(x)
    assert np.all(coarse[np.isnan(x)] == merged.n_value_bins)


def test_merge_bins_rejects_bad_groups() -> None:
    bins_mod = pytest.importorskip("fedloom.ml.feature.bins")
    fine = bins_mod.ColumnBins(name="x0", split_points=(1.0, 2.0, 3.0))
    for bad in ([0, 1], [1, 0, 2], [-1, 2], [], [0, 0, 2]):
        with pytest.raises(DataError) as err:
            merge_bins(fine, bad)
        assert err.value.field == "last_fine"
    categorical = bins_mod.ColumnBins(name="c", split_points=(), categories=(1.0, 2.0, 3.0))
    assert merge_bins(categorical, [0, 1, 2]) is categorical
    with pytest.raises(DataError):
        merge_bins(categorical, [1, 2])


# --- speed ---------------------------------------------------------------------------------------


def test_min_bin_pct_is_not_spoiled_by_float_rounding() -> None:
    # 0.07 · 100 is 7.000000000000001 in floating point: a 7-row bin of 100 rows is not small.
    events = np.array([3, 10, 20, 5])
    non_events = np.array([4, 21, 11, 26])
    assert optimal_groups(events, non_events, 10, params("iv", min_bin_pct=0.07)) == [0, 1, 2, 3]
