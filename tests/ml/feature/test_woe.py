"""WOE / IV against an independent per-bin loop written here (FATE 1.x's rules)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.feature.woe import BinStats, one_vs_rest, woe_iv

TOL = {"rtol": 1e-12, "atol": 1e-12}


def reference(events: list[int], non_events: list[int], a: float = 0.5) -> dict[str, list[float] | float]:
    """FATE's rule bin by bin, in plain Python."""
    event_total = sum(events) or 1
    non_event_total = sum(non_events) or 1
    out: dict[str, list[float] | float] = {"event_rate": [], "non_event_rate": [], "woe": [], "iv_array": []}
    iv = 0.0
    for e, n in zip(events, non_events, strict=True):
        if e == 0 or n == 0:
            er, nr = (e + a) / event_total, (n + a) / non_event_total
        else:
            er, nr = e / event_total, n / non_event_total
        w = math.log(er / nr)
        out["event_rate"].append(er)  # type: ignore[union-attr]
        out["non_event_rate"].append(nr)  # type: ignore[union-attr]
        out["woe"].append(w)  # type: ignore[union-attr]
        out["iv_array"].append((er - nr) * w)  # type: ignore[union-attr]
        iv += (er - nr) * w
    out["iv"] = iv
    return out


def assert_matches(stats: BinStats, events: list[int], non_events: list[int], a: float = 0.5) -> None:
    ref = reference(events, non_events, a)
    assert stats.event_count.dtype == np.int64 and stats.non_event_count.dtype == np.int64
    assert stats.event_count.tolist() == events
    assert stats.non_event_count.tolist() == non_events
    for name in ("event_rate", "non_event_rate", "woe", "iv_array"):
        np.testing.assert_allclose(getattr(stats, name), ref[name], **TOL, err_msg=name)
    assert stats.iv == pytest.approx(ref["iv"], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_random_counts_match_the_loop(seed: int) -> None:
    # Prepare
    rng = np.random.default_rng(seed)
    events = rng.integers(0, 50, size=12).tolist()
    non_events = rng.integers(0, 80, size=12).tolist()
    # Execute
    stats = woe_iv(np.array(events), np.array(non_events), adjustment_factor=0.3)
    # Assert
    assert_matches(stats, events, non_events, 0.3)


def test_known_values_by_hand() -> None:
    stats = woe_iv([3, 1], [1, 3])
    # rates 3/4 vs 1/4 and 1/4 vs 3/4: woe = ±ln 3, iv = 2 · (1/2 · ln 3)
    np.testing.assert_allclose(stats.woe, [math.log(3), -math.log(3)], **TOL)
    assert stats.iv == pytest.approx(math.log(3), rel=1e-12)


def test_zero_event_bin_adjusts_both_of_its_rates_only() -> None:
    stats = woe_iv([4, 0, 6], [5, 7, 8], adjustment_factor=0.5)
    assert stats.event_rate[1] == pytest.approx(0.5 / 10, rel=1e-15)
    assert stats.non_event_rate[1] == pytest.approx(7.5 / 20, rel=1e-15)
    # The other bins and the totals are not adjusted.
    assert stats.event_rate[0] == pytest.approx(4 / 10, rel=1e-15)
    assert stats.non_event_rate[2] == pytest.approx(8 / 20, rel=1e-15)
    assert np.all(np.isfinite(stats.woe))
    assert_matches(stats, [4, 0, 6], [5, 7, 8])


def test_zero_non_event_bin() -> None:
    stats = woe_iv([4, 3, 6], [5, 0, 8], adjustment_factor=0.25)
    assert stats.event_rate[1] == pytest.approx(3.25 / 13, rel=1e-15)
    assert stats.non_event_rate[1] == pytest.approx(0.25 / 13, rel=1e-15)
    assert stats.woe[1] > 0
    assert_matches(stats, [4, 3, 6], [5, 0, 8], 0.25)


def test_empty_bin() -> None:
    stats = woe_iv([4, 0, 6], [5, 0, 8])
    assert stats.event_rate[1] == pytest.approx(0.5 / 10)
    assert stats.non_event_rate[1] == pytest.approx(0.5 / 13)
    assert_matches(stats, [4, 0, 6], [5, 0, 8])


def test_all_event_column_divides_by_one() -> None:
    # No non-events at all: the non-event total is taken as 1 and every bin is adjusted.
    stats = woe_iv([2, 5, 3], [0, 0, 0])
    np.testing.assert_allclose(stats.event_rate, [2.5 / 10, 5.5 / 10, 3.5 / 10], **TOL)
    np.testing.assert_allclose(stats.non_event_rate, [0.5, 0.5, 0.5], **TOL)
    assert np.all(np.isfinite(stats.woe))
    assert_matches(stats, [2, 5, 3], [0, 0, 0])


def test_float_counts_from_decryption_are_accepted() -> None:
    stats = woe_iv(np.array([3.0, 1.0]), np.array([1.0, 3.0]))
    assert stats.event_count.tolist() == [3, 1]


def test_no_bins() -> None:
    stats = woe_iv([], [])
    assert stats.n_bins == 0 and stats.iv == 0.0


def test_one_vs_rest_three_classes_equals_binary_computations() -> None:
    # Prepare
    rng = np.random.default_rng(7)
    label_counts = rng.integers(0, 30, size=(6, 3))
    label_counts[2, 1] = 0  # a bin without class 1
    label_counts[4, :] = [9, 0, 0]  # a bin with class 0 only: no non-events for class 0
    # Execute
    per_class = one_vs_rest(label_counts, adjustment_factor=0.4)
    # Assert
    assert len(per_class) == 3
    for k in range(3):
        events = [int(row[k]) for row in label_counts]
        rest = [int(sum(row)) - int(row[k]) for row in label_counts]
        assert_matches(per_class[k], events, rest, 0.4)
        separate = woe_iv(events, rest, 0.4)
        np.testing.assert_array_equal(per_class[k].woe, separate.woe)
        assert per_class[k].iv == separate.iv


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1, max_size=30),
    st.floats(0.01, 1.0),
)
def test_iv_is_non_negative_and_the_sum_of_its_terms(bins: list[tuple[int, int]], a: float) -> None:
    events = [b[0] for b in bins]
    non_events = [b[1] for b in bins]
    stats = woe_iv(events, non_events, a)
    assert np.all(np.isfinite(stats.woe))
    assert np.all(stats.iv_array >= 0)
    assert stats.iv >= 0
    assert stats.iv == pytest.approx(math.fsum(stats.iv_array.tolist()), rel=1e-12, abs=1e-15)
    assert_matches(stats, events, non_events, a)


