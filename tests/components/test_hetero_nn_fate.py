"""FATE's ``hetero_nn`` example jobs run unchanged with ``fedloom run`` after upload, and a predict
job derived from the binary job reproduces its predictions.

``hetero_nn_train_binary`` (20 full-batch epochs, Paillier 1024, the interactive layer's dropout
0.2) and ``hetero_nn_train_binary_selective_bp`` (5 epochs of batches of 128 with SelectiveBP and
dropout in the bottom models) on FATE's breast tables, uploaded with FATE's upload conf (only
``file`` adapted). The confs write ``"bottom_nn_define": null`` and ``"top_nn_define": null`` in
``common`` and the real defines per role; the job loader's merge gives each party its own.

Checked on disk: the guest's predictions of every training row (labels from FATE's CSV, scores in
[0, 1]), the evaluation's AUC (recomputed here with scikit-learn from the predictions), both
parties' models (``model.json`` with the weights as files next to it; the host's holds no top
model), then the predict job (FATE's deploy: :func:`fedloom.dsl.derive_predict_dsl` and
:func:`~fedloom.dsl.derive_predict_conf`, ``--model-job``) giving the same scores for the same rows.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load
from sklearn.metrics import roc_auc_score
from tests.fate_jobs import BREAST_HETERO, DSL_V2, FATE, data_folder, fedloom_run

from fedloom.components import registry
from fedloom.core import Role
from fedloom.dsl import load_job
from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl
from fedloom.ml.hetero.nn import HeteroNNParams

NN = DSL_V2 / "hetero_nn"
NAME = "hetero_nn_0"
GUEST_DIR, HOST_DIR = "guest-9999", "host-10000"

pytestmark = pytest.mark.skipif(not NN.is_dir(), reason="FATE examples not present")
JOBS = ("hetero_nn_train_binary", "hetero_nn_train_binary_selective_bp")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, BREAST_HETERO)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


def train(job: str, data_dir: Path, jobs: Path) -> dict[str, Any]:
    return fedloom_run(NN / f"{job}_conf.json", NN / f"{job}_dsl.json", data_dir, jobs, timeout=300, wait=600)


@pytest.fixture(scope="module")
def binary(data_dir: Path, jobs: Path) -> dict[str, Any]:
    return train("hetero_nn_train_binary", data_dir, jobs)


def output(job: dict[str, Any], party: str, file: str) -> Any:
    path = Path(job["job_dir"]) / "outputs" / NAME / party / file
    if file.endswith(".parquet"):
        return pd.read_parquet(path)
    return json.loads(path.read_text())


def labels() -> pd.Series:
    df = pd.read_csv(FATE / "data" / "breast_hetero_guest.csv")
    return df.assign(id=df["id"].astype(str)).set_index("id")["y"]


def stored_weights(job: dict[str, Any], party: str) -> dict[str, np.ndarray]:
    """A party's stored weights, read from the file ``model.json`` names (its sha256 checked)."""
    folder = Path(job["job_dir"]) / "outputs" / NAME / party
    model = output(job, party, "model.json")
    assert model["module"] == "HeteroNN"
    ref = model["model"]["weights.safetensors"]
    data = (folder / ref["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == ref["sha256"] and len(data) == ref["bytes"]
    return dict(load(data))


def check_training(job: dict[str, Any], min_auc: float, epochs: int, selective: bool) -> pd.DataFrame:
    """The guest's predictions of every row, the evaluation's AUC, the training history (every
    epoch run, the loss going down; SelectiveBP back-propagating fewer rows) and both parties'
    models."""
    preds = output(job, GUEST_DIR, "data.parquet")
    assert preds.groupby("type").size().to_dict() == {"train": 569}
    preds = preds.assign(id=preds["id"].astype(str))
    assert (preds["label"].to_numpy() == labels().loc[preds["id"]].to_numpy()).all()
    assert preds["predict_score"].between(0, 1).all()
    assert set(preds["predict_result"].astype(int)) <= {0, 1}
    auc = roc_auc_score(preds["label"], preds["predict_score"])
    ev = job["parties"]["guest:9999"]["components"]["eval_0"]["metrics"]
    assert ev["series"][f"{NAME}.train"]["auc"] == pytest.approx(auc, abs=1e-12)
    assert auc > min_auc, auc
    history = output(job, GUEST_DIR, "model.json")["model"]["history"]
    assert len(history["loss"]) == len(history["selected"]) == epochs
    assert history["loss"][-1] < history["loss"][0]
    if selective:  # some low-loss rows left out of the backward passes, never all of them
        assert all(0 < n <= 569 for n in history["selected"]) and min(history["selected"]) < 569
    else:
        assert history["selected"] == [569] * epochs
    # both parties stored their part: weights.safetensors next to model.json (sha256 recorded)
    weights = {party: stored_weights(job, party) for party in (GUEST_DIR, HOST_DIR)}
    g, h = weights[GUEST_DIR], weights[HOST_DIR]
    assert {k.split(".")[0] for k in g} == {"bottom", "interactive", "top"}
    assert g["interactive.guest_weight"].shape == (4, 4) and g["interactive.host_weight.0"].shape == (4, 4)
    assert g["bottom.0.weight"].shape == (4, 10)
    # the host: its bottom model and its accumulated noise; no top model, no interactive weights
    assert {k.split(".")[0] for k in h} == {"bottom", "interactive"}
    assert [k for k in h if k.startswith("interactive.")] == ["interactive.acc_noise"]
    assert h["bottom.0.weight"].shape == (4, 20) and h["interactive.acc_noise"].shape == (4, 4)
    assert output(job, HOST_DIR, "model.json")["model"]["top"] == []
    return preds


@pytest.mark.parametrize("job", JOBS)
def test_the_confs_load_with_each_partys_own_network(job: str) -> None:
    # Execute: the job loader merges common <- role and the algorithm checks each party's result
    loaded = load_job(NN / f"{job}_conf.json", NN / f"{job}_dsl.json", registry())
    guest = HeteroNNParams.from_dict(loaded.parameters_for(NAME, "guest", 0))
    host = HeteroNNParams.from_dict(loaded.parameters_for(NAME, "host", 0))
    # Assert: the role defines replaced common's nulls; the top model is the guest's only
    assert registry().get("HeteroNN").roles == {Role.GUEST, Role.HOST}
    assert [layer["in_features"] for layer in (guest.bottom_layers()[0], host.bottom_layers()[0])] == [10, 20]
    assert [layer["layer"] for layer in guest.top_layers()] == [
        "Linear",
        "Sigmoid",
    ] and host.top_layers() == []
    for p in (guest, host):
        inter = p.interactive_layer_define
        assert inter is not None and (inter.out_dim, inter.guest_dim, inter.host_dim) == (4, 4, 4)
        assert p.encrypt_param.key_length == 1024 and p.loss_name == "BCELoss"
        assert p.optimizer_lr == 0.01 and p.interactive_layer_lr == 0.01
    assert guest.selector_param.method == ("relative" if job.endswith("selective_bp") else "none")
    assert (guest.epochs, guest.batch_size) == ((5, 128) if job.endswith("selective_bp") else (20, -1))


@pytest.mark.slow
def test_binary_job_on_breast(binary: dict[str, Any]) -> None:
    # 20 full-batch Adam steps at lr 0.01 from a random start: the centralised network of this
    # shape reaches a training AUC of 0.94 to 0.99 depending on the initial weights (8 seeds);
    # this job's is 0.966
    check_training(binary, min_auc=0.9, epochs=20, selective=False)


@pytest.mark.slow
def test_selective_bp_job_on_breast(data_dir: Path, jobs: Path) -> None:
    out = train("hetero_nn_train_binary_selective_bp", data_dir, jobs)
    # 5 epochs of 5 batches of 128 (SelectiveBP drops low-loss rows from the backward passes);
    # this job's training AUC is 0.981
    check_training(out, min_auc=0.9, epochs=5, selective=True)


@pytest.mark.slow
def test_predict_job_reproduces_the_training_predictions(
    binary: dict[str, Any], data_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    # Prepare: FATE's deploy of the training job (Evaluation left out), its tables
    dsl = derive_predict_dsl(NN / "hetero_nn_train_binary_dsl.json")
    assert dsl["components"][NAME]["input"]["model"] == [f"pipeline.{NAME}.model"]
    assert "eval_0" not in dsl["components"]
    conf = derive_predict_conf(NN / "hetero_nn_train_binary_conf.json", dsl, model_version=binary["job_id"])
    assert NAME not in json.dumps(conf.get("component_parameters", {}))  # parameters come from the model
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    (tmp_path / "dsl.json").write_text(json.dumps(dsl))

    # Execute
    out = fedloom_run(
        tmp_path / "conf.json", tmp_path / "dsl.json", data_dir, jobs, "--model-job", binary["job_id"],
        timeout=300, wait=600,
    )  # fmt: skip

    # Assert: every row, type test, the training job's scores for the same ids
    pred = output(out, GUEST_DIR, "data.parquet")
    pred = pred.assign(id=pred["id"].astype(str)).set_index("id")
    assert len(pred) == 569 and set(pred["type"]) == {"test"}
    trained = output(binary, GUEST_DIR, "data.parquet")
    trained = trained.assign(id=trained["id"].astype(str)).set_index("id").loc[pred.index]
    # Both pass the host's part through the same encrypted interactive layer with the same stored
    # weights: the fixed-point products are exact integers and the masks cancel exactly, so the
    # scores are the same numbers, not merely close
    np.testing.assert_allclose(pred["predict_score"], trained["predict_score"], rtol=0, atol=1e-12)
    assert (pred["predict_result"].astype(int) == trained["predict_result"].astype(int)).all()
    assert (pred["label"].to_numpy() == trained["label"].to_numpy()).all()
