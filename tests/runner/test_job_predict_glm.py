"""FATE's ``hetero_lr_normal`` runs unchanged with ``fedloom run`` (train), then FATE's
``hetero_lr_normal_predict`` runs unchanged against the trained model (``--model-job``).

The tables are uploaded with FATE's upload conf, only ``file`` adapted. Predicting the training
data again must reproduce the training predictions; predict data with other columns must fail
naming them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.fate_jobs import BREAST_HETERO, DSL_V2, failure, run_cli, upload_tables

LR = DSL_V2 / "hetero_logistic_regression"

pytestmark = [
    pytest.mark.skipif(not LR.is_dir(), reason="FATE examples not present"),
    pytest.mark.slow,
]


def fedloom_run(
    conf: Path, dsl: Path, data_dir: Path, job_dir: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    res = run_cli(conf, dsl, data_dir, job_dir, *extra)
    try:
        return res.returncode, json.loads(res.stdout)
    except json.JSONDecodeError:
        raise AssertionError(failure(res)) from None


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = upload_tables(path, BREAST_HETERO)
    wrong = store.load("breast_hetero_host", "experiment").drop(columns=["x7"]).assign(x20=0.0)
    store.save(wrong, "breast_hetero_host_wrong", "experiment")
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def trained(data_dir: Path, jobs: Path) -> dict[str, Any]:
    code, out = fedloom_run(
        LR / "hetero_lr_normal_conf.json", LR / "hetero_lr_normal_dsl.json", data_dir, jobs
    )
    assert code == 0, out.get("failure")
    return out


def test_hetero_lr_normal_trains_and_evaluates(trained: dict[str, Any]) -> None:
    job_dir = Path(trained["job_dir"])
    guest = trained["parties"]["guest:9999"]["components"]
    ev = guest["evaluation_0"]["metrics"]
    assert ev["eval_type"] == "binary" and ev["rows"] == 569
    assert ev["auc"] > 0.98 and ev["ks"] > 0.8 and ev["accuracy"] > 0.9
    for party in ("guest-9999", "host-10000", "arbiter-10000"):
        model = json.loads((job_dir / "outputs" / "hetero_lr_0" / party / "model.json").read_text())
        assert model["module"] == "HeteroLR" and model["params"]["encrypt_param"] == {"key_length": 1024}
    preds = pd.read_parquet(job_dir / "outputs" / "hetero_lr_0" / "guest-9999" / "data.parquet")
    assert len(preds) == 569 and set(preds["type"]) == {"train"}
    assert ((preds["predict_score"] >= 0.5).astype(int) == preds["predict_result"]).all()
    assert (job_dir / "outputs" / "evaluation_0" / "guest-9999" / "roc.png").is_file()
    assert trained["model_id"] == "arbiter-10000#guest-9999#host-10000#model"
    assert trained["model_version"] == trained["job_id"]


def test_hetero_lr_normal_predict_runs_unchanged_against_the_model(
    trained: dict[str, Any], data_dir: Path, jobs: Path
) -> None:
    code, out = fedloom_run(
        LR / "hetero_lr_normal_predict_conf.json",
        LR / "hetero_lr_normal_predict_dsl.json",
        data_dir,
        jobs,
        "--model-job",
        trained["job_id"],
    )

    assert code == 0, out.get("failure")
    assert out["model_job"] == trained["job_id"]
    pred = pd.read_parquet(Path(out["job_dir"]) / "outputs" / "hetero_lr_0" / "guest-9999" / "data.parquet")
    train = pd.read_parquet(
        Path(trained["job_dir"]) / "outputs" / "hetero_lr_0" / "guest-9999" / "data.parquet"
    )
    assert (pred["type"] == "test").all() and pred["id"].tolist() == train["id"].tolist()
    np.testing.assert_allclose(pred["predict_score"], train["predict_score"], atol=1e-6)
    assert (pred["predict_result"] == train["predict_result"]).all()


def test_predict_data_with_other_columns_fails_naming_them(
    trained: dict[str, Any], data_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    conf = json.loads((LR / "hetero_lr_normal_predict_conf.json").read_text())
    conf["component_parameters"]["role"]["host"]["0"]["reader_0"]["table"]["name"] = (
        "breast_hetero_host_wrong"
    )
    conf["job_parameters"]["common"]["model_version"] = trained["job_id"]  # instead of --model-job
    (tmp_path / "conf.json").write_text(json.dumps(conf))

    code, out = fedloom_run(tmp_path / "conf.json", LR / "hetero_lr_normal_predict_dsl.json", data_dir, jobs)

    assert code == 3  # DataError
    f = out["failure"]
    assert (f["party"], f["component"], f["error_type"]) == ("host:10000", "data_transform_0", "DataError")
    assert "missing 1 column(s) the model was trained on: 'x7'" in f["message"]
    assert "1 column(s) the model never saw: 'x20'" in f["message"]
