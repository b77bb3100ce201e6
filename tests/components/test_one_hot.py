"""The OneHotEncoder component: equality with ``pandas.get_dummies`` (names and values, exact), the
column order, FATE's column selection, reuse of the fitted model on new data (unseen values give
zero indicators and are counted), sparse data kept sparse, typed errors naming the field or column,
and a two-party job through the real runner (guest dense, host sparse, then a predict job).

Components run here with ``ctx=None``: OneHotEncoder sends nothing, so a run that touched the
context would fail.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from fedloom.components import Env, Inputs, Table, registry
from fedloom.components.one_hot import (
    MAX_CATEGORIES,
    OneHotEncoder,
    OneHotEncoderParams,
    encoded_columns,
    fit_categories,
    transform,
)
from fedloom.core import GUEST, HOST, ConfigError, DataError, PartyId
from fedloom.data import Frame, TableStore
from fedloom.dsl import load_job
from fedloom.runner.job import run_party
from fedloom.testing import run_parties

NAMES = ["f0", "bin_a", "f2", "bin_b", "f4"]


def make_frame(n: int = 60, seed: int = 3) -> Frame:
    """Floats in f0 / f2 / f4 (never encoded here), integer bins in bin_a (0..4) and bin_b
    ({-2, 0, 7}), a label and sample weights."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 5, n),
            rng.normal(size=n),
            rng.choice([-2, 0, 7], n),
            rng.normal(size=n),
        ]
    ).astype(np.float64)
    return Frame(
        [f"r{i}" for i in range(n)],
        x,
        NAMES,
        rng.integers(0, 2, n),
        label_name="y",
        weights=rng.uniform(0.5, 2.0, n),
    )


def expected(frame: Frame, encoded: list[str]) -> pd.DataFrame:
    """The centralised answer: ``pandas.get_dummies`` of the encoded columns (as ints, so that the
    names read ``col_3``), each block put back where its column was."""
    df = pd.DataFrame(frame.dense_features(), columns=list(frame.feature_names))
    dummies = pd.get_dummies(df[encoded].astype(np.int64), columns=encoded, prefix_sep="_").astype(np.float64)
    blocks = [dummies.filter(regex=f"^{c}_-?[0-9]+$") if c in encoded else df[[c]] for c in df.columns]
    return pd.concat(blocks, axis=1)


def run(
    data: Frame | Table,
    models: list[dict[str, Any]] | None = None,
    *,
    slot: str = "data",
    iso: bool = False,
    **params: Any,
) -> Any:
    env = Env(component="one_hot_0", party=PartyId.parse("host:10000"), party_index=0, data_dir=Path("."))
    comp = OneHotEncoder(OneHotEncoderParams(**params), env)
    stored = list(models or [])
    inputs = Inputs(data={slot: [data]}, models=[] if iso else stored, isometric_models=stored if iso else [])
    return comp.run(None, inputs)  # type: ignore[arg-type]  # no peer: OneHotEncoder sends nothing


def assert_frame_is(got: Frame, want: pd.DataFrame, source: Frame) -> None:
    assert list(got.feature_names) == list(want.columns)
    np.testing.assert_array_equal(got.dense_features(), want.to_numpy())
    assert list(got.ids) == list(source.ids) and got.label_name == source.label_name
    np.testing.assert_array_equal(got.label, source.label)
    np.testing.assert_array_equal(got.weights, source.weights)


# -- fit and output ---------------------------------------------------------------------------------
def test_equals_get_dummies_in_place() -> None:
    # Prepare
    data = make_frame()
    # Execute
    out = run(data, transform_col_indexes=[1, 3])
    # Assert: the same names and values as get_dummies, each block where its column was
    want = expected(data, ["bin_a", "bin_b"])
    got = out.data[0]
    assert_frame_is(got, want, data)
    a = [f"bin_a_{v}" for v in range(5)]
    assert list(got.feature_names) == ["f0", *a, "f2", "bin_b_-2", "bin_b_0", "bin_b_7", "f4"]
    indicators = got.features[:, [n.startswith("bin_") for n in got.feature_names]]
    assert (indicators.sum(axis=1) == 2.0).all()  # one 1.0 per row in each encoded column's block
    assert not got.is_sparse
    assert out.metrics == {
        "mode": "fit", "rows": 60, "features_in": 5, "features_out": 11, "encoded": 2, "produced": 8,
        "unseen_rows": 0, "unseen": {},
    }  # fmt: skip
    assert out.model["categories"] == {"bin_a": [0, 1, 2, 3, 4], "bin_b": [-2, 0, 7]}
    assert out.model["features"] == list(got.feature_names)
    assert out.model["schema"]["features"] == NAMES


