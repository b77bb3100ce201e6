"""FATE's predict confs: ``model_id`` built as FATE-Flow builds it (party ids sorted, several
hosts joined: ``host-9999_10000``), and ``--model-job`` winning over the stale ``model_id`` /
``model_version`` a FATE predict conf carries (FATE's own values), with a note saying so.

The models are ``DataTransform``'s (cheap); the conf is FATE's ``hetero_lr_normal_predict_conf``
as a FATE user has it after training in FATE (its model id and version filled in by FATE).
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.fate_jobs import BREAST_HETERO, DSL_V2, FEDLOOM, data_folder

from fedloom.core import ConfigError
from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl, fate_model_id
from fedloom.runner.local import JobResult, run_job

LR = DSL_V2 / "hetero_logistic_regression"
#: What FATE-Flow wrote into the predict conf after training there (stale for fedloom).
FATE_MODEL_ID = "arbiter-10000#guest-9999#host-10000#model"
FATE_MODEL_VERSION = "202112011436283758080"

pytestmark = pytest.mark.skipif(not LR.is_dir(), reason="FATE examples not present")

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
PREDICT_DSL = derive_predict_dsl(TRAIN_DSL)


def fate_predict_conf(**common: str) -> dict[str, Any]:
    """FATE's ``hetero_lr_normal_predict_conf.json``, ``model_id`` / ``model_version`` as given."""
    conf: dict[str, Any] = json.loads((LR / "hetero_lr_normal_predict_conf.json").read_text())
    conf["job_parameters"]["common"].update(common)
    return conf


def train_conf(hosts: list[int]) -> dict[str, Any]:
    """The predict conf's roles and tables with ``hosts``, and DataTransform's parameters."""
    conf = fate_predict_conf()
    del conf["job_parameters"]
    conf["role"]["host"] = hosts
    role = conf["component_parameters"]["role"]
    role["host"] = {str(i): copy.deepcopy(role["host"]["0"]) for i in range(len(hosts))}
    role["guest"]["0"]["data_transform_0"] = {"with_label": True}
    for section in role["host"].values():
        section["data_transform_0"] = {"with_label": False}
    return conf


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, BREAST_HETERO)


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs")


@pytest.fixture(scope="module")
def trained(data_dir: Path, jobs: Path) -> JobResult:
    res = run_job(train_conf([10000]), TRAIN_DSL, data_dir=data_dir, job_dir=jobs, timeout=30)
    assert res.ok, res.failure
    return res


@pytest.fixture(scope="module")
def trained_two_hosts(data_dir: Path, jobs: Path) -> JobResult:
    res = run_job(train_conf([10000, 9999]), TRAIN_DSL, data_dir=data_dir, job_dir=jobs, timeout=30)
    assert res.ok, res.failure
    return res


def test_fate_model_id_sorts_roles_and_party_ids_as_fate_does() -> None:
    roles = {"host": [10000, 9999, 10000], "guest": [9999], "arbiter": [10000]}

    assert fate_model_id(roles) == "arbiter-10000#guest-9999#host-9999_10000#model"
    assert fate_model_id({"guest": ["9999"], "host": []}) == "guest-9999#model"


def test_training_jobs_record_fates_model_id(trained: JobResult, trained_two_hosts: JobResult) -> None:
    assert trained.model_id == FATE_MODEL_ID
    assert trained_two_hosts.model_id == "arbiter-10000#guest-9999#host-9999_10000#model"
    summary = json.loads((trained_two_hosts.job_dir / "job.json").read_text())
    assert summary["model_id"] == trained_two_hosts.model_id and summary["notes"] == []


def test_derived_predict_conf_carries_fates_model_id(trained_two_hosts: JobResult) -> None:
    conf = derive_predict_conf(train_conf([10000, 9999]), PREDICT_DSL, model_version=trained_two_hosts.job_id)

    assert conf["job_parameters"]["common"]["model_id"] == trained_two_hosts.model_id


def test_model_job_overrides_fates_stale_model_id_and_version_with_a_note(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    conf = fate_predict_conf(model_id="arbiter-1#guest-2#host-3#model", model_version=FATE_MODEL_VERSION)

    res = run_job(conf, PREDICT_DSL, data_dir=data_dir, job_dir=jobs, timeout=30, model_job=trained.job_id)

    assert res.ok, res.failure
    assert res.model_job == trained.job_id
    assert len(res.notes) == 2
    assert "overrides job_parameters.common.model_id 'arbiter-1#guest-2#host-3#model'" in res.notes[0]
    assert f"overrides job_parameters.common.model_version '{FATE_MODEL_VERSION}'" in res.notes[1]
    assert json.loads((res.job_dir / "job.json").read_text())["notes"] == res.notes


def test_without_model_job_a_stale_conf_is_still_refused(
    trained: JobResult, data_dir: Path, jobs: Path
) -> None:
    with pytest.raises(ConfigError, match="no job '202112011436283758080'"):
        run_job(fate_predict_conf(model_id=FATE_MODEL_ID, model_version=FATE_MODEL_VERSION), PREDICT_DSL,
                data_dir=data_dir, job_dir=jobs)  # fmt: skip
    stale = fate_predict_conf(model_id="arbiter-1#guest-2#host-3#model", model_version=trained.job_id)
    with pytest.raises(ConfigError, match="does not match job"):
        run_job(stale, PREDICT_DSL, data_dir=data_dir, job_dir=jobs)


def test_fate_predict_conf_with_two_hosts_and_fates_model_id(
    trained_two_hosts: JobResult, data_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    # Prepare: the predict conf as FATE fills it for two hosts; version = the fedloom job
    conf = fate_predict_conf(
        model_id="arbiter-10000#guest-9999#host-9999_10000#model", model_version=trained_two_hosts.job_id
    )
    conf["role"]["host"] = [10000, 9999]
    conf["component_parameters"]["role"]["host"]["1"] = copy.deepcopy(
        conf["component_parameters"]["role"]["host"]["0"]
    )
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    (tmp_path / "dsl.json").write_text(json.dumps(PREDICT_DSL))

    # Execute: the CLI, as a FATE user runs it
    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(tmp_path / "conf.json"), "-d", str(tmp_path / "dsl.json"),
         "--data-dir", str(data_dir), "--job-dir", str(jobs), "--timeout", "60"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip

    # Assert: accepted with no note (the conf's id and version are the job's)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"models:  of job {trained_two_hosts.job_id}" in res.stdout
    assert "note:" not in res.stdout


def test_cli_prints_the_override_note(trained: JobResult, data_dir: Path, jobs: Path, tmp_path: Path) -> None:
    (tmp_path / "conf.json").write_text(
        json.dumps(fate_predict_conf(model_id=FATE_MODEL_ID, model_version=FATE_MODEL_VERSION))
    )
    (tmp_path / "dsl.json").write_text(json.dumps(PREDICT_DSL))

    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(tmp_path / "conf.json"), "-d", str(tmp_path / "dsl.json"),
         "--data-dir", str(data_dir), "--job-dir", str(jobs), "--timeout", "60",
         "--model-job", trained.job_id],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip

    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = " ".join(res.stdout.split())
    assert f"overrides job_parameters.common.model_version '{FATE_MODEL_VERSION}'" in out
    assert f"overrides job_parameters.common.model_id {FATE_MODEL_ID!r}" not in out  # it matches
