"""The HeteroFeatureSelection component: fit with a binning model as isometric_model, then predict
from the stored model without messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedloom.components import Env, Inputs, component_class
from fedloom.components.feature_selection import (
    HeteroFeatureSelectionGuestComponent,
    HeteroFeatureSelectionHostComponent,
)
from fedloom.core import GUEST, HOST, ConfigError, DataError
from fedloom.data import Frame
from fedloom.ml.hetero.selection import HeteroFeatureSelectionParams
from fedloom.testing import as_party, run_parties

RNG = np.random.default_rng(11)
N = 30
GUEST_IV = {"x0": 0.5, "x1": 0.05, "x2": 0.2}
HOST_IV = {"x0": 0.01, "x1": 0.3, "x2": 0.15, "x3": 0.6}


def frames() -> tuple[Frame, Frame]:
    ids = [str(i) for i in range(N)]
    g = Frame(ids, RNG.normal(size=(N, 3)), list(GUEST_IV), RNG.integers(0, 2, N), label_name="y")
    return g, Frame(ids, RNG.normal(size=(N, 4)), list(HOST_IV))


def binning_artifact(role: str) -> dict[str, Any]:
    if role == "guest":
        model = {
            "columns": {c: {"iv": v} for c, v in GUEST_IV.items()},
            "host_columns": {
                f"host_10000_{i}": {"party": "host-10000", "iv": v} for i, v in enumerate(HOST_IV.values())
            },
        }
    else:
        model = {
            "columns": {c: {"iv": None} for c in HOST_IV},
            "anonymous": {c: f"host_10000_{i}" for i, c in enumerate(HOST_IV)},
        }
    return {
        "module": "HeteroFeatureBinning",
        "role": role,
        "party": "",
        "params": {},
        "schema": None,
        "model": model,
    }


def run(params: dict[str, Any], data: dict[str, Frame], **inputs: Any) -> dict[Any, Any]:
    p = HeteroFeatureSelectionParams.from_dict(params)

    def party(role: Any) -> Any:
        cls = HeteroFeatureSelectionGuestComponent if role == GUEST else HeteroFeatureSelectionHostComponent
        env = Env(component="sel_0", party=as_party(role), party_index=0, data_dir=Path("."))
        extra = {k: v[role.value] for k, v in inputs.items()}
        return lambda ctx: cls(p, env).run(
            ctx.sub("sel_0"), Inputs(data={"data": [data[role.value]]}, **extra)
        )

    return run_parties({GUEST: party(GUEST), HOST: party(HOST)})


def test_fit_then_predict_from_stored_model() -> None:
    g, h = frames()
    params = {"filter_methods": ["iv_filter"], "iv_param": {"filter_type": "top_k", "threshold": 3}}
    iso = {"guest": [binning_artifact("guest")], "host": [binning_artifact("host")]}

    out = run(params, {"guest": g, "host": h}, isometric_models=iso)

    # independent: the 3 highest IVs of both parties are guest x0, host x3, host x1
    gout, hout = out[GUEST], out[HOST]
    assert gout.data[0].feature_names == ("x0",)
    assert hout.data[0].feature_names == ("x1", "x3")
    np.testing.assert_array_equal(hout.data[0].features, h.features[:, [1, 3]])
    assert np.array_equal(gout.data[0].label, g.label)
    flt = gout.metrics["filters"][0]
    assert flt["kept"] == ["x0"] and flt["dropped"] == ["x1", "x2"]
    assert flt["hosts"]["host:10000"] == {
        "kept": ["host_10000_1", "host_10000_3"],
        "dropped": ["host_10000_0", "host_10000_2"],
    }
    assert "x3" not in json.dumps(flt["hosts"])  # the guest names host columns anonymously
    assert hout.metrics["dropped"] == ["x0", "x2"]
    artifact = json.loads(json.dumps(gout.model))  # what model.json holds
    assert artifact["module"] == "HeteroFeatureSelection" and artifact["model"]["kept"] == ["x0"]

    # predict: new rows, same columns (in another order), the stored model, no messages
    models = {"guest": [json.loads(json.dumps(gout.model))], "host": [json.loads(json.dumps(hout.model))]}
    g2 = Frame(["a", "b"], RNG.normal(size=(2, 3)), list(GUEST_IV))
    h2 = Frame(["a", "b"], RNG.normal(size=(2, 4)), list(HOST_IV)).select_features(["x3", "x2", "x1", "x0"])
    pred = run({"filter_methods": ["unique_value"]}, {"guest": g2, "host": h2}, models=models)

    assert pred[GUEST].data[0].feature_names == ("x0",) and pred[GUEST].metrics["mode"] == "transform"
    assert pred[HOST].data[0].feature_names == ("x1", "x3")
    np.testing.assert_array_equal(pred[HOST].data[0].features, h2.select_features(["x1", "x3"]).features)


def test_local_filters_need_no_binning_model() -> None:
    g, h = frames()
    g.features[:, 1] = 1.0
    out = run({"filter_methods": ["unique_value"]}, {"guest": g, "host": h})

    assert out[GUEST].data[0].feature_names == ("x0", "x2")
    assert out[HOST].data[0].feature_names == tuple(HOST_IV)


def test_iv_filter_without_isometric_model_fails_naming_it() -> None:
    g, h = frames()
    with pytest.raises(ConfigError, match="isometric_model"):
        run({"filter_methods": ["iv_filter"]}, {"guest": g, "host": h})


def test_predict_refuses_data_with_other_columns() -> None:
    g, h = frames()
    iso = {"guest": [binning_artifact("guest")], "host": [binning_artifact("host")]}
    out = run({"filter_methods": ["iv_filter"]}, {"guest": g, "host": h}, isometric_models=iso)
    models = {"guest": [out[GUEST].model], "host": [out[HOST].model]}
    with pytest.raises(DataError):
        run({}, {"guest": g.select_features(["x0", "x1"]), "host": h}, models=models)


def test_params_are_fate_names_and_bad_values_are_config_errors() -> None:
    assert component_class("HeteroFeatureSelection", GUEST) is HeteroFeatureSelectionGuestComponent
    p = HeteroFeatureSelectionParams.from_dict(
        {"select_col_indexes": -1, "select_names": [], "filter_methods": ["IV_Filter"],
         "iv_param": {"metrics": "iv", "filter_type": "threshold", "threshold": 0.1}}
    )  # fmt: skip
    assert p.filter_methods == ["iv_filter"] and p.iv_rule(0).threshold == 0.1
    for bad in (
        {"filter_methods": ["psi_filter"]},
        {"filter_methods": ["nope"]},
        {"iv_param": {"take_high": False}},
        {"iv_param": {"filter_type": "top_k", "threshold": 0.5}},
        {"manually_param": {"filter_out_names": ["a"], "left_col_names": ["b"]}},
        {"percentage_value_param": {"upper_pct": 0.05}},
        {"select_col_indexes": 3},
    ):
        with pytest.raises(ConfigError):
            HeteroFeatureSelectionParams.from_dict(bad)
    assert HeteroFeatureSelectionParams.from_dict({}).filter_methods == ["manually"]
