"""FATE's ``hetero_binning_quantile_binning`` and ``hetero_binning_woe_binning`` run unchanged with
``fedloom run`` after upload with FATE's upload conf (only ``file`` adapted), and the predict job
derived from the WOE job (FATE's deploy: :func:`fedloom.dsl.predict.derive_predict_dsl`) runs
against the trained model.

The outputs on disk are checked against an independent computation: each value's bin from the
stored split points (``np.searchsorted``), the WOE / IV of a guest column and of a host column
(known to the guest by its anonymous name only) with pandas on the joined table and the guest's
labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from binning_reference import expected_index, woe_iv
from tests.fate_jobs import BREAST_HETERO, DSL_V2, FATE, fedloom_run, upload_tables

from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl

BINNING = DSL_V2 / "hetero_feature_binning"
NAME = "hetero_feature_binning_0"
GUEST_DIR, HOST_DIR = "guest-9999", "host-10000"
PART_ROWS = 200  # the predict job's guest table: this many rows of the training table

pytestmark = [pytest.mark.skipif(not BINNING.is_dir(), reason="FATE examples not present"), pytest.mark.slow]


def raw(name: str) -> pd.DataFrame:
    """FATE's CSV, ids as text (as the table store keeps them)."""
    df = pd.read_csv(FATE / "data" / f"{name}.csv")
    return df.assign(id=df["id"].astype(str)).set_index("id")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = upload_tables(path, BREAST_HETERO)
    part = store.load("breast_hetero_guest", "experiment").head(PART_ROWS)
    store.save(part, "breast_hetero_guest_part", "experiment")
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


def train(name: str, data_dir: Path, jobs: Path) -> dict[str, Any]:
    return fedloom_run(BINNING / f"{name}_conf.json", BINNING / f"{name}_dsl.json", data_dir, jobs)


@pytest.fixture(scope="module")
def quantile(data_dir: Path, jobs: Path) -> dict[str, Any]:
    return train("hetero_binning_quantile_binning", data_dir, jobs)


@pytest.fixture(scope="module")
def woe(data_dir: Path, jobs: Path) -> dict[str, Any]:
    return train("hetero_binning_woe_binning", data_dir, jobs)


def output(job: dict[str, Any], party: str, file: str) -> Any:
    path = Path(job["job_dir"]) / "outputs" / NAME / party / file
    if file.endswith(".parquet"):
        return pd.read_parquet(path).set_index("id")
    return json.loads(path.read_text())


