"""The HeteroFeatureBinning component, guest and host on threads over the in-memory transport.

What the component adds to the algorithm is checked here: the transformed data (bin indexes,
WOE, pass-through), the model artifact, applying a stored model without any message, and errors
named by component and field. Expected values are computed in the test, independently of the
product code: bin indexes from the stored split points with ``np.searchsorted`` (the contract:
the first bin whose upper bound is ``>= x``; above the last → the last bin; NaN → the missing
bin) and WOE / IV with pandas from the joined labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from binning_reference import expected_index, woe_iv
from tests.fate_jobs import DSL_V2

from fedloom.components import Env, Inputs, Outputs, Table, registry
from fedloom.components.feature_binning import (
    HeteroFeatureBinningGuestComponent,
    HeteroFeatureBinningHostComponent,
)
from fedloom.core import GUEST, HOST, ConfigError, DataError, Role
from fedloom.data import Frame
from fedloom.dsl import load_job
from fedloom.ml.hetero.binning import HeteroFeatureBinningParams
from fedloom.testing import as_party, run_parties

NAME = "hetero_feature_binning_0"
N = 240
BINNING = DSL_V2 / "hetero_feature_binning"
PLAIN = {"encrypt_param": {"method": "plain"}}
PAILLIER = {"encrypt_param": {"key_length": 1024}}


# -- data and runs ----------------------------------------------------------------------------------
def make_frames() -> tuple[Frame, Frame]:
    """Guest: a label, a numeric column, one with NaN, a categorical one; host: three numeric."""
    rng = np.random.default_rng(11)
    ids = [f"u{i:03d}" for i in range(N)]
    z = rng.normal(size=N)
    y = (z + rng.normal(scale=0.8, size=N) > 0).astype(np.int64)
    g0 = z + rng.normal(scale=0.5, size=N)
    g1 = rng.exponential(size=N)
    g1[rng.random(N) < 0.1] = np.nan
    g2 = rng.integers(0, 3, N).astype(np.float64)
    guest = Frame(ids, np.column_stack([g0, g1, g2]), ["x0", "x1", "x2"], y, label_name="y", table="t.g")
    h = np.column_stack([-z + rng.normal(size=N), rng.uniform(size=N), rng.normal(size=N) * 10])
    host = Frame(ids, h, ["x0", "x1", "x2"], table="t.h")  # same names as the guest's, as in FATE's data
    return guest, host


def frame_of(out: Outputs) -> Frame:
    """The component's data output (a Frame)."""
    data = out.data[0]
    assert isinstance(data, Frame)
    return data


def artifact(out: Outputs) -> dict[str, Any]:
    """The component's model output (the stored artifact)."""
    assert out.model is not None
    return dict(out.model)


def fitted(out: Outputs) -> dict[str, Any]:
    """The algorithm's part of the artifact: ``BinningModel.to_dict()``."""
    return cast(dict[str, Any], artifact(out)["model"])


def metrics(out: Outputs) -> dict[str, Any]:
    return dict(out.metrics)


def env(role: Role) -> Env:
    return Env(component=NAME, party=as_party(role), party_index=0, data_dir=Path("."))


def component(role: Role, params: dict[str, Any]) -> Any:
    cls = HeteroFeatureBinningGuestComponent if role == GUEST else HeteroFeatureBinningHostComponent
    return cls(HeteroFeatureBinningParams.from_dict(params), env(role))


def fit(guest_params: dict[str, Any], host_params: dict[str, Any]) -> dict[Role, Outputs]:
    guest, host = make_frames()
    fns = {
        GUEST: lambda ctx: component(GUEST, guest_params).run(ctx, Inputs(data={"data": [guest]})),
        HOST: lambda ctx: component(HOST, host_params).run(ctx, Inputs(data={"data": [host]})),
    }
    return run_parties(fns, timeout=120)


def apply(role: Role, data: Frame, model: dict[str, Any], slot: str = "models", **params: Any) -> Outputs:
    """Apply a stored model with no context at all: a run that sent or received would fail."""
    stored = json.loads(json.dumps(model))  # as the runner hands it over
    inputs = Inputs(data={"data": [data]})
    getattr(inputs, slot).append(stored)  # models or isometric_models
    return component(role, params).run(None, inputs)


@pytest.fixture(scope="module")
def frames() -> tuple[Frame, Frame]:
    return make_frames()


@pytest.fixture(scope="module")
def bin_num() -> dict[Role, Outputs]:
    """Quantile binning, both parties write bin indexes; Paillier as in FATE's confs."""
    params = {"bin_num": 5, "category_indexes": [2], **PAILLIER}
    return fit(params, {"bin_num": 5, **PAILLIER})


