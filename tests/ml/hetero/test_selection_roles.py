"""Hetero feature selection, guest and host as threads (in-memory transport), with binning models
built by hand in the contract's layout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fedloom.context import Context
from fedloom.core import GUEST, HOST
from fedloom.core.errors import DataError, MessageError
from fedloom.data import Frame
from fedloom.ml.hetero.selection import HeteroSelectionGuest, HeteroSelectionHost, SelectionModel
from fedloom.ml.hetero.selection.messages import FILTER, HOST_CANDIDATES, KEPT_COLUMNS
from fedloom.testing import run_parties

RNG = np.random.default_rng(3)
N = 40
GUEST_IV = {"g0": 0.02, "g1": 0.40, "g2": 0.15, "g3": 0.08}
HOST_IV = {"h0": 0.30, "h1": 0.01, "h2": 0.55, "h3": 0.12, "h4": 0.09}
ANON = {c: f"host_10000_{i}" for i, c in enumerate(HOST_IV)}


def guest_frame() -> Frame:
    x = RNG.normal(size=(N, len(GUEST_IV)))
    return Frame([f"id{i}" for i in range(N)], x, list(GUEST_IV), RNG.integers(0, 2, N), label_name="y")


def host_frame(constant: str | None = None) -> Frame:
    x = RNG.normal(size=(N, len(HOST_IV)))
    if constant is not None:
        x[:, list(HOST_IV).index(constant)] = 2.0
    return Frame([f"id{i}" for i in range(N)], x, list(HOST_IV))


def guest_binning(host_iv: dict[str, float] = HOST_IV) -> dict[str, Any]:
    return {
        "method": "quantile",
        "bin_num": 10,
        "classes": [0, 1],
        "multi_class": False,
        "columns": {
            c: {"bins": {}, "iv": v, "stats": None, "woe_from_guest": False} for c, v in GUEST_IV.items()
        },
        "host_columns": {ANON[c]: {"party": "host-10000", "n_bins": 10, "iv": v} for c, v in host_iv.items()},
        "work": {},
    }


def host_binning() -> dict[str, Any]:
    return {
        "method": "quantile",
        "bin_num": 10,
        "classes": None,
        "multi_class": False,
        "columns": {c: {"bins": {}, "iv": None, "stats": None, "woe_from_guest": False} for c in HOST_IV},
        "anonymous": dict(ANON),
        "work": {},
    }


def run(params: dict[str, Any], gframe: Frame, hframe: Frame) -> tuple[SelectionModel, SelectionModel]:
    out = run_parties(
        {
            GUEST: lambda ctx: HeteroSelectionGuest(params).fit(ctx, gframe, guest_binning()),
            HOST: lambda ctx: HeteroSelectionHost(params).fit(ctx, hframe, host_binning()),
        }
    )
    return out[GUEST], out[HOST]


def top(ivs: dict[str, float], k: int) -> set[str]:
    return set(sorted(ivs, key=lambda c: -ivs[c])[:k])


def test_federated_top_k_ranks_guest_and_host_columns_together() -> None:
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 4}}
    gframe, hframe = guest_frame(), host_frame()

    guest, host = run(params, gframe, hframe)

    # independent: the 4 highest IVs over both parties
    best = top({**GUEST_IV, **HOST_IV}, 4)
    assert set(guest.kept) == best & set(GUEST_IV) == {"g1", "g2"}
    assert set(host.kept) == best & set(HOST_IV) == {"h0", "h2"}
    assert host.kept == ("h0", "h2")  # input order
    assert guest.filters[0].hosts["host:10000"]["kept"] == [ANON["h0"], ANON["h2"]]
    assert list(host.transform(hframe).feature_names) == ["h0", "h2"]


def test_threshold_with_host_thresholds_and_percentile() -> None:
    gframe, hframe = guest_frame(), host_frame()
    params = {
        "filter_methods": ["iv_value_thres"],
        "iv_value_param": {"value_threshold": 0.1, "host_thresholds": [0.2]},
    }

    guest, host = run(params, gframe, hframe)

    assert set(guest.kept) == {c for c, v in GUEST_IV.items() if v >= 0.1}
    assert set(host.kept) == {c for c, v in HOST_IV.items() if v >= 0.2}

    pct = {"filter_methods": ["iv_percentile"], "iv_percentile_param": {"percentile_threshold": 0.5}}
    guest, host = run(pct, gframe, hframe)
    best = top({**GUEST_IV, **HOST_IV}, 5)  # ceil(0.5 * 9)
    assert set(guest.kept) | set(host.kept) == best


def test_filters_apply_in_order_on_what_is_left() -> None:
    # the host's best column is constant: unique_value drops it before the IV ranking sees it
    gframe, hframe = guest_frame(), host_frame(constant="h2")
    params = {
        "filter_methods": ["unique_value", "iv_top_k", "manually"],
        "iv_top_k_param": {"k": 3},
        "manually_param": {"filter_out_names": ["g1"]},
    }

    guest, host = run(params, gframe, hframe)

    left = {c: v for c, v in {**GUEST_IV, **HOST_IV}.items() if c != "h2"}
    best = top(left, 3)  # g1, h0, g2
    assert [f.method for f in guest.filters] == ["unique_value", "iv_top_k", "manually"]
    assert host.filters[0].dropped == ("h2",)
    assert set(host.kept) == best & set(HOST_IV) == {"h0"}
    assert set(guest.kept) == (best & set(GUEST_IV)) - {"g1"} == {"g2"}


def test_select_col_indexes_keep_other_columns_untouched() -> None:
    gframe, hframe = guest_frame(), host_frame()
    params = {
        "select_col_indexes": [0, 1],
        "filter_methods": ["iv_filter"],
        "iv_param": {"filter_type": "threshold", "threshold": 0.1},
    }

    guest, host = run(params, gframe, hframe)

    assert guest.candidates == ("g0", "g1") and guest.kept == ("g1", "g2", "g3")
    assert host.candidates == ("h0", "h1") and host.kept == ("h0", "h2", "h3", "h4")


def test_keep_at_least_one_column_per_party() -> None:
    gframe, hframe = guest_frame(), host_frame()
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "threshold", "threshold": 0.5}}

    guest, host = run(params, gframe, hframe)

    assert guest.kept == ("g1",)  # none reaches 0.5: the best guest column stays
    assert host.kept == ("h2",)


def test_local_only_sends_nothing_and_hosts_keep_their_columns() -> None:
    gframe, hframe = guest_frame(), host_frame()
    params = {"filter_methods": ["iv_top_k"], "iv_top_k_param": {"k": 2, "local_only": True}}

    guest, host = run(params, gframe, hframe)  # run_parties fails on unread messages

    assert set(guest.kept) == top(GUEST_IV, 2)
    assert host.kept == tuple(HOST_IV)


def test_host_refuses_names_that_are_not_its_own() -> None:
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 2}}
    hframe = host_frame()

    def lying_guest(ctx: Context) -> None:
        fctx = FILTER.at(ctx, 0)
        fctx.recv(HOST_CANDIDATES)
        fctx.send(KEPT_COLUMNS, ["host_10000_0", "host_9999_3"])

    with pytest.raises(MessageError, match="not among the columns"):
        run_parties(
            {
                GUEST: lying_guest,
                HOST: lambda ctx: HeteroSelectionHost(params).fit(ctx, hframe, host_binning()),
            }
        )


def test_guest_refuses_host_names_its_binning_model_lacks() -> None:
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 2}}
    gframe = guest_frame()

    def lying_host(ctx: Context) -> None:
        FILTER.at(ctx, 0).send(HOST_CANDIDATES, ["host_10000_0", "x0"])

    with pytest.raises(MessageError, match="not among the columns"):
        run_parties(
            {
                GUEST: lambda ctx: HeteroSelectionGuest(params).fit(ctx, gframe, guest_binning()),
                HOST: lying_host,
            },
            check_addresses=False,
        )


def test_iv_filter_without_binning_model_or_iv_fails_naming_it() -> None:
    params = {"filter_methods": ["iv_filter"], "iv_param": {"select_federated": False}}
    gframe = guest_frame()
    from fedloom.core.errors import ConfigError

    with pytest.raises(ConfigError, match="isometric_model"):
        run_parties({GUEST: lambda ctx: HeteroSelectionGuest(params).fit(ctx, gframe, None)})
    bad = guest_binning()
    bad["columns"]["g0"]["iv"] = None
    with pytest.raises(DataError, match="no IV"):
        run_parties({GUEST: lambda ctx: HeteroSelectionGuest(params).fit(ctx, gframe, bad)})


def test_multi_class_iv_merge_in_guest() -> None:
    gframe = guest_frame()
    binning = guest_binning()
    for c, v in GUEST_IV.items():  # class "1" reverses the ranking
        binning["columns"][c]["iv"] = {"0": v, "1": 1 - v}
    base = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 1,
                                                          "select_federated": False}}  # fmt: skip

    def fit(merge: str) -> tuple[str, ...]:
        params = {**base, "iv_param": {**base["iv_param"], "mul_class_merge_type": merge}}
        return run_parties({GUEST: lambda ctx: HeteroSelectionGuest(params).fit(ctx, gframe, binning)})[
            GUEST
        ].kept

    assert fit("max") == ("g0",)  # max(0.02, 0.98)
    assert fit("min") == ("g1",)  # min(v, 1 - v) highest at 0.40
    assert fit("average") == ("g0",)  # every average is 0.5: the tie goes to the first column


def test_model_round_trip_and_transform_checks_schema() -> None:
    gframe, hframe = guest_frame(), host_frame()
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 4}}
    guest, _ = run(params, gframe, hframe)

    back = SelectionModel.from_dict(guest.to_dict())

    assert back == guest
    assert list(back.transform(gframe).feature_names) == list(guest.kept)
    with pytest.raises(DataError):
        back.transform(hframe)