def test_dict_round_trip_through_json() -> None:
    stats = woe_iv([4, 0, 6], [5, 7, 8])
    back = BinStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    for name in ("event_count", "non_event_count", "event_rate", "non_event_rate", "woe", "iv_array"):
        np.testing.assert_array_equal(getattr(back, name), getattr(stats, name))
    assert back.iv == stats.iv
    assert back.event_count.dtype == np.int64
    assert isinstance(stats.to_dict()["event_count"][0], int)  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"woe": None}, "woe"),
        ({"event_count": [1, -2, 3]}, "event_count"),
        ({"non_event_count": [1.5, 2, 3]}, "non_event_count"),
        ({"event_rate": [0.1, "x", 0.3]}, "event_rate"),
        ({"iv_array": [0.1, 0.2]}, "iv_array"),
        ({"iv": float("nan")}, "iv"),
        ({"iv": True}, "iv"),
        ({"non_event_rate": [True, 0.1, 0.2]}, "non_event_rate"),
    ],
)
def test_from_dict_names_the_bad_field(change: dict[str, object], field: str) -> None:
    d = woe_iv([4, 0, 6], [5, 7, 8]).to_dict()
    d.update(change)
    with pytest.raises(DataError) as err:
        BinStats.from_dict(d)
    assert err.value.field == field


def test_from_dict_missing_key() -> None:
    d = woe_iv([1], [1]).to_dict()
    del d["non_event_rate"]
    with pytest.raises(DataError) as err:
        BinStats.from_dict(d)
    assert err.value.field == "non_event_rate"


@pytest.mark.parametrize(
    ("events", "non_events", "field"),
    [
        ([1, 2], [1, 2, 3], "non_event_count"),
        ([1, -1], [1, 2], "event_count"),
        ([1, 2], [1, 2.5], "non_event_count"),
        ([[1, 2]], [[1, 2]], "event_count"),
        (["a"], [1], "event_count"),
    ],
)
def test_bad_counts_are_data_errors(events: object, non_events: object, field: str) -> None:
    with pytest.raises(DataError) as err:
        woe_iv(events, non_events)  # type: ignore[arg-type]
    assert err.value.field == field


@pytest.mark.parametrize("factor", [0, -0.5, float("inf"), True])
def test_bad_adjustment_factor(factor: float) -> None:
    with pytest.raises(ConfigError) as err:
        woe_iv([1, 0], [0, 1], adjustment_factor=factor)
    assert err.value.field == "adjustment_factor"


def test_one_vs_rest_needs_a_matrix() -> None:
    with pytest.raises(DataError) as err:
        one_vs_rest(np.array([1, 2, 3]))
    assert err.value.field == "label_counts"
