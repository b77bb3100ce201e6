"""The FeatureScale component: FATE's parameters, equality with scikit-learn's scalers, bounds, column
selection, reuse of the fitted model on new data, and bad parameters named by field.

Every component here runs with ``ctx=None``: FeatureScale sends nothing, so a run that touched the
context would fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from fedloom.components import Env, Inputs, Table, registry
from fedloom.components.feature_scale import FeatureScale, FeatureScaleParams
from fedloom.core import ConfigError, DataError, PartyId
from fedloom.data import Frame, frame_from_table, read_csv_table
from fedloom.dsl import load_job

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)
DATA = FATE / "data"
LR_DIR = FATE / "dsl_v2" / "homo_logistic_regression"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="FATE examples not present")


def close(actual: Any, expected: Any) -> None:
    """Equal to a few ulps: the same float64 arithmetic as scikit-learn's, in another order."""
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def frame(name: str) -> Frame:
    return frame_from_table(read_csv_table(DATA / name), with_label=True, label_name="y")


@pytest.fixture(scope="module")
def vehicle() -> Frame:
    return frame("vehicle_scale_homo_guest.csv")


@pytest.fixture
def wide() -> Frame:
    """Columns on very different scales, and a constant one."""
    rng = np.random.default_rng(7)
    x = np.column_stack(
        [rng.normal(1000.0, 250.0, 200), rng.exponential(0.01, 200), np.full(200, 3.5), rng.normal(0, 1, 200)]
    )
    return Frame(
        [f"r{i}" for i in range(200)], x, ["a", "b", "c", "d"], rng.integers(0, 2, 200), label_name="y"
    )


def run(
    frame_: Frame | Table, tmp_path: Path, models: list[dict[str, Any]] | None = None, **params: Any
) -> Any:
    env = Env(component="scale_0", party=PartyId.parse("host:10000"), party_index=0, data_dir=tmp_path)
    comp = FeatureScale(FeatureScaleParams(**params), env)
    inputs = Inputs(data={"data": [frame_]}, models=list(models or []))
    return comp.run(None, inputs)  # type: ignore[arg-type]  # no peer: FeatureScale sends nothing


def test_standard_scale_equals_sklearn(vehicle: Frame, wide: Frame, tmp_path: Path) -> None:
    for data in (vehicle, wide):
        # Execute
        out = run(data, tmp_path)
        # Assert: the same values as StandardScaler; ids, label and names unchanged
        scaled = out.data[0]
        close(scaled.features, StandardScaler().fit_transform(data.features))
        assert list(scaled.ids) == list(data.ids) and (scaled.label == data.label).all()
        assert scaled.feature_names == data.feature_names
        assert out.metrics == {
            "mode": "fit", "method": "standard_scale", "rows": data.n_rows, "features": data.n_features,
            "scaled": data.n_features,
        }  # fmt: skip
    stats = run(wide, tmp_path).model["columns"]
    assert stats["c"]["scale"] == 1.0 and stats["c"]["centre"] == 3.5  # a constant column: scale 1
    for with_mean, with_std in ((False, True), (True, False), (False, False)):
        out = run(vehicle, tmp_path, with_mean=with_mean, with_std=with_std)
        expected = StandardScaler(with_mean=with_mean, with_std=with_std).fit_transform(vehicle.features)
        close(out.data[0].features, expected)


def test_min_max_scale_equals_sklearn(vehicle: Frame, wide: Frame, tmp_path: Path) -> None:
    for data in (vehicle, wide):
        out = run(data, tmp_path, method="MIN_MAX_SCALE")  # FATE lower-cases the method
        close(out.data[0].features, MinMaxScaler().fit_transform(data.features))
        assert out.model["method"] == "min_max_scale"


