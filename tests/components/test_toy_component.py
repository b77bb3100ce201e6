"""A new model component needs only its algorithm and one registration on the base.

The toy is a "mean predictor" for hetero data: the guest predicts, for every row, the mean of the
training labels (the share of positives); the host holds features it never uses but takes part,
telling the guest how many rows it holds at every step (the guest checks that both hold the same
rows). It is written here, as a newcomer would write a vertical algorithm: parameters (pydantic,
FATE-style ``from_dict``), a channel, a model dataclass and three role classes — then one
``register_model_component`` call. Training, validation, predictions, Evaluation, stored models,
predict jobs and the schema check all come from the base, through the real job runner.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fedloom.components.model import Algorithm, register_model_component
from fedloom.context import Channel, Context
from fedloom.core import GUEST, HOST, ConfigError, PartyId, ProtocolError
from fedloom.core.validation import config_error
from fedloom.data import Frame, TableStore
from fedloom.dsl import REGISTRY, load_job
from fedloom.ml.predictions import Predictions
from fedloom.runner.job import run_party
from fedloom.testing import run_parties

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODULE = "ToyMeanPredictor"


# -- the algorithm: what a newcomer writes under ml/ -------------------------------------------------
class MeanParams(BaseModel):
    """``threshold``: the mean above which the predicted class is 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)

    @classmethod
    def from_dict(
        cls, values: dict[str, object] | None = None, *, component: str | None = None
    ) -> MeanParams:
        try:
            return cls.model_validate(values or {})
        except ValidationError as exc:
            raise config_error(exc, MODULE, component) from None


ROWS = Channel("toy_rows", src=HOST, dst=GUEST, disclosure="the number of rows the host holds")


@dataclass
class MeanModel:
    """The guest's part: the training label mean; the host's: none (it only counts rows)."""

    mean: float | None
    rows: int
    threshold: float = 0.5

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean, "rows": self.rows, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> MeanModel:
        mean, rows, threshold = d["mean"], d["rows"], d["threshold"]
        assert (
            (mean is None or isinstance(mean, float))
            and isinstance(rows, int)
            and isinstance(threshold, float)
        )
        return cls(mean, rows, threshold)

    def summary(self) -> dict[str, object]:
        return {"mean": self.mean, "rows": self.rows}


class MeanGuest:
    def __init__(self, params: MeanParams) -> None:
        self.params = params

    def _same_rows(self, ctx: Context, frame: Frame) -> None:
        theirs = ctx.recv(ROWS)
        if theirs != frame.n_rows:
            raise ProtocolError(f"the host holds {theirs} rows, the guest {frame.n_rows}")

    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> MeanModel:
        self._same_rows(ctx, train)
        assert train.label is not None
        return MeanModel(float(np.mean(train.label)), train.n_rows, self.params.threshold)

    def predict(self, ctx: Context, model: MeanModel, frame: Frame) -> Predictions:
        self._same_rows(ctx, frame)
        assert model.mean is not None
        score = np.full(frame.n_rows, model.mean)
        result = (score > model.threshold).astype(np.int64)
        return Predictions(frame.ids, score, result, frame.label, "binary", [0, 1])


class MeanHost:
    def __init__(self, params: MeanParams) -> None:
        self.params = params

    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> MeanModel:
        ctx.send(ROWS, train.n_rows)
        return MeanModel(None, train.n_rows, self.params.threshold)

    def predict(self, ctx: Context, model: MeanModel, frame: Frame) -> None:
        ctx.send(ROWS, frame.n_rows)


def _mean_predictor() -> Algorithm[MeanParams, MeanModel]:
    return Algorithm(MeanParams, MeanGuest, MeanHost, None, MeanModel)


# -- jobs ------------------------------------------------------------------------------------------
PREPARE = {
    "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
    "data_transform_0": {
        "module": "DataTransform",
        "input": {"data": {"data": ["reader_0.data"]}},
        "output": {"data": ["data"], "model": ["model"]},
    },
    "intersection_0": {
        "module": "Intersection",
        "input": {"data": {"data": ["data_transform_0.data"]}},
        "output": {"data": ["data"]},
    },
}
TRAIN_DSL = {
    "components": {
        **PREPARE,
        "mean_0": {
            "module": MODULE,
            "input": {
                "data": {"train_data": ["intersection_0.data"], "validate_data": ["intersection_0.data"]}
            },
            "output": {"data": ["data"], "model": ["model"]},
        },
        "evaluation_0": {
            "module": "Evaluation",
            "input": {"data": {"data": ["mean_0.data"]}},
            "output": {"data": ["data"]},
        },
    }
}
PREDICT_DSL = {
    "components": {
        **copy.deepcopy(PREPARE),
        "mean_0": {
            "module": MODULE,
            "input": {"data": {"test_data": ["intersection_0.data"]}, "model": ["pipeline.mean_0.model"]},
            "output": {"data": ["data"]},
        },
    }
}
PREDICT_DSL["components"]["data_transform_0"]["input"]["model"] = ["pipeline.data_transform_0.model"]
PARTIES = [PartyId.parse(p) for p in ("guest:9999", "host:10000")]


def conf(params: dict[str, object] | None = None, host_table: str = "breast_hetero_host") -> dict[str, Any]:
    tables = {"guest": "breast_hetero_guest", "host": host_table}
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000]},
        "component_parameters": {
            "common": {"intersection_0": {"intersect_method": "ecdh"}, "mean_0": params or {}},
            "role": {
                role: {"0": {"reader_0": {"table": {"name": t, "namespace": "experiment"}},
                             "data_transform_0": {"with_label": role == "guest"}}}
                for role, t in tables.items()
            },
        },
    }  # fmt: skip


