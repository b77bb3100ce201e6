"""Reader and DataTransform on one party, in process (no peers needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedloom.components import Env, Inputs, Table
from fedloom.components.data_transform import DataTransform, DataTransformParams
from fedloom.components.reader import Reader, ReaderParams
from fedloom.core import ConfigError, DataError, PartyId
from fedloom.data import TableStore
from fedloom.dsl import load_job

GUEST = PartyId.parse("guest:9999")


def env(tmp_path: Path, component: str = "c_0") -> Env:
    return Env(component=component, party=GUEST, party_index=0, data_dir=tmp_path)


def table(df: pd.DataFrame, name: str = "ns.t") -> Table:
    return Table(df, str(df.columns[0]), name)


def transform(tmp_path: Path, df: pd.DataFrame, models: list | None = None, **params: object):
    comp = DataTransform(DataTransformParams.model_validate(params), env(tmp_path))
    inputs = Inputs(data={"data": [table(df)]}, models=models or [], sources={"data": ["reader_0.data"]})
    return comp.run(None, inputs)  # type: ignore[arg-type]  # DataTransform never talks


@pytest.fixture
def labelled() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array(["a", "b", "c", "d"], dtype=object),
            "y": [1.0, 0.0, 1.0, 0.0],
            "x0": [1.0, np.nan, 3.0, 5.0],
            "x1": [10.0, 20.0, np.nan, -999.0],
        }
    )


# -- Reader ------------------------------------------------------------------------------------
def test_reader_loads_the_named_table(tmp_path: Path, labelled: pd.DataFrame) -> None:
    TableStore(tmp_path).save(labelled, "t", "ns")
    params = ReaderParams.model_validate({"table": {"name": "t", "namespace": "ns"}})

    out = Reader(params, env(tmp_path, "reader_0")).run(None, Inputs())  # type: ignore[arg-type]

    assert isinstance(out.data[0], Table)
    assert list(out.data[0].df.columns) == ["id", "y", "x0", "x1"]
    assert out.metrics == {"table": "ns.t", "rows": 4, "columns": 4}


def test_reader_names_a_missing_table(tmp_path: Path) -> None:
    params = ReaderParams.model_validate({"table": {"name": "nope", "namespace": "ns"}})

    with pytest.raises(DataError, match=r"no table ns\.nope"):
        Reader.preflight(params, env(tmp_path))


# -- labels ------------------------------------------------------------------------------------
def test_with_label_splits_off_an_int_label(tmp_path: Path, labelled: pd.DataFrame) -> None:
    out = transform(tmp_path, labelled, with_label=True, label_name="y", missing_fill=True)

    frame = out.data[0]
    assert frame.label.tolist() == [1, 0, 1, 0] and frame.label.dtype == np.int64
    assert frame.feature_names == ("x0", "x1")
    assert out.metrics["label_counts"] == {"0": 2, "1": 2}
    assert out.model["schema"] == {"id": "id", "label": "y", "label_type": "int", "features": ["x0", "x1"]}


def test_without_label_the_label_column_is_a_feature(tmp_path: Path, labelled: pd.DataFrame) -> None:
    out = transform(tmp_path, labelled, with_label=False, missing_fill=True)

    assert out.data[0].label is None
    assert out.data[0].feature_names == ("y", "x0", "x1")


def test_float_labels_and_refused_non_integer_labels(tmp_path: Path, labelled: pd.DataFrame) -> None:
    labelled["y"] = [0.5, 1.5, 2.0, 3.0]

    out = transform(tmp_path, labelled, with_label=True, label_type="float", missing_fill=True)
    assert out.data[0].label.tolist() == [0.5, 1.5, 2.0, 3.0]
    with pytest.raises(DataError, match="holds non-integers") as err:
        transform(tmp_path, labelled, with_label=True, label_type="int", missing_fill=True)
    assert err.value.field == "y"


def test_a_missing_label_column_is_named(tmp_path: Path, labelled: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no label column 'label'"):
        transform(tmp_path, labelled, with_label=True, label_name="label", missing_fill=True)


# -- missing values ----------------------------------------------------------------------------
def test_missing_values_without_fill_name_row_and_column(tmp_path: Path, labelled: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"row 1 \(id 'b'\) column 'x0'") as err:
        transform(tmp_path, labelled, with_label=True)
    assert err.value.field == "x0"


@pytest.mark.parametrize(
    ("method", "default", "x0_b", "x1_c"),
    [
        (None, 0, 0.0, 0.0),
        ("designated", 7, 7.0, 7.0),
        ("designated", {"x0": 1.5, "x1": -2.0}, 1.5, -2.0),
        ("designated", [1.5, -2.0], 1.5, -2.0),
        ("mean", 0, 3.0, (10.0 + 20.0 - 999.0) / 3),
        ("median", 0, 3.0, 10.0),
        ("min", 0, 1.0, -999.0),
        ("max", 0, 5.0, 20.0),
    ],
)
def test_missing_fill_methods(
    tmp_path: Path, labelled: pd.DataFrame, method: str | None, default: object, x0_b: float, x1_c: float
) -> None:
    out = transform(
        tmp_path,
        labelled,
        with_label=True,
        missing_fill=True,
        missing_fill_method=method,
        default_value=default,
    )

    feats = out.data[0].features
    assert feats[1, 0] == pytest.approx(x0_b)
    assert feats[2, 1] == pytest.approx(x1_c)
    assert out.metrics["missing_filled"] == 2


def test_missing_impute_values_count_as_missing(tmp_path: Path, labelled: pd.DataFrame) -> None:
    out = transform(
        tmp_path,
        labelled,
        with_label=True,
        missing_fill=True,
        missing_fill_method="mean",
        missing_impute=[-999],
    )

    assert out.data[0].features[3, 1] == pytest.approx(15.0)  # mean of 10 and 20
    assert out.metrics["missing_filled"] == 3


def test_outlier_replace(tmp_path: Path, labelled: pd.DataFrame) -> None:
    out = transform(
        tmp_path,
        labelled,
        with_label=True,
        missing_fill=True,
        outlier_replace=True,
        outlier_impute=[-999],
        outlier_replace_method="max",
    )

    assert out.data[0].features[3, 1] == 20.0
    assert out.metrics["outliers_replaced"] == 1


# -- the model: same transform on new data, schema checked --------------------------------------
def test_model_reuses_fill_values_and_checks_the_schema(tmp_path: Path, labelled: pd.DataFrame) -> None:
    train = transform(tmp_path, labelled, with_label=True, missing_fill=True, missing_fill_method="mean")
    new = pd.DataFrame(
        {"id": np.array(["z"], dtype=object), "x1": [np.nan], "x0": [np.nan]}
    )  # other column order, no label

    out = transform(tmp_path, new, models=[train.model], with_label=False)

    frame = out.data[0]
    assert frame.feature_names == ("x0", "x1")
    assert frame.features[0].tolist() == pytest.approx([3.0, (10.0 + 20.0 - 999.0) / 3])
    assert frame.label is None
    extra = new.assign(x2=[1.0])
    with pytest.raises(DataError, match="column\\(s\\) the model never saw: 'x2'"):
        transform(tmp_path, extra, models=[train.model])


# -- parameters: FATE's names, checked before anything runs --------------------------------------
def _job(dt_params: dict) -> tuple[dict, dict]:
    conf = {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999]},
        "component_parameters": {
            "role": {
                "guest": {
                    "0": {
                        "reader_0": {"table": {"name": "t", "namespace": "ns"}},
                        "data_transform_0": dt_params,
                    }
                }
            }
        },
    }
    dsl = {
        "components": {
            "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
            "data_transform_0": {
                "module": "DataTransform",
                "input": {"data": {"data": ["reader_0.data"]}},
                "output": {"data": ["data"], "model": ["model"]},
            },
        }
    }
    return conf, dsl


def test_fate_parameter_names_are_accepted() -> None:
    fate = {
        "input_format": "dense",
        "output_format": "dense",
        "with_label": True,
        "label_name": "y",
        "label_type": "int",
        "missing_fill": True,
        "missing_fill_method": "mean",
        "default_value": 0,
        "missing_impute": [-1],
        "outlier_replace": False,
        "with_match_id": False,
        "data_type": "float64",
        "delimitor": ",",
        "need_run": True,
    }
    job = load_job(*_job(fate))
    assert job.params_for("data_transform_0", "guest", 0).missing_fill_method == "mean"


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"with_lable": True}, "with_lable", "not a recognised name"),
        ({"label_type": "text"}, "label_type", "must be one of"),
        ({"input_format": "sparse", "missing_fill": True}, "missing_fill", "dense input only"),
        ({"output_format": "tag"}, "output_format", "'dense' or 'sparse'"),
        ({"input_format": "csv"}, "input_format", "must be one of"),
        ({"missing_fill_method": "mode"}, "missing_fill_method", "must be one of"),
    ],
)
def test_bad_parameters_name_component_and_field(params: dict, field: str, text: str) -> None:
    with pytest.raises(ConfigError, match=text) as err:
        load_job(*_job(params))
    assert err.value.component == "data_transform_0"
    assert err.value.field == field


def test_keep_missing_keeps_nan_for_binning_and_other_components_refuse_it(tmp_path: Path) -> None:
    from fedloom.components.base import frame_input
    from fedloom.components.data_transform import DataTransformParams, transform
    from fedloom.core.errors import DataError

    table = Table(
        pd.DataFrame({"id": ["a", "b", "c"], "x0": [1.0, np.nan, 3.0], "x1": [0.5, 1.5, 2.5]}), "id"
    )
    with pytest.raises(DataError, match="missing"):
        transform(table, DataTransformParams(), None)
    frame, _ = transform(table, DataTransformParams(keep_missing=True), None)
    assert np.isnan(frame.features[1, 0]) and frame.features[2, 0] == 3.0
    assert frame_input(frame, "HeteroFeatureBinning", "data") is frame
    with pytest.raises(DataError, match=r"HeteroLR cannot take missing feature values.*'x0'") as err:
        frame_input(frame, "HeteroLR", "train_data")
    assert err.value.field == "x0"