def test_normal_mode_bounds_clip_before_scaling(wide: Frame, tmp_path: Path) -> None:
    # Prepare: scalar bounds, and one bound per feature
    x = wide.features
    per_feature_upper = [1100.0, 0.02, 10.0, 1.0]
    # Execute
    std = run(wide, tmp_path, feat_upper=1100.0, feat_lower=-1.0).data[0].features
    mm = run(wide, tmp_path, method="min_max_scale", feat_upper=per_feature_upper).data[0].features
    # Assert: the same as scaling the clipped data; a bound outside a column's range changes nothing
    clipped = np.clip(x, np.maximum(x.min(0), -1.0), np.minimum(x.max(0), 1100.0))
    close(std, StandardScaler().fit_transform(clipped))
    close(mm, MinMaxScaler().fit_transform(np.minimum(x, per_feature_upper)))
    assert mm.min() >= 0.0 and mm.max() <= 1.0


def test_cap_mode_bounds_are_column_quantiles(vehicle: Frame, tmp_path: Path) -> None:
    # Execute
    out = run(vehicle, tmp_path, method="min_max_scale", mode="cap", feat_upper=0.9, feat_lower=0.1)
    # Assert: each column clipped to its own 10% and 90% quantiles (observed values), then min-max
    x = vehicle.features
    lo = np.quantile(x, 0.1, axis=0, method="inverted_cdf")
    hi = np.quantile(x, 0.9, axis=0, method="inverted_cdf")
    close(out.data[0].features, (np.clip(x, lo, hi) - lo) / (hi - lo))
    stats = out.model["columns"]
    assert [stats[f]["lower"] for f in vehicle.feature_names] == lo.tolist()
    assert [stats[f]["upper"] for f in vehicle.feature_names] == hi.tolist()
    std = run(vehicle, tmp_path, mode="cap", feat_upper=0.75).data[0].features
    q75 = np.quantile(x, 0.75, axis=0, method="inverted_cdf")
    close(std, StandardScaler().fit_transform(np.minimum(x, q75)))


def test_selected_columns_only(vehicle: Frame, tmp_path: Path) -> None:
    x = vehicle.features
    # Execute: positions 0 and 2, plus x5 by name (FATE: names add to a list of positions)
    out = run(vehicle, tmp_path, scale_col_indexes=[2, 0], scale_names=["x5"])
    # Assert
    got, cols = out.data[0].features, [0, 2, 5]
    close(got[:, cols], StandardScaler().fit_transform(x[:, cols]))
    others = [j for j in range(x.shape[1]) if j not in cols]
    assert (got[:, others] == x[:, others]).all()
    assert list(out.model["columns"]) == ["x0", "x2", "x5"] and out.metrics["scaled"] == 3
    # names alone need an empty list of positions; with the default -1 every column is scaled (FATE)
    only = run(vehicle, tmp_path, scale_col_indexes=[], scale_names=["x17"], method="min_max_scale")
    assert list(only.model["columns"]) == ["x17"]
    assert run(vehicle, tmp_path, scale_names=["x17"]).metrics["scaled"] == x.shape[1]
    # a per-feature bound list may also give one bound per scaled column
    capped = run(vehicle, tmp_path, scale_col_indexes=[1, 3], feat_upper=[0.0, 0.1], method="min_max_scale")
    assert capped.model["columns"]["x1"]["upper"] == 0.0 and capped.model["columns"]["x3"]["upper"] == 0.1
    # no method: the data pass through
    none = run(vehicle, tmp_path, method=None)
    assert none.data[0] is vehicle and none.model["columns"] == {} and none.metrics["scaled"] == 0