def test_default_encodes_every_column_and_names_are_ignored() -> None:
    # Prepare: integer columns only (what binning with bin_num gives)
    rng = np.random.default_rng(11)
    x = rng.integers(0, 4, (40, 3)).astype(np.float64)
    data = Frame([str(i) for i in range(40)], x, ["x0", "x1", "x2"])
    # Execute: FATE: with -1 every column is encoded and transform_col_names changes nothing
    out = run(data, transform_col_names=["x1"])
    # Assert
    want = pd.get_dummies(
        pd.DataFrame(x.astype(np.int64), columns=["x0", "x1", "x2"]), columns=["x0", "x1", "x2"]
    ).astype(np.float64)
    assert list(out.data[0].feature_names) == list(want.columns)
    np.testing.assert_array_equal(out.data[0].features, want.to_numpy())
    assert (out.data[0].features.sum(axis=1) == 3).all()  # one indicator per encoded column per row


def test_names_add_to_indexes() -> None:
    features = NAMES
    # indexes ∪ names, sorted, each once
    assert encoded_columns(
        OneHotEncoderParams(transform_col_indexes=[3], transform_col_names=["bin_a"]), features
    ) == [1, 3]
    assert encoded_columns(
        OneHotEncoderParams(transform_col_indexes=[1, 1], transform_col_names=["bin_a"]), features
    ) == [1]
    assert encoded_columns(
        OneHotEncoderParams(transform_col_indexes=[], transform_col_names=["bin_b"]), features
    ) == [3]
    assert encoded_columns(
        OneHotEncoderParams(transform_col_indexes=None, transform_col_names=["bin_b"]), features
    ) == [3]
    assert encoded_columns(OneHotEncoderParams(transform_col_indexes=[]), features) == []
    assert encoded_columns(OneHotEncoderParams(transform_col_names=["bin_b"]), features) == [0, 1, 2, 3, 4]
    # through the component: names alone
    data = make_frame()
    out = run(data, transform_col_indexes=[], transform_col_names=["bin_b"])
    assert_frame_is(out.data[0], expected(data, ["bin_b"]), data)
    # nothing chosen: the data pass through, and the model says so
    same = run(data, transform_col_indexes=[])
    assert same.data[0] is data and same.model["categories"] == {} and same.metrics["produced"] == 0


# -- a stored model on new data ----------------------------------------------------------------------
def test_stored_model_on_new_data_unseen_values_are_zero_and_counted() -> None:
    # Prepare: fit; the model as the runner hands it over (JSON)
    train = make_frame(60, seed=3)
    fitted = run(train, transform_col_indexes=[1, 3])
    model = json.loads(json.dumps(fitted.model))
    assert model["module"] == "OneHotEncoder"
    # new rows: bin_a = 9 (unseen) in rows 0 and 1, bin_b = 5 (unseen) in rows 1 and 2; columns
    # in another order
    test = make_frame(20, seed=4)
    x = test.features.copy()
    x[[0, 1], 1] = 9.0
    x[[1, 2], 3] = 5.0
    test = Frame(test.ids, x, NAMES, test.label, label_name="y", weights=test.weights)
    shuffled = test.select_features(list(reversed(NAMES)))
    # Execute: the parameters of the new component are ignored; the model's apply
    out = run(shuffled, models=[model], transform_col_indexes=-1)
    # Assert: the training columns; unseen values have all-zero indicators
    got = out.data[0]
    assert list(got.feature_names) == model["features"]
    want = expected(test, ["bin_a", "bin_b"]).reindex(columns=model["features"], fill_value=0.0)
    np.testing.assert_array_equal(got.features, want.to_numpy())
    a = [i for i, n in enumerate(got.feature_names) if n.startswith("bin_a_")]
    b = [i for i, n in enumerate(got.feature_names) if n.startswith("bin_b_")]
    assert got.features[[0, 1]][:, a].sum() == 0 and got.features[[1, 2]][:, b].sum() == 0
    assert (got.features[3:][:, a].sum(1) == 1).all() and (got.features[3:][:, b].sum(1) == 1).all()
    assert out.metrics["mode"] == "transform"
    assert out.metrics["unseen"] == {"bin_a": 2, "bin_b": 2} and out.metrics["unseen_rows"] == 3
    assert out.model["categories"] == model["categories"]
    # the same through isometric_model, in the test_data slot
    iso = run(test, models=[model], slot="test_data", iso=True)
    np.testing.assert_array_equal(iso.data[0].features, got.features)
    # data whose columns differ from the model's schema are refused, naming the column
    with pytest.raises(DataError, match="missing 1 column") as info:
        run(test.select_features(NAMES[1:]), models=[model])
    assert info.value.field == "f0"
    extra = Frame(test.ids, np.column_stack([test.features, np.zeros(20)]), [*NAMES, "new"])
    with pytest.raises(DataError, match="never saw") as info:
        run(extra, models=[model])
    assert info.value.field == "new"
    # a non-integer value is refused on new data as at fit
    x[5, 3] = 0.5
    with pytest.raises(DataError, match="non-integer") as info:
        run(Frame(test.ids, x, NAMES), models=[model])
    assert info.value.field == "bin_b"
    # a model that is not a OneHotEncoder model, or a corrupt one
    with pytest.raises(DataError, match="needs a OneHotEncoder model"):
        run(test, models=[{"module": "FeatureScale"}])
    bad = copy.deepcopy(model)
    bad["categories"]["bin_a"] = [3, 1]
    with pytest.raises(DataError, match="increasing list") as info:
        run(test, models=[bad])
    assert info.value.field == "categories.bin_a"