@pytest.fixture(scope="module")
def woe() -> dict[Role, Outputs]:
    """The guest writes WOE for x0 and x1; the host asks for the WOE of x1 and x2."""
    guest = {"bin_num": 6, "transform_param": {"transform_cols": [0, 1], "transform_type": "woe"}, **PLAIN}
    host = {"bin_num": 4, "transform_param": {"transform_cols": [1, 2], "transform_type": "woe"}, **PLAIN}
    return fit(guest, host)


# -- independent references ---------------------------------------------------------------------------
def n_bins(bins: dict[str, Any]) -> int:
    values = len(bins["categories"]) if bins.get("categories") is not None else len(bins["split_points"])
    return values + int(bool(bins.get("has_missing")))


# -- training -------------------------------------------------------------------------------------------
def test_bin_num_transform_writes_each_values_bin(
    bin_num: dict[Role, Outputs], frames: tuple[Frame, Frame]
) -> None:
    for role, raw in zip((GUEST, HOST), frames, strict=True):
        out = bin_num[role]
        got: Frame = frame_of(out)
        columns = fitted(out)["columns"]
        assert list(columns) == list(raw.feature_names)
        for j, name in enumerate(raw.feature_names):
            assert (got.features[:, j] == expected_index(columns[name]["bins"], raw.features[:, j])).all(), (
                name
            )
        # ids, label and names unchanged; bin indexes are small integers
        assert got.ids.tolist() == raw.ids.tolist() and got.feature_names == raw.feature_names
        if raw.label is None:
            assert got.label is None
        else:
            np.testing.assert_array_equal(got.label, raw.label)
        assert got.features.max() < 6 and (got.features == np.round(got.features)).all()
    guest_cols = fitted(bin_num[GUEST])["columns"]
    assert guest_cols["x1"]["bins"]["has_missing"] and not guest_cols["x0"]["bins"]["has_missing"]
    assert guest_cols["x2"]["bins"]["categories"] == [0.0, 1.0, 2.0]


def test_model_artifact_and_metrics(bin_num: dict[Role, Outputs], frames: tuple[Frame, Frame]) -> None:
    guest, host = bin_num[GUEST], bin_num[HOST]
    for role, out, raw in ((GUEST, guest, frames[0]), (HOST, host, frames[1])):
        art = artifact(out)
        assert set(art) == {"module", "role", "party", "params", "schema", "model"}
        assert (art["module"], art["role"], art["party"]) == (
            "HeteroFeatureBinning",
            role.value,
            str(as_party(role)),
        )
        assert art["schema"] == raw.schema
        assert art["params"]["bin_num"] == 5 and art["params"]["encrypt_param"]["key_length"] == 1024
        json.dumps(art)  # JSON-able as stored
        m = metrics(out)
        assert m["mode"] == "fit" and m["transform_type"] == "bin_num"
        assert m["rows"] == N and m["transformed"] == 3
    g_model, h_model = fitted(guest), fitted(host)
    # the guest knows the host's columns by anonymous name only, the host knows which is which
    assert set(g_model["host_columns"]) == set(h_model["anonymous"].values())
    assert all(name.startswith("host_10000_") for name in g_model["host_columns"])
    assert h_model["host_columns"] == {} and g_model["anonymous"] == {}
    # the work: the guest encrypts each row's label once and decrypts what the host sent
    g_work, h_work = metrics(guest)["work"], metrics(host)["work"]
    assert g_work["encryptions"] == N and h_work["encryptions"] == 0
    assert h_work["ciphertexts_received"] == N
    assert g_work["ciphertexts_received"] == h_work["ciphertexts_sent"] == g_work["decryptions"] > 0
    assert set(metrics(guest)["iv"]) == {"x0", "x1", "x2", *g_model["host_columns"]}


def test_guest_and_host_iv_equal_pandas(bin_num: dict[Role, Outputs], frames: tuple[Frame, Frame]) -> None:
    guest, host = frames
    y = np.asarray(guest.label)
    g_model = fitted(bin_num[GUEST])
    h_model = fitted(bin_num[HOST])
    for j, name in enumerate(guest.feature_names):
        bins = g_model["columns"][name]["bins"]
        w, iv = woe_iv(expected_index(bins, guest.features[:, j]), y, n_bins(bins))
        assert g_model["columns"][name]["iv"] == pytest.approx(iv, abs=1e-12, rel=1e-12)
        np.testing.assert_allclose(g_model["columns"][name]["stats"]["woe"], w, rtol=1e-12, atol=1e-12)
    for j, name in enumerate(host.feature_names):  # the host's split points, the guest's labels
        bins = h_model["columns"][name]["bins"]
        w, iv = woe_iv(expected_index(bins, host.features[:, j]), y, n_bins(bins))
        seen = g_model["host_columns"][h_model["anonymous"][name]]
        assert seen["n_bins"] == n_bins(bins)
        assert seen["iv"] == pytest.approx(iv, abs=1e-12, rel=1e-12)
        np.testing.assert_allclose(seen["stats"]["woe"], w, rtol=1e-12, atol=1e-12)