def test_model_reuse_on_new_data(tmp_path: Path) -> None:
    # Prepare: fit on the guest's rows; the stored model as the runner hands it over (JSON)
    train, test = frame("breast_homo_guest.csv"), frame("breast_homo_test.csv")
    fitted = run(train, tmp_path)
    model = json.loads(json.dumps(fitted.model))
    assert model["module"] == "FeatureScale" and model["schema"]["features"] == list(train.feature_names)
    # new data with its columns in another order
    order = list(reversed(train.feature_names))
    shuffled = test.select_features(order)
    # Execute: parameters written for the new component are ignored; the model's apply
    out = run(shuffled, tmp_path, models=[model], method="min_max_scale")
    # Assert: the training statistics, applied after clipping to the training range (FATE)
    scaler = StandardScaler().fit(train.features)
    x = np.clip(test.features, train.features.min(0), train.features.max(0))
    got = out.data[0]
    assert got.feature_names == train.feature_names
    close(got.features, scaler.transform(x))
    inside = ((test.features >= train.features.min(0)) & (test.features <= train.features.max(0))).all(1)
    assert inside.sum() > 50
    close(got.features[inside], scaler.transform(test.features[inside]))
    assert out.metrics["mode"] == "transform" and out.model["columns"] == model["columns"]
    # the same through isometric_model
    env = Env(component="scale_1", party=PartyId.parse("guest:9999"), party_index=0, data_dir=tmp_path)
    iso = FeatureScale(FeatureScaleParams(), env).run(
        None,  # type: ignore[arg-type]
        Inputs(data={"test_data": [test]}, isometric_models=[model]),
    )
    assert isinstance(iso.data[0], Frame)
    close(iso.data[0].features, got.features)
    # data whose columns differ from the model's schema are refused
    with pytest.raises(DataError, match="missing 1 column"):
        run(test.select_features(order[1:]), tmp_path, models=[model])
    with pytest.raises(DataError, match="needs a FeatureScale model"):
        run(test, tmp_path, models=[{"module": "DataTransform"}])


def conf_with(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    conf = json.loads((LR_DIR / "homo_lr_train_conf.json").read_text())
    conf["component_parameters"]["common"]["scale_0"] = params
    return conf, json.loads((LR_DIR / "homo_lr_train_dsl.json").read_text())


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"methods": "standard_scale"}, "methods", "not a recognised name"),
        ({"method": "log_scale"}, "method", "must be"),
        ({"mode": "clip"}, "mode", "must be"),
        ({"with_std": "yes"}, "with_std", "must be"),
        ({"scale_col_indexes": 3}, "scale_col_indexes", "must be -1 .every feature. or a list"),
        ({"scale_col_indexes": [0, -2]}, "scale_col_indexes", "feature positions"),
        ({"scale_names": "x1"}, "scale_names", "must be"),
        ({"mode": "cap", "feat_upper": 2}, "feat_upper", r"quantile in \[0, 1\]"),
        ({"mode": "cap", "feat_lower": [0.1]}, "feat_lower", "needs mode 'normal'"),
        ({"feat_upper": 1, "feat_lower": 2}, "feat_lower", "must not exceed feat_upper"),
        ({"feat_upper": [1, 2], "feat_lower": [0]}, "feat_lower", "as many bounds"),
        ({"need_run": "no"}, "need_run", "must be a boolean"),
    ],
)
def test_bad_parameters_name_the_field(params: dict[str, Any], field: str, message: str) -> None:
    conf, dsl = conf_with(params)
    with pytest.raises(ConfigError, match=message) as info:
        load_job(conf, dsl, registry())
    assert info.value.field == field and info.value.component == "scale_0"


def test_fate_defaults_and_bad_data(vehicle: Frame, tmp_path: Path) -> None:
    # FATE's conf shape with every parameter written out validates, need_run included
    conf, dsl = conf_with(
        {"method": "standard_scale", "mode": "normal", "scale_col_indexes": -1, "scale_names": None,
         "feat_upper": None, "feat_lower": None, "with_mean": True, "with_std": True, "need_run": True}
    )  # fmt: skip
    job = load_job(conf, dsl, registry())
    assert job.params_for("scale_0", "host", 0) == FeatureScaleParams()
    assert registry().get("FeatureScale").roles == {
        PartyId.parse("guest:1").role,
        PartyId.parse("host:1").role,
    }
    # errors that need the data
    with pytest.raises(DataError, match=r"scale_col_indexes \[18\] are beyond the 18 feature"):
        run(vehicle, tmp_path, scale_col_indexes=[18])
    with pytest.raises(DataError, match=r"scale_names \['nope'\] are not feature columns"):
        run(vehicle, tmp_path, scale_col_indexes=[], scale_names=["nope"])
    with pytest.raises(DataError, match="lists 3 bound"):
        run(vehicle, tmp_path, feat_upper=[1.0, 2.0, 3.0])
    raw = Table(pd.DataFrame({"id": ["a"], "x": [1.0]}), "id", "experiment.raw")
    with pytest.raises(DataError, match="output of DataTransform"):
        run(raw, tmp_path)