# -- sparse ------------------------------------------------------------------------------------------
def test_sparse_in_sparse_out() -> None:
    # Prepare: a sparse frame whose encoded columns hold implicit zeros (category 0)
    rng = np.random.default_rng(5)
    n = 80
    dense = np.column_stack(
        [
            rng.choice([0.0, 0.0, 0.0, 1.5], n),
            rng.choice([0, 0, 0, 2, 3], n),
            rng.choice([0.0, 0.0, 2.5], n),
            rng.choice([0, 1, 4], n),
        ]
    ).astype(np.float64)
    names = ["u", "e1", "v", "e2"]
    data = Frame(
        [f"s{i}" for i in range(n)], sparse.csr_matrix(dense), names, rng.integers(0, 2, n), label_name="y"
    )
    assert data.is_sparse
    # Execute
    out = run(data, transform_col_names=["e1", "e2"], transform_col_indexes=[])
    # Assert: sparse, the same numbers as the dense run, no explicit zeros
    got = out.data[0]
    assert got.is_sparse
    dense_out = run(data.to_dense(), transform_col_indexes=[1, 3]).data[0]
    assert got.feature_names == dense_out.feature_names
    np.testing.assert_array_equal(got.dense_features(), dense_out.features)
    assert_frame_is(got, expected(data.to_dense(), ["e1", "e2"]), data)
    assert (got.features.data != 0).all()
    assert got.features.nnz == np.count_nonzero(dense[:, [0, 2]]) + 2 * n  # one indicator per row and column
    # the stored model on sparse data with an unseen value
    dense[0, 1] = 7.0
    new = Frame(data.ids, sparse.csr_matrix(dense), names)
    again = run(new, models=[json.loads(json.dumps(out.model))])
    assert again.data[0].is_sparse and again.metrics["unseen"] == {"e1": 1}
    assert again.data[0].dense_features()[0, 1:4].sum() == 0.0


# -- errors ------------------------------------------------------------------------------------------
def test_bad_values_name_the_column() -> None:
    data = make_frame(30)
    x = data.features.copy()
    x[4, 1] = np.nan
    with pytest.raises(DataError, match="missing or infinite") as info:
        fit_categories(Frame(data.ids, x, NAMES), [1, 3])
    assert info.value.field == "bin_a"
    x[4, 1] = np.inf
    with pytest.raises(DataError, match="missing or infinite"):
        fit_categories(Frame(data.ids, x, NAMES), [1])
    with pytest.raises(DataError, match=r"non-integer value .* \(row 0\)") as info:  # a float column
        run(data, transform_col_indexes=[0])
    assert info.value.field == "f0"
    x = data.features.copy()
    x[0, 3] = 2.0**60  # an integer float64 cannot count up to
    with pytest.raises(DataError, match="non-integer") as info:
        run(Frame(data.ids, x, NAMES), transform_col_indexes=[3])
    assert info.value.field == "bin_b"
    # more categories than the cap (and exactly the cap is fine)
    n = MAX_CATEGORIES + 1
    many = Frame([str(i) for i in range(n)], np.arange(n, dtype=np.float64).reshape(-1, 1), ["wide"])
    with pytest.raises(DataError, match=f"{n} distinct values.*at most {MAX_CATEGORIES}") as info:
        run(many)
    assert info.value.field == "wide"
    assert run(many.take(np.arange(MAX_CATEGORIES))).metrics["produced"] == MAX_CATEGORIES
    # no rows
    empty = Frame([], np.zeros((0, 2)), ["a", "b"])
    with pytest.raises(DataError, match="no rows"):
        run(empty)


