"""The model-component base (components/model.py, which binds the GLMs) with a stand-in algorithm:
train → predictions → Evaluation, per-party model artifacts, predict jobs against them, schema
checks, warm start.

The stand-in has the real algorithms' API (``Params.from_dict``, ``Guest/Host/Arbiter.fit`` and
``predict``, ``Model.to_dict/from_dict/summary``) and a trivial protocol (the host sends its
``x·w``), so the binding is tested in threads over the in-memory transport in a second or two.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict
from tests.job_dsl import psi_dsl

from fedloom.components.model import Algorithm, register_model_component
from fedloom.context import Channel, Context
from fedloom.core import ARBITER, GUEST, HOST, ConfigError, PartyId
from fedloom.data import Frame, TableStore
from fedloom.dsl import REGISTRY
from fedloom.ml.predictions import Predictions
from fedloom.runner.job import run_party
from fedloom.testing import run_parties

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PARTIES = [PartyId.parse(p) for p in ("guest:9999", "host:10000", "arbiter:10000")]
FORWARD = Channel("stand_in_forward", src=HOST, dst=GUEST)
MODULE = "StandInGLM"


# -- the stand-in algorithm ----------------------------------------------------------------------
class StandInParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    algorithm: ClassVar[str] = MODULE
    learning_rate: float = 0.1

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, *, component: str | None = None) -> Any:
        bad = sorted(set(values or {}) - set(cls.model_fields))
        if bad:
            raise ConfigError(f"The '{bad[0]}' parameter of {MODULE} is not a recognised name.", field=bad[0])
        return cls.model_validate(values or {})


class StandInModel:
    def __init__(self, weights: list[float], features: list[str]) -> None:
        self.weights, self.features = weights, features

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "features": self.features}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StandInModel:
        return cls(list(d["weights"]), list(d["features"]))

    def summary(self) -> dict[str, Any]:
        return {"n_iter": 1, "weights": len(self.weights)}


def _weights(frame: Frame, params: StandInParams) -> list[float]:
    x = frame.features
    if frame.label is None:  # host: no say (its forward still travels)
        return [0.0] * frame.n_features
    y = frame.label * 2.0 - 1.0
    return list(params.learning_rate * (x * y[:, None]).mean(axis=0))


class StandInGuest:
    def __init__(self, params: StandInParams) -> None:
        self.params = params

    def fit(self, ctx: Context, train: Frame, validate: Frame | None) -> StandInModel:
        return StandInModel(_weights(train, self.params), list(train.feature_names))

    def predict(self, ctx: Context, model: StandInModel, data: Frame) -> Predictions:
        wx = data.features @ np.asarray(model.weights) + ctx.recv(FORWARD)
        score = 1.0 / (1.0 + np.exp(-wx))
        label = None if data.label is None else data.label
        return Predictions(data.ids, score, (score >= 0.5).astype(int), label, "binary", classes=[0, 1])


class StandInHost:
    def __init__(self, params: StandInParams) -> None:
        self.params = params

    def fit(self, ctx: Context, train: Frame, validate: Frame | None) -> StandInModel:
        return StandInModel(_weights(train, self.params), list(train.feature_names))

    def predict(self, ctx: Context, model: StandInModel, data: Frame) -> None:
        ctx.send(FORWARD, data.features @ np.asarray(model.weights))


class StandInArbiter:
    calls: ClassVar[list[str]] = []

    def __init__(self, params: StandInParams) -> None:
        self.params = params

    def fit(self, ctx: Context) -> StandInModel:
        return StandInModel([], [])

    def predict(self, ctx: Context, model: StandInModel) -> None:
        StandInArbiter.calls.append(".".join(ctx.namespace))


def _algorithm() -> Algorithm[StandInParams, StandInModel]:
    return Algorithm(StandInParams, StandInGuest, StandInHost, StandInArbiter, StandInModel)


# -- jobs ----------------------------------------------------------------------------------------
TRAIN_DSL = psi_dsl(
    glm_0={
        "module": MODULE,
        "input": {"data": {"train_data": ["intersection_0.data"], "validate_data": ["intersection_0.data"]}},
        "output": {"data": ["data"], "model": ["model"]},
    },
    evaluation_0={
        "module": "Evaluation",
        "input": {"data": {"data": ["glm_0.data"]}},
        "output": {"data": ["data"]},
    },
)
PREDICT_DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {
            "module": "DataTransform",
            "input": {"data": {"data": ["reader_0.data"]}, "model": ["pipeline.data_transform_0.model"]},
            "output": {"data": ["data"]},
        },
        "intersection_0": {
            "module": "Intersection",
            "input": {"data": {"data": ["data_transform_0.data"]}},
            "output": {"data": ["data"]},
        },
        "glm_0": {
            "module": MODULE,
            "input": {"data": {"test_data": ["intersection_0.data"]}, "model": ["pipeline.glm_0.model"]},
            "output": {"data": ["data"]},
        },
    }
}


def conf(host_table: str = "breast_hetero_host", glm: dict | None = None) -> dict:
    tables = {"guest": "breast_hetero_guest", "host": host_table}
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "component_parameters": {
            "common": {
                "intersection_0": {"intersect_method": "ecdh"},
                "glm_0": {"learning_rate": 0.5} if glm is None else glm,
            },
            "role": {
                role: {"0": {"reader_0": {"table": {"name": t, "namespace": "experiment"}},
                             "data_transform_0": {"with_label": role == "guest"}}}
                for role, t in tables.items()
            },
        },
    }  # fmt: skip


def run_job(conf_: dict, dsl: dict, data_dir: Path, job_dir: Path, model_dir: Path | None = None) -> dict:
    def target(party: PartyId) -> Any:
        return lambda ctx: run_party(
            ctx, conf_, dsl, str(data_dir), str(job_dir), None if model_dir is None else str(model_dir)
        )

    return run_parties({p: target(p) for p in PARTIES}, timeout=20)


@pytest.fixture(scope="module", autouse=True)
def stand_in() -> Any:
    spec = register_model_component(MODULE, _algorithm, "stand-in GLM for tests").spec
    yield spec
    REGISTRY.unregister(MODULE)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for role in ("guest", "host"):
        upload = EXAMPLES / "upload" / f"breast_hetero_{role}.json"
        store.upload(json.loads(upload.read_text()), upload.parent)
    host = store.load("breast_hetero_host", "experiment")
    store.save(host.drop(columns=["x5"]).assign(x99=0.0), "breast_hetero_host_wrong", "experiment")
    guest = store.load("breast_hetero_guest", "experiment")
    store.save(guest.drop(columns=["y"]), "breast_hetero_guest_unlabelled", "experiment")
    return path


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    job_dir = tmp_path_factory.mktemp("train")
    run_job(conf(), TRAIN_DSL, data_dir, job_dir)
    return job_dir


def out(job_dir: Path, component: str, party: str, name: str) -> Path:
    suffix = ".json" if name in ("model", "metrics") else ".parquet"
    return job_dir / "outputs" / component / party.replace(":", "-") / f"{name}{suffix}"


# -- tests ---------------------------------------------------------------------------------------
def test_training_outputs_fate_predictions_models_and_evaluation(trained: Path) -> None:
    preds = pd.read_parquet(out(trained, "glm_0", "guest:9999", "data"))
    assert list(preds.columns) == ["id", "label", "predict_result", "predict_score", "predict_detail", "type"]
    assert preds["type"].value_counts().to_dict() == {"train": 569, "validate": 569}
    for party in ("guest:9999", "host:10000", "arbiter:10000"):
        model = json.loads(out(trained, "glm_0", party, "model").read_text())
        assert model["module"] == MODULE and model["role"] == party.split(":")[0]
        assert model["params"] == {"learning_rate": 0.5}
    guest_model = json.loads(out(trained, "glm_0", "guest:9999", "model").read_text())
    assert len(guest_model["schema"]["features"]) == 10 == len(guest_model["model"]["weights"])
    assert json.loads(out(trained, "glm_0", "arbiter:10000", "model").read_text())["schema"] is None
    assert json.loads(out(trained, "glm_0", "guest:9999", "metrics").read_text())["n_iter"] == 1
    ev = json.loads(out(trained, "evaluation_0", "guest:9999", "metrics").read_text())
    assert list(ev["series"]) == ["glm_0.train", "glm_0.validate"] and ev["auc"] > 0.9
    assert (trained / "outputs" / "evaluation_0" / "guest-9999" / "roc.png").is_file()
    assert not out(trained, "evaluation_0", "host:10000", "data").exists()


def test_predict_job_reproduces_the_training_predictions(
    data_dir: Path, trained: Path, tmp_path: Path
) -> None:
    StandInArbiter.calls.clear()

    run_job(conf(glm={}), PREDICT_DSL, data_dir, tmp_path, trained)

    pred = pd.read_parquet(out(tmp_path, "glm_0", "guest:9999", "data"))
    train = pd.read_parquet(out(trained, "glm_0", "guest:9999", "data"))
    train = train[train["type"] == "train"]
    assert (pred["type"] == "test").all()
    np.testing.assert_allclose(pred["predict_score"], train["predict_score"], rtol=0, atol=0)
    assert StandInArbiter.calls == ["glm_0.output_test"]  # the arbiter took part, with its model
    assert not out(tmp_path, "glm_0", "guest:9999", "model").exists()


def test_unlabelled_predict_data_gives_predictions_without_label(
    data_dir: Path, trained: Path, tmp_path: Path
) -> None:
    c = conf(glm={})
    c["component_parameters"]["role"]["guest"]["0"]["reader_0"]["table"]["name"] = (
        "breast_hetero_guest_unlabelled"
    )

    run_job(c, PREDICT_DSL, data_dir, tmp_path, trained)

    pred = pd.read_parquet(out(tmp_path, "glm_0", "guest:9999", "data"))
    assert len(pred) == 569 and pred["label"].isna().all() and pred["predict_score"].between(0, 1).all()


def test_predict_data_that_differs_from_the_model_features_is_refused(
    data_dir: Path, trained: Path, tmp_path: Path
) -> None:
    dsl = copy.deepcopy(PREDICT_DSL)
    dsl["components"]["data_transform_0"]["input"].pop("model")  # a fresh DataTransform: no schema check
    c = conf("breast_hetero_host_wrong", glm={})
    c["component_parameters"]["role"]["guest"]["0"]["data_transform_0"] = {"with_label": True}

    with pytest.raises(Exception, match="does not match the training schema") as err:
        run_job(c, dsl, data_dir, tmp_path, trained)

    message = str(err.value)
    assert "host:10000 / glm_0" in message
    assert "missing 1 column(s) the model was trained on: 'x5'" in message
    assert "1 column(s) the model never saw: 'x99'" in message


def test_bad_parameters_and_warm_start_are_config_errors(
    data_dir: Path, trained: Path, tmp_path: Path
) -> None:
    from fedloom.dsl import load_job

    with pytest.raises(ConfigError, match="'learning_rat' parameter of StandInGLM") as err:
        load_job(conf(glm={"learning_rat": 1.0}), TRAIN_DSL)
    assert err.value.component == "glm_0"
    dsl = copy.deepcopy(TRAIN_DSL)
    dsl["components"]["glm_1"] = {
        "module": MODULE,
        "input": {"data": {"train_data": ["intersection_0.data"]}, "model": ["glm_0.model"]},
        "output": {"data": ["data"]},
    }
    with pytest.raises(ConfigError, match="does not warm-start"):
        run_job(conf(), dsl, data_dir, tmp_path)


def test_roles_and_inputs_are_registered(stand_in: Any) -> None:
    assert stand_in.roles == {GUEST, HOST, ARBITER}
    assert {"train_data", "validate_data", "test_data", "data", "model"} <= stand_in.inputs
