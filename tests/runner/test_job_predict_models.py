"""Predict jobs load the models of an earlier job (``pipeline.<component>.model``).

Plumbing only, with ``DataTransform``'s model (the hetero GLMs are in test_job_predict_glm.py):
which job is named (``model_job`` / ``model_version``), the checks made before any process starts,
and predict data whose columns differ from the training schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from fedloom.core import ConfigError
from fedloom.data import TableStore
from fedloom.runner.local import JobResult, run_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TRAIN_DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {
            "module": "DataTransform",
            "input": {"data": {"data": ["reader_0.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        },
    }
}
PREDICT_DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {
            "module": "DataTransform",
            "input": {"data": {"data": ["reader_0.data"]}, "model": ["pipeline.data_transform_0.model"]},
            "output": {"data": ["data"]},
        },
    }
}


def conf(host_table: str = "breast_hetero_host", **common: str) -> dict:
    c = json.loads((EXAMPLES / "jobs" / "intersect" / "conf.json").read_text())
    c["component_parameters"].pop("common")
    c["component_parameters"]["role"]["host"]["0"]["reader_0"]["table"]["name"] = host_table
    if common:
        c["job_parameters"] = {"common": dict(common)}
    return c


def predict_conf(host_table: str = "breast_hetero_host", **common: str) -> dict:
    c = conf(host_table, **common)
    for role in ("guest", "host"):
        c["component_parameters"]["role"][role]["0"].pop("data_transform_0", None)  # from the model
    return c


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for role in ("guest", "host"):
        upload = EXAMPLES / "upload" / f"breast_hetero_{role}.json"
        store.upload(json.loads(upload.read_text()), upload.parent)
    host = store.load("breast_hetero_host", "experiment")
    wrong = host.drop(columns=["x3"]).assign(z=1.0)
    store.save(wrong, "breast_hetero_host_wrong", "experiment")
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def trained(data_dir: Path, jobs: Path) -> JobResult:
    res = run_job(conf(), TRAIN_DSL, data_dir=data_dir, job_dir=jobs, timeout=30)
    assert res.ok, res.failure
    return res


def test_a_training_job_records_fate_model_id_and_version(trained: JobResult) -> None:
    summary = json.loads((trained.job_dir / "job.json").read_text())

    assert summary["model_id"] == "guest-9999#host-10000#model"  # the conf has no arbiter
    assert summary["model_version"] == trained.job_id
    assert summary["model_job"] is None


def test_predict_job_loads_each_party_model_of_the_named_job(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    res = run_job(
        predict_conf(), PREDICT_DSL, data_dir=data_dir, job_dir=jobs, timeout=30, model_job=trained.job_id
    )

    assert res.ok, res.failure
    assert res.model_job == trained.job_id
    guest = pd.read_parquet(res.output_path("data_transform_0", "guest:9999"))
    host = pd.read_parquet(res.output_path("data_transform_0", "host:10000"))
    # the parameters came from the model: the guest keeps its label, the host has none
    assert list(guest.columns[:2]) == ["id", "y"] and guest.shape == (569, 12)
    assert host.shape == (569, 21) and "y" not in host.columns


def test_predict_data_with_other_columns_fails_naming_them(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    c = predict_conf("breast_hetero_host_wrong", model_id="", model_version=trained.job_id)

    res = run_job(c, PREDICT_DSL, data_dir=data_dir, job_dir=jobs, timeout=30)

    assert not res.ok
    f = res.failure
    assert f is not None
    assert (f.party, f.component, f.error_type) == ("host:10000", "data_transform_0", "DataError")
    assert "does not match the training schema" in f.message
    assert "missing 1 column(s) the model was trained on: 'x3'" in f.message
    assert "1 column(s) the model never saw: 'z'" in f.message


def test_a_predict_job_naming_no_job_is_refused_before_it_starts(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--model-job") as err:
        run_job(predict_conf(), PREDICT_DSL, data_dir=data_dir, job_dir=tmp_path)

    assert err.value.component == "data_transform_0"
    assert not any(tmp_path.iterdir())


def test_unknown_jobs_and_foreign_model_ids_are_refused(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    with pytest.raises(ConfigError, match="no job 'nope'"):
        run_job(predict_conf(), PREDICT_DSL, data_dir=data_dir, job_dir=jobs, model_job="nope")
    with pytest.raises(ConfigError, match="no component of the dsl loads a model"):
        run_job(conf(), TRAIN_DSL, data_dir=data_dir, job_dir=jobs, model_job=trained.job_id)
    c = predict_conf(model_id="guest-1#host-2#model", model_version=trained.job_id)
    with pytest.raises(ConfigError, match="does not match job") as err:
        run_job(c, PREDICT_DSL, data_dir=data_dir, job_dir=jobs)
    assert err.value.field == "job_parameters.common.model_id"


def test_a_model_the_job_lacks_is_named_with_its_party(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    dsl = copy.deepcopy(PREDICT_DSL)
    dsl["components"]["data_transform_0"]["input"]["model"] = ["pipeline.data_transform_9.model"]

    with pytest.raises(ConfigError, match="holds no model of data_transform_9 for guest:9999") as err:
        run_job(predict_conf(), dsl, data_dir=data_dir, job_dir=jobs, model_job=str(trained.job_dir))

    assert err.value.party == "guest:9999"