def test_bad_selection_and_names_are_named() -> None:
    data = make_frame(10)
    with pytest.raises(DataError, match=r"transform_col_indexes \[5, 7\] are beyond the 5") as info:
        run(data, transform_col_indexes=[1, 7, 5])
    assert info.value.field == "transform_col_indexes"
    with pytest.raises(DataError, match=r"transform_col_names \['nope'\] are not feature") as info:
        run(data, transform_col_indexes=[1], transform_col_names=["nope"])
    assert info.value.field == "transform_col_names"
    # an indicator name that another feature already has
    clash = Frame(data.ids, np.zeros((10, 2)), ["c", "c_0"])
    with pytest.raises(DataError, match="'c_0' would repeat a feature name") as info:
        run(clash, transform_col_indexes=[0])
    assert info.value.field == "c_0"
    with pytest.raises(DataError, match=r"no feature column\(s\) \['zz'\]"):
        transform(data, {"zz": [0]})
    raw = Table(pd.DataFrame({"id": ["a"], "x": [1.0]}), "id", "experiment.raw")
    with pytest.raises(DataError, match="output of DataTransform"):
        run(raw)


# -- the DSL -----------------------------------------------------------------------------------------
G, H = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
PREPARE: dict[str, Any] = {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {
        "module": "DataTransform",
        "input": {"data": {"data": ["reader_0.data"]}},
        "output": {"data": ["data"], "model": ["model"]},
    },
}
TRAIN_DSL = {
    "components": {
        **PREPARE,
        "one_hot_0": {
            "module": "OneHotEncoder",
            "input": {"data": {"data": ["data_transform_0.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        },
    }
}
NS = "experiment"
PREDICT_DSL = copy.deepcopy(TRAIN_DSL)
PREDICT_DSL["components"]["data_transform_0"]["input"]["model"] = ["pipeline.data_transform_0.model"]
PREDICT_DSL["components"]["one_hot_0"]["input"]["model"] = ["pipeline.one_hot_0.model"]
PREDICT_DSL["components"]["one_hot_0"]["output"] = {"data": ["data"]}


def conf(one_hot: dict[str, Any], suffix: str = "") -> dict[str, Any]:
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000]},
        "component_parameters": {
            "common": {"one_hot_0": one_hot},
            "role": {
                "guest": {"0": {"reader_0": {"table": {"name": f"oh_guest{suffix}", "namespace": NS}},
                                "data_transform_0": {"with_label": True, "label_name": "y"}}},
                "host": {"0": {"reader_0": {"table": {"name": f"oh_host{suffix}", "namespace": NS}},
                               "data_transform_0": {"with_label": False, "output_format": "sparse"},
                               "one_hot_0": {"transform_col_indexes": [], "transform_col_names": ["h1"]}}},
            },
        },
    }  # fmt: skip


def tables(seed: int, unseen: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 30
    ids = [f"u{i}" for i in range(n)]
    guest = pd.DataFrame(
        {"id": ids, "y": rng.integers(0, 2, n), "g0": rng.integers(0, 3, n), "g1": rng.integers(0, 2, n)}
    )
    host = pd.DataFrame({"id": ids, "h0": rng.normal(size=n).round(3), "h1": rng.integers(0, 4, n)})
    if unseen:
        guest.loc[0, "g0"] = 5
        host.loc[[1, 2], "h1"] = 9
    return guest, host


def out_path(job: Path, party: PartyId, name: str) -> Path:
    suffix = ".json" if name in ("model", "metrics") else ".parquet"
    return job / "outputs" / "one_hot_0" / f"{party.role.value}-{party.id}" / f"{name}{suffix}"


def run_job(
    conf_: dict[str, Any], dsl: dict[str, Any], data: Path, job: Path, model: Path | None = None
) -> None:
    def target(party: PartyId) -> Any:
        return lambda ctx: run_party(
            ctx, conf_, dsl, str(data), str(job), None if model is None else str(model)
        )

    run_parties({p: target(p) for p in (G, H)}, timeout=30)


def parse_sparse_text(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The dense matrix of a sparse frame's stored ``name:value`` text column."""
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(df), len(names)))
    for r, text in enumerate(df["features"]):
        for token in str(text).split():
            name, value = token.rsplit(":", 1)
            x[r, index[name]] = float(value)
    return x


def test_two_party_job_train_and_predict(tmp_path: Path) -> None:
    # Prepare: each party's table, training and predict (with unseen values)
    store = TableStore(tmp_path / "data")
    (g, h), (g2, h2) = tables(1, unseen=False), tables(2, unseen=True)
    for df, name, label in (
        (g, "oh_guest", "y"),
        (h, "oh_host", None),
        (g2, "oh_guest_new", "y"),
        (h2, "oh_host_new", None),
    ):
        store.save(df, name, "experiment", label_name=label)
    # Execute: train (guest encodes every column, host h1 alone on sparse data)
    run_job(conf({"transform_col_indexes": -1}), TRAIN_DSL, tmp_path / "data", tmp_path / "train")
    # Assert: the guest's output is get_dummies of its features
    guest = pd.read_parquet(out_path(tmp_path / "train", G, "data"))
    want = pd.get_dummies(g[["g0", "g1"]], columns=["g0", "g1"]).astype(np.float64)
    assert list(guest.columns) == ["id", "y", *want.columns]
    np.testing.assert_array_equal(guest[list(want.columns)].to_numpy(), want.to_numpy())
    # the host's stays sparse (stored as name:value text) and encodes h1 alone, in place
    host_model = json.loads(out_path(tmp_path / "train", H, "model").read_text())
    assert host_model["features"] == ["h0", "h1_0", "h1_1", "h1_2", "h1_3"]
    host = pd.read_parquet(out_path(tmp_path / "train", H, "data"))
    assert "features" in host.columns
    want_h = pd.concat([h[["h0"]], pd.get_dummies(h[["h1"]], columns=["h1"]).astype(np.float64)], axis=1)
    np.testing.assert_array_equal(parse_sparse_text(host, host_model["features"]), want_h.to_numpy())
    metrics = json.loads(out_path(tmp_path / "train", G, "metrics").read_text())
    assert metrics["encoded"] == 2 and metrics["produced"] == len(want.columns)
    # Execute: a predict job with the stored models on new tables
    run_job(conf({}, "_new"), PREDICT_DSL, tmp_path / "data", tmp_path / "predict", tmp_path / "train")
    # Assert: the training columns; unseen values give zero indicators and are counted
    guest2 = pd.read_parquet(out_path(tmp_path / "predict", G, "data"))
    assert list(guest2.columns) == list(guest.columns)
    want2 = pd.get_dummies(g2[["g0", "g1"]], columns=["g0", "g1"]).astype(np.float64)
    want2 = want2.reindex(columns=want.columns, fill_value=0.0)
    np.testing.assert_array_equal(guest2[list(want.columns)].to_numpy(), want2.to_numpy())
    m_g = json.loads(out_path(tmp_path / "predict", G, "metrics").read_text())
    m_h = json.loads(out_path(tmp_path / "predict", H, "metrics").read_text())
    assert m_g["mode"] == "transform" and m_g["unseen"] == {"g0": 1} and m_g["unseen_rows"] == 1
    assert m_h["unseen"] == {"h1": 2} and m_h["unseen_rows"] == 2


def test_registered_and_bad_parameters_name_the_field() -> None:
    spec = registry().get("OneHotEncoder")
    assert spec.roles == {GUEST, HOST}
    assert OneHotEncoderParams().transform_col_indexes == -1  # defaults pass their own checks
    # FATE's conf with every parameter written out, need_run included
    full = {"transform_col_indexes": -1, "transform_col_names": [], "need_run": True}
    job = load_job(conf(full), TRAIN_DSL, registry())
    assert job.params_for("one_hot_0", "guest", 0) == OneHotEncoderParams(transform_col_names=[])
    for params, field in (
        ({"transform_col_indexes": 2}, "transform_col_indexes"),
        ({"transform_col_indexes": [0, -1]}, "transform_col_indexes"),
        ({"transform_col_names": "x"}, "transform_col_names"),
        ({"transform_cols": [0]}, "transform_cols"),
        ({"need_run": "no"}, "need_run"),
    ):
        with pytest.raises(ConfigError) as info:
            load_job(conf(params), TRAIN_DSL, registry())
        assert info.value.field == field and info.value.component == "one_hot_0", params