def test_woe_transform_writes_each_bins_woe(woe: dict[Role, Outputs], frames: tuple[Frame, Frame]) -> None:
    guest, host = frames
    g_out, h_out = woe[GUEST], woe[HOST]
    g_model, h_model = fitted(g_out), fitted(h_out)
    # guest: x0, x1 by WOE (its own stats), x2 unchanged
    for j, name in enumerate(("x0", "x1")):
        col = g_model["columns"][name]
        stored = np.asarray(col["stats"]["woe"])
        idx = expected_index(col["bins"], guest.features[:, j])
        assert (frame_of(g_out).features[:, j] == stored[idx]).all()
        np.testing.assert_allclose(
            stored, woe_iv(idx, np.asarray(guest.label), n_bins(col["bins"]))[0], rtol=1e-12
        )
    np.testing.assert_array_equal(frame_of(g_out).features[:, 2], guest.features[:, 2])
    assert g_out.metrics["transformed"] == 2
    # host: x1, x2 by the WOE the guest returned (the guest's numbers for those anonymous columns)
    for j in (1, 2):
        name = host.feature_names[j]
        col = h_model["columns"][name]
        assert col["woe_from_guest"] is True
        expected = np.asarray(g_model["host_columns"][h_model["anonymous"][name]]["stats"]["woe"])
        assert col["woe"] == expected.tolist()
        idx = expected_index(col["bins"], host.features[:, j])
        assert (frame_of(h_out).features[:, j] == expected[idx]).all()
    assert not h_model["columns"]["x0"]["woe_from_guest"] and h_model["columns"]["x0"]["woe"] is None
    np.testing.assert_array_equal(frame_of(h_out).features[:, 0], host.features[:, 0])


def test_transform_type_null_passes_the_data_through(frames: tuple[Frame, Frame]) -> None:
    none = {"transform_param": {"transform_type": None}, **PLAIN}
    out = fit(none, none)
    for role, raw in zip((GUEST, HOST), frames, strict=True):
        got = frame_of(out[role])
        np.testing.assert_array_equal(got.features, raw.features)
        assert got.ids.tolist() == raw.ids.tolist() and out[role].metrics["transformed"] == 0
    assert fitted(out[HOST])["columns"]["x0"]["woe"] is None


# -- apply a stored model ---------------------------------------------------------------------------
def test_stored_model_gives_the_same_output_without_messages(
    bin_num: dict[Role, Outputs], woe: dict[Role, Outputs], frames: tuple[Frame, Frame]
) -> None:
    for run_ in (bin_num, woe):
        for role, raw in zip((GUEST, HOST), frames, strict=True):
            model = artifact(run_[role])
            # parameters written for the applying component are not used: the stored ones are
            out = apply(role, raw, model, transform_param={"transform_type": None})
            np.testing.assert_array_equal(frame_of(out).features, frame_of(run_[role]).features)
            assert metrics(out)["mode"] == "transform" and "work" not in metrics(out)
            assert fitted(out) == model["model"]
            # columns in another order are put back in the training order
            shuffled = raw.select_features(list(reversed(raw.feature_names)))
            again = apply(role, shuffled, model, slot="isometric_models")
            assert frame_of(again).feature_names == raw.feature_names
            np.testing.assert_array_equal(frame_of(again).features, frame_of(run_[role]).features)
    # new rows (a subset, label dropped): each value's bin, the same as in training
    guest = frames[0]
    rows = Frame(guest.ids[:17], guest.features[:17], guest.feature_names)
    out = apply(GUEST, rows, artifact(bin_num[GUEST]))
    np.testing.assert_array_equal(frame_of(out).features, frame_of(bin_num[GUEST]).features[:17])


def test_stored_model_refuses_other_columns_and_other_models(
    bin_num: dict[Role, Outputs], frames: tuple[Frame, Frame]
) -> None:
    guest, host = frames
    model = artifact(bin_num[GUEST])
    fewer = guest.select_features(["x0", "x2"])
    with pytest.raises(DataError, match=r"missing 1 column.*'x1'") as info:
        apply(GUEST, fewer, model)
    assert info.value.component == NAME and info.value.field == "x1"
    extra = Frame(
        guest.ids, np.column_stack([guest.features, guest.features[:, 0]]), [*guest.feature_names, "x9"]
    )
    with pytest.raises(DataError, match="never saw: 'x9'"):
        apply(GUEST, extra, model)
    with pytest.raises(DataError, match="guest part") as info:
        apply(HOST, host, model)
    assert info.value.field == "input.model"
    with pytest.raises(DataError, match="needs a HeteroFeatureBinning model"):
        apply(GUEST, guest, {"module": "FeatureScale"})
    broken = {**model, "model": {"method": "quantile"}}
    with pytest.raises(DataError):
        apply(GUEST, guest, broken)