def run_job(
    conf_: dict[str, Any], dsl: dict[str, Any], data: Path, job: Path, model: Path | None = None
) -> None:
    def target(party: PartyId) -> Any:
        return lambda ctx: run_party(
            ctx, conf_, dsl, str(data), str(job), None if model is None else str(model)
        )

    run_parties({p: target(p) for p in PARTIES}, timeout=20)


def out(job: Path, party: str, name: str, component: str = "mean_0") -> Path:
    suffix = ".json" if name in ("model", "metrics") else ".parquet"
    return job / "outputs" / component / party.replace(":", "-") / f"{name}{suffix}"


@pytest.fixture(scope="module", autouse=True)
def registered() -> Any:
    # The one line a new algorithm adds to components/ (here undone after the module's tests).
    binding = register_model_component(MODULE, _mean_predictor, "Toy: the label mean", roles=(GUEST, HOST))
    yield binding
    REGISTRY.unregister(MODULE)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for role in ("guest", "host"):
        upload = EXAMPLES / "upload" / f"breast_hetero_{role}.json"
        store.upload(json.loads(upload.read_text()), upload.parent)
    host = store.load("breast_hetero_host", "experiment")
    store.save(host.drop(columns=["x5"]), "breast_hetero_host_fewer", "experiment")
    return path


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    job = tmp_path_factory.mktemp("train")
    run_job(conf({"threshold": 0.4}), TRAIN_DSL, data_dir, job)
    return job


# -- tests -----------------------------------------------------------------------------------------
def test_training_outputs_predictions_models_metrics_and_evaluation(trained: Path) -> None:
    # Assert: FATE's prediction layout on the guest, for the training and the validation rows
    preds = pd.read_parquet(out(trained, "guest:9999", "data"))
    assert list(preds.columns) == ["id", "label", "predict_result", "predict_score", "predict_detail", "type"]
    assert preds["type"].value_counts().to_dict() == {"train": 569, "validate": 569}
    mean = preds["label"].mean()
    np.testing.assert_allclose(preds["predict_score"], mean)  # every row: the share of positives
    assert (preds["predict_result"] == int(mean > 0.4)).all()
    # every party stores its part, with the conf as written and the training schema
    guest = json.loads(out(trained, "guest:9999", "model").read_text())
    host = json.loads(out(trained, "host:10000", "model").read_text())
    assert guest["module"] == host["module"] == MODULE and guest["params"] == {"threshold": 0.4}
    assert guest["model"] == {"mean": mean, "rows": 569, "threshold": 0.4} and host["model"]["mean"] is None
    assert len(host["schema"]["features"]) == 20 and guest["schema"]["label"] == "y"
    assert not out(trained, "host:10000", "data").exists()
    metrics = json.loads(out(trained, "guest:9999", "metrics").read_text())
    assert metrics == {"mean": mean, "rows": 569, "train_rows": 569, "validate_rows": 569}
    ev = json.loads(out(trained, "guest:9999", "metrics", "evaluation_0").read_text())
    assert list(ev["series"]) == ["mean_0.train", "mean_0.validate"] and ev["auc"] == pytest.approx(0.5)


def test_a_predict_job_uses_the_stored_models(data_dir: Path, trained: Path, tmp_path: Path) -> None:
    # Execute: a predict job of the trained job's models (its parameters come from the model)
    run_job(conf(), PREDICT_DSL, data_dir, tmp_path, trained)
    # Assert
    preds = pd.read_parquet(out(tmp_path, "guest:9999", "data"))
    stored = json.loads(out(trained, "guest:9999", "model").read_text())["model"]["mean"]
    assert set(preds["type"]) == {"test"} and len(preds) == 569
    np.testing.assert_allclose(preds["predict_score"], stored)
    assert (preds["predict_result"] == int(stored > 0.4)).all()
    metrics = json.loads(out(tmp_path, "host:10000", "metrics").read_text())
    assert metrics == {"mode": "predict", "rows": 569}  # the host took part in the prediction
    assert not out(tmp_path, "guest:9999", "model").exists()


def test_predict_data_with_other_columns_is_refused_by_the_base(
    data_dir: Path, trained: Path, tmp_path: Path
) -> None:
    dsl = copy.deepcopy(PREDICT_DSL)
    dsl["components"]["data_transform_0"]["input"].pop("model")  # no DataTransform schema check first
    c = conf(host_table="breast_hetero_host_fewer")
    c["component_parameters"]["role"]["guest"]["0"]["data_transform_0"] = {"with_label": True}
    c["component_parameters"]["role"]["host"]["0"]["data_transform_0"] = {"with_label": False}

    with pytest.raises(Exception, match="does not match the training schema") as err:
        run_job(c, dsl, data_dir, tmp_path, trained)

    assert "host:10000 / mean_0" in str(err.value) and "'x5'" in str(err.value)


def test_parameters_are_checked_in_the_one_message_shape() -> None:
    with pytest.raises(ConfigError) as err:
        load_job(conf({"threshold": 1.5}), TRAIN_DSL)
    assert err.value.component == "mean_0" and err.value.field == "threshold"
    assert f"The 'threshold' parameter of {MODULE} " in err.value.message
    assert err.value.message.endswith("Got 1.5.")


def test_the_registration_is_all_the_dsl_needs(registered: Any) -> None:
    spec = REGISTRY.get(MODULE)
    assert spec is registered.spec and spec.roles == {GUEST, HOST}
    assert {"train_data", "validate_data", "test_data", "model"} <= spec.inputs