# -- independent references ---------------------------------------------------------------------------
def check_iv(job: dict[str, Any]) -> None:
    """The guest's IV of x0 (its own) and of the host's x3 (by anonymous name) equal pandas'."""
    guest, host = raw("breast_hetero_guest"), raw("breast_hetero_host").loc[raw("breast_hetero_guest").index]
    g_model = output(job, GUEST_DIR, "model.json")["model"]
    h_model = output(job, HOST_DIR, "model.json")["model"]
    y = guest["y"].to_numpy()
    bins = g_model["columns"]["x0"]["bins"]
    w, iv = woe_iv(expected_index(bins, guest["x0"].to_numpy()), y, len(bins["split_points"]))
    assert g_model["columns"]["x0"]["iv"] == pytest.approx(iv, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(g_model["columns"]["x0"]["stats"]["woe"], w, rtol=1e-12, atol=1e-12)
    anonymous = h_model["anonymous"]["x3"]
    assert anonymous.startswith("host_10000_") and "x3" not in json.dumps(g_model["host_columns"])
    bins = h_model["columns"]["x3"]["bins"]
    w, iv = woe_iv(expected_index(bins, host["x3"].to_numpy()), y, len(bins["split_points"]))
    assert g_model["host_columns"][anonymous]["iv"] == pytest.approx(iv, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(g_model["host_columns"][anonymous]["stats"]["woe"], w, rtol=1e-12, atol=1e-12)
    assert len(g_model["host_columns"]) == 20 and set(g_model["columns"]) == {f"x{i}" for i in range(10)}


# -- the jobs -----------------------------------------------------------------------------------------
def test_quantile_binning_job_writes_bin_indexes(quantile: dict[str, Any]) -> None:
    for party, table in ((GUEST_DIR, "breast_hetero_guest"), (HOST_DIR, "breast_hetero_host")):
        data, model = output(quantile, party, "data.parquet"), output(quantile, party, "model.json")
        source = raw(table).loc[data.index]
        assert len(data) == 569 and model["module"] == "HeteroFeatureBinning"
        features = [c for c in source.columns if c != "y"]
        assert [c for c in data.columns if c != "y"] == features
        for name in features:
            bins = model["model"]["columns"][name]["bins"]
            assert len(bins["split_points"]) <= 10
            expected = expected_index(bins, source[name].to_numpy())
            assert (data[name].to_numpy() == expected).all(), name
        if party == GUEST_DIR:
            assert (data["y"] == source["y"]).all()
    check_iv(quantile)
    guest = quantile["parties"]["guest:9999"]["components"][NAME]["metrics"]
    assert guest["mode"] == "fit" and guest["work"]["encryptions"] == 569
    assert guest["work"]["decryptions"] > 0 and len(guest["iv"]) == 30


def test_woe_binning_job_writes_the_guests_woe_and_leaves_the_host_unchanged(woe: dict[str, Any]) -> None:
    data, model = output(woe, GUEST_DIR, "data.parquet"), output(woe, GUEST_DIR, "model.json")["model"]
    source = raw("breast_hetero_guest").loc[data.index]
    y = source["y"].to_numpy()
    for name in ("x0", "x1", "x2"):  # transform_cols [0, 1, 2]: each value is its bin's WOE
        bins = model["columns"][name]["bins"]
        index = expected_index(bins, source[name].to_numpy())
        w, _ = woe_iv(index, y, len(bins["split_points"]))
        np.testing.assert_allclose(data[name].to_numpy(), w[index], rtol=1e-12, atol=1e-12)
        assert (data[name].to_numpy() == np.asarray(model["columns"][name]["stats"]["woe"])[index]).all()
    rest = [f"x{i}" for i in range(3, 10)]
    assert (data[rest] == source[rest]).all().all()
    host = output(woe, HOST_DIR, "data.parquet")  # transform_type null on the host
    assert (host == raw("breast_hetero_host").loc[host.index]).all().all()
    check_iv(woe)
    assert woe["parties"]["host:10000"]["components"][NAME]["metrics"]["transform_type"] is None


def test_predict_job_derived_from_the_woe_job_gives_the_same_data(
    woe: dict[str, Any], data_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    # Prepare: FATE's deploy of the training DSL; the guest predicts on part of its table
    train_dsl = json.loads((BINNING / "hetero_binning_woe_binning_dsl.json").read_text())
    dsl = derive_predict_dsl(train_dsl)
    assert dsl["components"][NAME]["input"]["model"] == [f"pipeline.{NAME}.model"]
    conf = derive_predict_conf(
        BINNING / "hetero_binning_woe_binning_conf.json", dsl, model_version=woe["job_id"]
    )
    conf["component_parameters"]["role"]["guest"]["0"]["reader_0"]["table"]["name"] = (
        "breast_hetero_guest_part"
    )
    assert NAME not in json.dumps(conf["component_parameters"])  # parameters come from the model
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    (tmp_path / "dsl.json").write_text(json.dumps(dsl))

    out = fedloom_run(
        tmp_path / "conf.json", tmp_path / "dsl.json", data_dir, jobs, "--model-job", woe["job_id"]
    )

    # Assert: the rows of the part, each transformed as in training (the stored bins, not refitted)
    for party in (GUEST_DIR, HOST_DIR):
        pred, trained = output(out, party, "data.parquet"), output(woe, party, "data.parquet")
        assert len(pred) == PART_ROWS
        pd.testing.assert_frame_equal(pred, trained.loc[pred.index])
    metrics = out["parties"]["guest:9999"]["components"][NAME]["metrics"]
    assert metrics["mode"] == "transform" and metrics["transformed"] == 3 and "work" not in metrics