def test_woe_on_a_host_without_woe_is_refused(
    bin_num: dict[Role, Outputs], frames: tuple[Frame, Frame]
) -> None:
    model = json.loads(json.dumps(artifact(bin_num[HOST])))
    model["params"]["transform_param"]["transform_type"] = "woe"  # the host never asked the guest for WOE
    with pytest.raises(DataError) as info:
        apply(HOST, frames[1], model)
    assert info.value.field is not None and "transform_type" in info.value.field
    assert info.value.component == NAME


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bin_names": ["x0", "nope"]}, "bin_names"),
        ({"bin_indexes": [0, 3]}, "bin_indexes"),
        ({"category_indexes": [7]}, "category_indexes"),
        ({"category_names": ["y"]}, "category_names"),
        ({"transform_param": {"transform_names": ["z"]}}, "transform_param.transform_names"),
        ({"transform_param": {"transform_cols": [5]}}, "transform_param.transform_cols"),
    ],
)
def test_columns_the_data_lacks_fail_before_any_message(
    params: dict[str, Any], field: str, frames: tuple[Frame, Frame]
) -> None:
    for role, raw in zip((GUEST, HOST), frames, strict=True):
        with pytest.raises(ConfigError) as info:  # ctx None: the check runs before the protocol
            component(role, params).run(None, Inputs(data={"data": [raw]}))
        assert info.value.field == field and info.value.component == NAME


def test_inputs_the_component_cannot_bin(frames: tuple[Frame, Frame]) -> None:
    guest = frames[0]
    raw = Table(pd.DataFrame({"id": ["a"], "x": [1.0]}), "id", "experiment.raw")
    with pytest.raises(DataError, match="output of DataTransform"):
        component(GUEST, {}).run(None, Inputs(data={"data": [raw]}))
    with pytest.raises(ConfigError, match="bins one data set") as info:
        component(GUEST, {}).run(None, Inputs(data={"train_data": [guest], "validate_data": [guest]}))
    assert info.value.field == "input.data.validate_data"


# -- parameters as FATE's confs write them ------------------------------------------------------------
def fate_job(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    conf = json.loads((BINNING / f"{name}_conf.json").read_text())
    return conf, json.loads((BINNING / f"{name}_dsl.json").read_text())


@pytest.mark.skipif(not BINNING.is_dir(), reason="FATE examples not present")
def test_fate_confs_validate_per_party() -> None:
    quantile = load_job(*fate_job("hetero_binning_quantile_binning"), registry())
    for role in ("guest", "host"):
        p = quantile.params_for(NAME, role, 0)
        assert isinstance(p, HeteroFeatureBinningParams)
        assert (p.method, p.bin_num, p.encrypt_param.key_length) == ("quantile", 10, 1024)
        assert p.transform_param.transform_type == "bin_num" and p.transform_param.transform_cols == -1
    woe_job = load_job(*fate_job("hetero_binning_woe_binning"), registry())
    guest, host = woe_job.params_for(NAME, "guest", 0), woe_job.params_for(NAME, "host", 0)
    assert isinstance(guest, HeteroFeatureBinningParams) and isinstance(host, HeteroFeatureBinningParams)
    assert guest.transform_param.transform_type == "woe" and guest.transform_param.transform_cols == [0, 1, 2]
    assert host.transform_param.transform_type is None
    assert registry().get("HeteroFeatureBinning").roles == {GUEST, HOST}


@pytest.mark.skipif(not BINNING.is_dir(), reason="FATE examples not present")
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"method": "kmeans"}, "method"),
        ({"bin_num": "10"}, "bin_num"),
        ({"encrypt_param": {"key_length": 512}}, "encrypt_param.key_length"),
        ({"transform_param": {"transform_typ": "woe"}}, "transform_param.transform_typ"),
        ({"transform_param": {"transform_type": "onehot"}}, "transform_param.transform_type"),
        ({"bin_indexes": 3}, "bin_indexes"),
        ({"need_run": "yes"}, "need_run"),
        ({"bins": 3}, "bins"),
    ],
)
def test_bad_parameters_name_component_and_field(params: dict[str, Any], field: str) -> None:
    conf, dsl = fate_job("hetero_binning_quantile_binning")
    conf["component_parameters"]["common"][NAME].update(params)
    with pytest.raises(ConfigError) as info:
        load_job(conf, dsl, registry())
    assert info.value.component == NAME and info.value.field == field
