"""FATE's ``hetero_secureboost`` example jobs run unchanged with ``fedloom run`` after upload.

The binary (breast), multi-class (vehicle_scale) and regression (student, ``label_type`` float)
training confs with ``test_secureboost_train_dsl.json``, each with Paillier 1024 as FATE's confs
ask, then FATE's ``test_predict`` conf and dsl against the binary job's model (``--model-job``).
The tables are uploaded with FATE's upload conf (only ``file`` adapted).

The one change to a FATE file: the predict conf names host ``10000`` while FATE's binary training
conf trains with host ``9998``; a party loads its own part of the model, so the predict job runs
with the training job's host id (FATE-Flow would not find a model for host 10000 either).

Checked on disk: predictions for ``train`` and ``validate`` (and ``test`` in the predict job,
equal to the training job's), the evaluation's metrics (recomputed here with scikit-learn from the
predictions), every party's model, and that the guest's model holds no host feature, bin or
threshold while the host's model holds the thresholds of its own splits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from fedloom.data import TableStore

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)
SBT = FATE / "dsl_v2" / "hetero_secureboost"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")
NAME = "hetero_secure_boost_0"
GUEST_DIR, HOST_DIR = "guest-9999", "host-9998"
TABLES = ("breast", "vehicle_scale", "student")

pytestmark = [pytest.mark.skipif(not SBT.is_dir(), reason="FATE examples not present"), pytest.mark.slow]


def fedloom_run(conf: Path, dsl: Path, data_dir: Path, job_dir: Path, *extra: str) -> dict[str, Any]:
    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(conf), "-d", str(dsl), "--data-dir", str(data_dir),
         "--job-dir", str(job_dir), "--timeout", "300", "--json", *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out: dict[str, Any] = json.loads(res.stdout)
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    upload = json.loads((FATE / "dsl_v2" / "upload" / "upload_conf.json").read_text())
    for table in TABLES:
        for side in ("guest", "host"):
            name = f"{table}_hetero_{side}"
            store.upload({**upload, "file": str(FATE / "data" / f"{name}.csv"), "table_name": name})
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


def train(kind: str, data_dir: Path, jobs: Path) -> dict[str, Any]:
    conf = SBT / f"test_secureboost_train_{kind}_conf.json"
    return fedloom_run(conf, SBT / "test_secureboost_train_dsl.json", data_dir, jobs)


@pytest.fixture(scope="module")
def binary(data_dir: Path, jobs: Path) -> dict[str, Any]:
    return train("binary", data_dir, jobs)


def output(job: dict[str, Any], party: str, file: str) -> Any:
    path = Path(job["job_dir"]) / "outputs" / NAME / party / file
    if file.endswith(".parquet"):
        return pd.read_parquet(path)
    return json.loads(path.read_text())


def labels(table: str) -> pd.Series:
    df = pd.read_csv(FATE / "data" / f"{table}_hetero_guest.csv")
    return df.assign(id=df["id"].astype(str)).set_index("id")["y"]


def check_models(job: dict[str, Any], guest_features: int) -> dict[str, Any]:
    """Both parties' models are there; the guest's holds nothing of the host's splits."""
    g = output(job, GUEST_DIR, "model.json")
    h = output(job, HOST_DIR, "model.json")
    assert g["module"] == h["module"] == "HeteroSecureBoost"
    gm, hm = g["model"], h["model"]
    assert len(gm["trees"]) == len(hm["trees"]) >= 3
    assert len(gm["bins"]) == guest_features  # its own features' bins only
    host_nodes = 0
    for gt, ht in zip(gm["trees"], hm["trees"], strict=True):
        host_tree = {n["id"]: n for n in ht["nodes"]}
        for node in gt["nodes"]:
            if node["is_leaf"] or node["owner"] == "guest":
                continue
            host_nodes += 1
            assert node.get("feature") is None and node.get("bin") is None and node.get("threshold") is None
            mine = host_tree[node["id"]]
            assert mine["feature"] is not None and mine["threshold"] is not None  # the host keeps them
    assert host_nodes > 0  # the host's features were used
    assert "anonymous" in hm and len(hm["anonymous"]) == len(hm["bins"])
    # the guest names a host feature by its anonymous name only (FATE's host_<party>_<i>)
    hosts_seen = set(gm.get("feature_importance", {})) - set(gm["bins"])
    assert hosts_seen and hosts_seen <= set(hm["anonymous"].values())
    return gm


