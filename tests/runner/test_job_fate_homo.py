"""FATE's horizontal jobs (``fate_examples/dsl_v2/homo_logistic_regression`` and ``homo_nn``) run
unchanged with ``fedloom run``, FeatureScale included; the trained homo LR job then predicts new
rows through its stored FeatureScale and HomoLR models.

The tables are uploaded with FATE's upload conf, only ``file`` and ``table_name`` adapted (FATE
ships one upload conf; the others are the same with their own file and table name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.fate_jobs import DSL_V2, FATE, data_folder, fedloom_run

from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl

LR_DIR, NN_DIR = DSL_V2 / "homo_logistic_regression", DSL_V2 / "homo_nn"
TABLES = (
    "breast_homo_guest",
    "breast_homo_host",
    "breast_homo_test",
    "vehicle_scale_homo_guest",
    "vehicle_scale_homo_host",
)
PARTIES = ("guest-9999", "host-10000", "arbiter-10000")

pytestmark = pytest.mark.skipif(not LR_DIR.is_dir(), reason="FATE examples not present")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, TABLES)


def run(conf: Path, dsl: Path, data_dir: Path, job_dir: Path, *extra: str) -> dict[str, Any]:
    """``fedloom run --json`` on the files as they are; the parsed result."""
    return fedloom_run(conf, dsl, data_dir, job_dir, *extra, timeout=60, wait=180)


def outputs(out: dict[str, Any], component: str, party: str) -> Path:
    return Path(out["job_dir"]) / "outputs" / component / party


def components(out: dict[str, Any], party: str) -> dict[str, Any]:
    comps: dict[str, Any] = out["parties"][party]["components"]
    return comps


@pytest.fixture(scope="module")
def homo_lr(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    jobs = tmp_path_factory.mktemp("jobs")
    return run(LR_DIR / "homo_lr_train_conf.json", LR_DIR / "homo_lr_train_dsl.json", data_dir, jobs)


def test_fate_homo_lr_job_runs_unchanged(homo_lr: dict[str, Any]) -> None:
    guest, host = components(homo_lr, "guest:9999"), components(homo_lr, "host:10000")
    arbiter = components(homo_lr, "arbiter:10000")
    # FeatureScale ran on guest and host (each on its own rows), not on the arbiter
    assert guest["scale_0"]["state"] == host["scale_0"]["state"] == "done"
    assert arbiter["scale_0"]["state"] == "skipped"
    for party, rows in (("guest-9999", 227), ("host-10000", 228)):
        model = json.loads((outputs(homo_lr, "scale_0", party) / "model.json").read_text())
        assert model["module"] == "FeatureScale" and model["method"] == "standard_scale"
        assert list(model["columns"]) == [f"x{i}" for i in range(30)]
        scaled = pd.read_parquet(outputs(homo_lr, "scale_0", party) / "data.parquet")
        x = scaled[[f"x{i}" for i in range(30)]].to_numpy()
        assert len(scaled) == rows
        np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(x.std(0), 1.0, atol=1e-12)
    # HomoLR trained on the scaled data: one global model, predictions and evaluation on the guest
    assert guest["homo_lr_0"]["state"] == "done" and guest["homo_lr_0"]["metrics"]["rounds"] <= 30
    weights = [
        json.loads((outputs(homo_lr, "homo_lr_0", p) / "model.json").read_text())["model"]["weights"]
        for p in PARTIES
    ]
    assert weights[0] == weights[1] == weights[2]
    preds = pd.read_parquet(outputs(homo_lr, "homo_lr_0", "guest-9999") / "data.parquet")
    assert (preds["predict_result"] == preds["label"]).mean() > 0.93
    metrics = guest["evaluation_0"]["metrics"]
    assert metrics["eval_type"] == "binary" and metrics["auc"] > 0.98
    assert host["evaluation_0"]["state"] == "skipped"  # need_run: false for the host
    assert (outputs(homo_lr, "evaluation_0", "guest-9999") / "roc.png").is_file()


def test_fate_homo_lr_predicts_through_its_stored_scale_model(
    homo_lr: dict[str, Any], data_dir: Path, tmp_path: Path
) -> None:
    # Prepare: FATE's deploy of the training DSL; both parties predict breast_homo_test
    train_dsl = json.loads((LR_DIR / "homo_lr_train_dsl.json").read_text())
    dsl = derive_predict_dsl(train_dsl)
    assert dsl["components"]["scale_0"]["input"]["model"] == ["pipeline.scale_0.model"]
    conf = derive_predict_conf(LR_DIR / "homo_lr_train_conf.json", dsl)
    for role in ("guest", "host"):
        conf["component_parameters"]["role"][role]["0"]["reader_0"]["table"]["name"] = "breast_homo_test"
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    (tmp_path / "dsl.json").write_text(json.dumps(dsl))
    # Execute
    out = run(
        tmp_path / "conf.json",
        tmp_path / "dsl.json",
        data_dir,
        tmp_path / "jobs",
        "--model-job",
        homo_lr["job_dir"],
    )
    # Assert: each party applied its own training statistics to the new rows
    raw = pd.read_csv(FATE / "data" / "breast_homo_test.csv")
    for party in ("guest-9999", "host-10000"):
        trained = json.loads((outputs(homo_lr, "scale_0", party) / "model.json").read_text())
        again = json.loads((outputs(out, "scale_0", party) / "model.json").read_text())
        assert again["columns"] == trained["columns"]
        role = party.replace("-", ":")
        assert components(out, role)["scale_0"]["metrics"]["mode"] == "transform"
        scaled = pd.read_parquet(outputs(out, "scale_0", party) / "data.parquet")
        assert scaled["id"].tolist() == raw["id"].astype(str).tolist()
        for col in ("x0", "x17"):
            s = trained["columns"][col]
            expected = (raw[col].clip(s["lower"], s["upper"]) - s["centre"]) / s["scale"]
            np.testing.assert_allclose(scaled[col], expected, rtol=1e-12, atol=1e-12)
        preds = pd.read_parquet(outputs(out, "homo_lr_0", party) / "data.parquet")
        assert set(preds["type"]) == {"test"} and (preds["predict_result"] == preds["label"]).mean() > 0.9


@pytest.mark.slow  # three processes training 20 / 50 rounds: 6-8 s each on 2 idle cores, 12 s loaded
@pytest.mark.parametrize(("job", "rounds", "accuracy"), [("binary", 20, 0.9), ("multi", 50, 0.6)])
def test_fate_homo_nn_job_runs_unchanged(
    job: str, rounds: int, accuracy: float, data_dir: Path, tmp_path: Path
) -> None:
    # Execute
    out = run(
        NN_DIR / f"homo_nn_train_{job}_conf.json",
        NN_DIR / f"homo_nn_train_{job}_dsl.json",
        data_dir,
        tmp_path,
    )
    # Assert: every party holds the global network; the guest evaluated its predictions
    guest = components(out, "guest:9999")
    assert guest["nn_0"]["metrics"]["rounds"] == rounds
    models = [json.loads((outputs(out, "nn_0", p) / "model.json").read_text()) for p in PARTIES]
    assert all(m["module"] == "HomoNN" for m in models)
    metrics = guest["eval_0"]["metrics"]
    assert metrics["eval_type"] == job and metrics["accuracy"] > accuracy
    preds = pd.read_parquet(outputs(out, "nn_0", "guest-9999") / "data.parquet")
    assert (preds["predict_result"] == preds["label"]).mean() == pytest.approx(metrics["accuracy"])


@pytest.fixture(scope="module")
def homo_lr_ovr(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    jobs = tmp_path_factory.mktemp("jobs")
    return run(
        LR_DIR / "homo_lr_one_vs_all_conf.json", LR_DIR / "homo_lr_one_vs_all_dsl.json", data_dir, jobs
    )


def test_fate_homo_lr_one_vs_all_job_runs_unchanged(homo_lr_ovr: dict[str, Any]) -> None:
    guest = components(homo_lr_ovr, "guest:9999")
    # one binary model per class, the same on every party (the arbiter's without a schema)
    models = [
        json.loads((outputs(homo_lr_ovr, "homo_lr_0", p) / "model.json").read_text())["model"]
        for p in PARTIES
    ]
    assert [m["classes"] for m in models] == [[0, 1, 2, 3]] * 3
    for k in range(4):
        assert models[0]["per_class"][k]["weights"] == models[1]["per_class"][k]["weights"]
        assert models[0]["per_class"][k]["weights"] == models[2]["per_class"][k]["weights"]
    assert guest["homo_lr_0"]["metrics"]["classes"] == [0, 1, 2, 3]
    assert guest["homo_lr_0"]["metrics"]["rounds"] == 1
    # FATE's layout: the argmax class, its score, every class's score in predict_detail
    for comp in ("homo_lr_0", "homo_lr_1"):
        preds = pd.read_parquet(outputs(homo_lr_ovr, comp, "guest-9999") / "data.parquet")
        details = pd.DataFrame([json.loads(d) for d in preds["predict_detail"]])
        assert details.columns.tolist() == ["0", "1", "2", "3"]
        assert (details.to_numpy().argmax(axis=1) == preds["predict_result"]).all()
        np.testing.assert_allclose(details.to_numpy().max(axis=1), preds["predict_score"])
    host_preds = pd.read_parquet(outputs(homo_lr_ovr, "homo_lr_1", "host-10000") / "data.parquet")
    assert set(host_preds["type"]) == {"test"}
    metrics = guest["evaluation_0"]["metrics"]
    assert metrics["eval_type"] == "multi" and metrics["accuracy"] > 0.4  # one epoch (FATE's max_iter: 1)


def test_fate_homo_lr_one_vs_all_class_models_equal_fedavg_on_each_binary_task(
    homo_lr_ovr: dict[str, Any],
) -> None:
    from fedloom.context import Context
    from fedloom.data import Frame, frame_from_table, read_csv_table
    from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
    from fedloom.ml.homo.params import HomoLRParams
    from fedloom.testing import run_parties

    conf = json.loads((LR_DIR / "homo_lr_one_vs_all_conf.json").read_text())
    params = HomoLRParams.from_dict(conf["component_parameters"]["common"]["homo_lr_0"])
    tables = [read_csv_table(FATE / "data" / f"vehicle_scale_homo_{r}.csv") for r in ("guest", "host")]
    frames = [frame_from_table(t, with_label=True, label_name="y") for t in tables]
    stored = json.loads((outputs(homo_lr_ovr, "homo_lr_0", "guest-9999") / "model.json").read_text())["model"]
    for k, c in enumerate(stored["classes"]):
        g, h = (Frame(f.ids, f.features, f.feature_names, f.label == c) for f in frames)

        def guest_fit(ctx: Context, g: Frame = g) -> HomoLRModel:
            return HomoLRClient(params).fit(ctx, g)

        def host_fit(ctx: Context, h: Frame = h) -> HomoLRModel:
            return HomoLRClient(params).fit(ctx, h)

        out = run_parties({"guest": guest_fit, "host": host_fit, "arbiter": HomoLRArbiter(params).fit})
        assert stored["per_class"][k]["weights"] == [float(w) for w in out["guest"].weights]
        assert stored["per_class"][k]["intercept"] == float(out["guest"].intercept)
