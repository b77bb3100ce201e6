"""Sparse data: text rows (svmlight, tag, tag:value), sparse Frames, DataTransform's formats,
FeatureScale and row selection on sparse frames, all checked against the same data dense.

FATE's data examples (``fate_examples/data``) hold no svmlight or tag file (the README lists
``svm_light_*`` and ``mocked_string_data`` but they are not shipped), so the files are written here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from fedloom.components.base import Table, data_select
from fedloom.components.data_transform import DataTransformParams, transform
from fedloom.components.feature_scale import FeatureScaleParams, fit_scale
from fedloom.components.feature_scale import transform as scale
from fedloom.core.errors import ConfigError, DataError
from fedloom.data import Frame, TableStore
from fedloom.data.text_rows import parse_text_rows, read_text_table

SVMLIGHT = """id,y x
r0,1 0:0.5 3:1.5
r1,0 2:-1
r2,1
r3,0 1:2.25 3:-0.5
"""
DENSE = np.array([[0.5, 0, 0, 1.5], [0, 0, -1, 0], [0, 0, 0, 0], [0, 2.25, 0, -0.5]])


def _table(df: pd.DataFrame, name: str = "t") -> Table:
    return Table(df, str(df.columns[0]), name)


def _random_frame(n: int = 60, m: int = 8, density: float = 0.3, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m)) * (rng.random((n, m)) < density)
    return Frame([f"u{i}" for i in range(n)], x, [f"f{j}" for j in range(m)], label=rng.integers(0, 2, n))


# -- Frame -------------------------------------------------------------------------------------------
def test_sparse_frame_selection_keeps_it_sparse_and_equal() -> None:
    dense = _random_frame()
    sp = dense.to_sparse()
    assert sp.is_sparse and not dense.is_sparse and "sparse" in repr(sp)
    ids = dense.ids[[5, 1, 40]]
    for a, b in ((dense.select(ids), sp.select(ids)), (dense.take([3, 3 - 1]), sp.take([3, 2]))):
        assert b.is_sparse
        np.testing.assert_array_equal(b.dense_features(), a.features)
        np.testing.assert_array_equal(b.label, a.label)
    cols = sp.select_features(["f3", "f0"])
    assert cols.is_sparse and np.array_equal(cols.dense_features(), dense.features[:, [3, 0]])
    pd.testing.assert_frame_equal(sp.to_pandas(), dense.to_pandas())
    assert np.array_equal(sp.to_dense().features, dense.features)
    w = np.linspace(-1, 1, dense.n_features)
    np.testing.assert_allclose(sp.features @ w, dense.features @ w, rtol=0, atol=1e-15)


def test_intersection_row_selection_of_a_sparse_frame() -> None:
    # The Intersection component selects the matched rows with data_select
    sp = _random_frame().to_sparse()
    out = data_select(sp, np.array(["u7", "u2"], dtype=object))
    assert isinstance(out, Frame) and out.is_sparse and list(out.ids) == ["u7", "u2"]
    assert np.array_equal(out.dense_features(), sp.dense_features()[[7, 2]])


# -- text rows ---------------------------------------------------------------------------------------
def test_read_and_parse_svmlight_file(tmp_path: Path) -> None:
    path = tmp_path / "svm.csv"
    path.write_text(SVMLIGHT)
    df = read_text_table(path)
    assert list(df.columns) == ["id", "y x"] and df["y x"][2] == "1"
    frame, _ = transform(
        _table(df),
        DataTransformParams(input_format="sparse", delimitor=" ", with_label=True, output_format="sparse"),
    )
    assert frame.is_sparse and frame.feature_names == ("x0", "x1", "x2", "x3")
    np.testing.assert_array_equal(frame.dense_features(), DENSE)
    np.testing.assert_array_equal(frame.label, [1, 0, 1, 0])
    dense, _ = transform(
        _table(df), DataTransformParams(input_format="svmlight", delimitor=" ", with_label=True)
    )
    assert not dense.is_sparse and np.array_equal(dense.features, DENSE)


def test_upload_with_fate_meta_then_data_transform(tmp_path: Path) -> None:
    path = tmp_path / "svm.csv"
    path.write_text(SVMLIGHT)
    store = TableStore(tmp_path / "store")
    conf = {
        "file": str(path),
        "table_name": "svm",
        "namespace": "experiment",
        "head": 1,
        "with_meta": True,
        "meta": {"input_format": "sparse"},
    }
    store.upload(conf)
    df = store.load("svm", "experiment")
    frame, _ = transform(
        _table(df),
        DataTransformParams(input_format="sparse", delimitor=" ", with_label=True, output_format="sparse"),
    )
    np.testing.assert_array_equal(frame.dense_features(), DENSE)
    with pytest.raises(ConfigError, match=r"meta\.input_format"):
        store.upload({**conf, "table_name": "bad", "meta": {"input_format": "json"}})


def test_tag_and_tag_value_rows() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "value": ["1;x;y", "0;y;z", "1"]})
    frame, _ = transform(
        _table(df),
        DataTransformParams(input_format="tag", delimitor=";", with_label=True, output_format="sparse"),
    )
    assert frame.feature_names == ("x", "y", "z") and frame.is_sparse
    np.testing.assert_array_equal(frame.dense_features(), [[1, 1, 0], [0, 1, 1], [0, 0, 0]])
    df = pd.DataFrame({"id": ["a", "b"], "value": ["x=2 y=3", "y=1  z=0.5"]})
    p = DataTransformParams(input_format="tag", tag_with_value=True, tag_value_delimitor="=", delimitor=" ")
    assert p.input_format == "tag_value"
    frame, _ = transform(_table(df), p)
    np.testing.assert_array_equal(frame.features, [[2, 3, 0], [0, 1, 0.5]])


def test_predict_rows_use_the_model_columns() -> None:
    # Prepare: train on tags x, y; predict data brings an unknown tag w (ignored, as in FATE)
    train = pd.DataFrame({"id": ["a", "b"], "value": ["1 x:1 y:2", "0 y:1"]})
    p = DataTransformParams(input_format="tag_value", delimitor=" ", with_label=True, output_format="sparse")
    frame, _ = transform(_table(train), p)
    model = {"params": p.model_dump(mode="json"), "schema": frame.schema}
    new = pd.DataFrame({"id": ["c"], "value": ["1 w:5 y:3"]})
    out, _ = transform(_table(new), p, model)
    assert out.feature_names == ("x", "y") and out.dense_features().tolist() == [[0.0, 3.0]]
    # svmlight predict data with an index beyond the model's columns is refused
    sp = DataTransformParams(input_format="sparse", delimitor=" ", with_label=True)
    f2, _ = transform(_table(pd.DataFrame({"id": ["a"], "value": ["1 0:1 1:2"]})), sp)
    with pytest.raises(DataError, match="beyond the model"):
        transform(
            _table(pd.DataFrame({"id": ["z"], "value": ["1 5:1"]})),
            sp,
            {"params": sp.model_dump(mode="json"), "schema": f2.schema},
        )


@pytest.mark.parametrize(
    ("text", "fmt", "match"),
    [
        ("1 0:x", "sparse", "not a finite number"),
        ("1 a:1", "sparse", "not a non-negative integer"),
        ("1 3", "sparse", "is not index:value"),
        ("1 0:1 0:2", "sparse", "appears twice"),
        ("", "tag", "has no label"),
    ],
)
def test_bad_rows_are_refused_naming_the_row(text: str, fmt: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_text_rows(
            [text],
            np.array(["r0"], dtype=object),
            input_format=fmt,
            delimitor=" ",  # type: ignore[arg-type]
            with_label=True,
        )


def test_text_formats_need_text_rows_and_refuse_fill() -> None:
    numeric = pd.DataFrame({"id": ["a"], "x": [1.0]})
    with pytest.raises(DataError, match="rows of text") as err:
        transform(_table(numeric), DataTransformParams(input_format="sparse"))
    assert err.value.field == "input_format"
    with pytest.raises(ValueError, match="dense input only"):
        DataTransformParams(input_format="tag", missing_fill=True)


# -- dense input, sparse output --------------------------------------------------------------------
def test_dense_table_with_output_format_sparse() -> None:
    df = pd.DataFrame(
        {"id": ["a", "b", "c"], "y": [1, 0, 1], "x0": [0.0, 1.0, np.nan], "x1": [2.0, 0.0, 0.0]}
    )
    p = DataTransformParams(with_label=True, output_format="sparse", missing_fill=True, default_value=0.0)
    frame, info = transform(_table(df), p)
    assert frame.is_sparse and info.missing_filled == 1
    np.testing.assert_array_equal(frame.dense_features(), [[0, 2], [1, 0], [0, 0]])
    assert frame.features.nnz == 2


# -- FeatureScale --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {"method": "standard_scale", "with_mean": False},
        {"method": "standard_scale", "with_mean": False, "with_std": False},
        {"method": "standard_scale", "with_mean": False, "feat_upper": 1.0, "feat_lower": -1.0},
    ],
)
def test_feature_scale_keeps_sparse_data_sparse_and_equal(params: dict) -> None:
    dense = _random_frame(n=80, m=6)
    sp = dense.to_sparse()
    p = FeatureScaleParams.model_validate(params)
    cols_d, cols_s = fit_scale(dense, p), fit_scale(sp, p)
    assert cols_d == cols_s
    out_d, out_s = scale(dense, cols_d), scale(sp, cols_s)
    assert out_s.is_sparse and out_s.features.nnz <= sp.features.nnz
    np.testing.assert_allclose(out_s.dense_features(), out_d.features, rtol=0, atol=1e-12)


def test_feature_scale_min_max_on_non_negative_sparse_columns() -> None:
    rng = np.random.default_rng(3)
    x = np.abs(rng.normal(size=(50, 4))) * (rng.random((50, 4)) < 0.3)
    dense = Frame([f"u{i}" for i in range(50)], x, ["a", "b", "c", "d"])
    p = FeatureScaleParams.model_validate({"method": "min_max_scale"})
    out_d, out_s = (
        scale(dense, fit_scale(dense, p)),
        scale(dense.to_sparse(), fit_scale(dense.to_sparse(), p)),
    )
    assert out_s.is_sparse
    np.testing.assert_allclose(out_s.dense_features(), out_d.features, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"method": "standard_scale"}, "with_mean"), ({"method": "min_max_scale"}, "method")],
)
def test_feature_scale_refuses_what_would_make_sparse_data_dense(params: dict, field: str) -> None:
    sp = _random_frame().to_sparse()
    p = FeatureScaleParams.model_validate(params)
    with pytest.raises(ConfigError) as err:
        scale(sp, fit_scale(sp, p))
    assert err.value.field == field
    assert sparse.issparse(sp.features)


# -- the sparse benchmark, tiny ------------------------------------------------------------------------
def test_sparse_bench_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from fedloom.bench.hetero_lr import main

    # Execute: 200 rows, 50 host columns at 5%; the dense twin fits, so both run
    assert main(["--dataset", "sparse", "--rows", "200", "--features", "50", "--density", "0.05",
                 "--epochs", "1", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    # Assert
    assert report["dataset"] == "sparse" and report["rows"] == 200 and report["features"] == 50
    assert 0 < report["nnz"] <= 140 * 50 and len(report["epoch_seconds"]) == 1
    mem = report["memory"]
    assert mem["host_features_bytes"] < mem["host_features_bytes_if_dense"] == 140 * 50 * 8
    assert set(mem["peak_rss_mib"]) == {"guest:9999", "host:10000", "arbiter:10000"}
    assert report["dense"]["loss_history"] == pytest.approx(report["loss_history"], abs=1e-6)
    assert report["dense"]["test_auc"] == report["test_auc"]


def test_components_get_dense_or_sparse_frames_and_outputs_stay_sparse() -> None:
    from fedloom.components.base import data_to_pandas, frame_input

    sp = _random_frame(n=5, m=3, density=0.5).to_sparse()
    assert frame_input(sp, "HeteroLR", "train_data") is sp
    dense = frame_input(sp, "HomoLR", "train_data")  # modules without sparse support get it dense
    assert not dense.is_sparse and np.array_equal(dense.features, sp.dense_features())
    table = data_to_pandas(sp)  # what data.parquet holds: never densified
    assert list(table.columns) == ["id", "y", "features"]
    x = sp.dense_features()
    first = " ".join(f"f{j}:{float(x[0, j])!r}" for j in range(3) if x[0, j] != 0)
    assert table["features"][0] == first


def test_sparse_bench_refuses_fewer_rows_than_host_weights() -> None:
    from fedloom.bench.hetero_lr import run

    with pytest.raises(ConfigError) as err:
        run("sparse", rows=10_000, features=10_000)
    assert err.value.field == "rows"