# -- the jobs -----------------------------------------------------------------------------------------
def test_binary_job_on_breast(binary: dict[str, Any]) -> None:
    preds = output(binary, GUEST_DIR, "data.parquet")
    assert preds.groupby("type").size().to_dict() == {"train": 569, "validate": 569}
    y = labels("breast")
    for kind in ("train", "validate"):
        part = preds[preds["type"] == kind]
        assert (part["label"].to_numpy() == y.loc[part["id"].astype(str)].to_numpy()).all()
        assert part["predict_score"].between(0, 1).all()
    ev = binary["parties"]["guest:9999"]["components"]["evaluation_0"]["metrics"]
    train = preds[preds["type"] == "train"]
    auc = roc_auc_score(train["label"], train["predict_score"])
    assert ev["series"][f"{NAME}.train"]["auc"] == pytest.approx(auc, abs=1e-12)
    assert auc > 0.97
    gm = check_models(binary, guest_features=10)
    assert len(gm["trees"]) == 3 and gm["task_type"] == "classification"


def test_multi_class_job_on_vehicle_scale(data_dir: Path, jobs: Path) -> None:
    out = train("multi", data_dir, jobs)

    preds = output(out, GUEST_DIR, "data.parquet")
    assert preds.groupby("type").size().to_dict() == {"train": 846, "validate": 846}
    train_part = preds[preds["type"] == "train"]
    detail = train_part["predict_detail"].map(json.loads)
    assert len(detail.iloc[0]) == 4
    np.testing.assert_allclose([sum(d.values()) for d in detail], 1.0, atol=1e-9)
    acc = accuracy_score(train_part["label"].astype(int), train_part["predict_result"].astype(int))
    ev = out["parties"]["guest:9999"]["components"]["evaluation_0"]["metrics"]
    assert ev["eval_type"] == "multi"
    assert ev["series"][f"{NAME}.train"]["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert acc > 0.6  # 3 rounds of depth-3 trees on 4 classes; a constant guess is ~0.26
    gm = check_models(out, guest_features=9)
    assert len(gm["trees"]) == 3 * 4  # SingleOutput: one tree per class per round


def test_regression_job_on_student(data_dir: Path, jobs: Path) -> None:
    out = train("regression", data_dir, jobs)

    preds = output(out, GUEST_DIR, "data.parquet")
    assert preds.groupby("type").size().to_dict() == {"train": 395, "validate": 395}
    train_part = preds[preds["type"] == "train"]
    mse = mean_squared_error(train_part["label"].astype(float), train_part["predict_result"].astype(float))
    ev = out["parties"]["guest:9999"]["components"]["evaluation_0"]["metrics"]
    assert ev["eval_type"] == "regression"
    assert ev["series"][f"{NAME}.train"]["mse"] == pytest.approx(mse, rel=1e-9)
    assert mse < train_part["label"].astype(float).var()  # better than the mean
    check_models(out, guest_features=6)


def test_predict_job_against_the_binary_model(
    binary: dict[str, Any], data_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    # Prepare: FATE's predict conf, its host id set to the training job's (module docstring)
    conf = json.loads((SBT / "test_predict_conf.json").read_text())
    conf["role"]["host"] = [9998]
    (tmp_path / "conf.json").write_text(json.dumps(conf))

    out = fedloom_run(
        tmp_path / "conf.json", SBT / "test_predict_dsl.json", data_dir, jobs, "--model-job", binary["job_id"]
    )

    pred = output(out, GUEST_DIR, "data.parquet").set_index("id")
    assert len(pred) == 569 and set(pred["type"]) == {"test"}
    trained = output(binary, GUEST_DIR, "data.parquet")
    trained = trained[trained["type"] == "train"].set_index("id").loc[pred.index]
    np.testing.assert_allclose(pred["predict_score"], trained["predict_score"], rtol=0, atol=1e-12)
    assert (pred["predict_result"] == trained["predict_result"]).all()
