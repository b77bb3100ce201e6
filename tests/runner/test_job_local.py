"""run_job: validation first, one OS process per party, outputs / status / failure report."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from fedloom.components import registry
from fedloom.core import ConfigError, DataError
from fedloom.data import TableStore
from fedloom.dsl import load_job, load_json
from fedloom.runner.local import resolve_model_job, run_job

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {
            "module": "DataTransform",
            "input": {"data": {"data": ["reader_0.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        },
    }
}


def base_conf() -> dict:
    conf = json.loads((EXAMPLES / "jobs" / "intersect" / "conf.json").read_text())
    conf["component_parameters"].pop("common")
    return conf


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for role in ("guest", "host"):
        conf = EXAMPLES / "upload" / f"breast_hetero_{role}.json"
        store.upload(json.loads(conf.read_text()), conf.parent)
    return path


def test_reader_and_data_transform_on_two_processes(data_dir: Path, tmp_path: Path) -> None:
    seen: list[dict] = []

    res = run_job(base_conf(), DSL, data_dir=data_dir, job_dir=tmp_path, timeout=30, progress=seen.append)

    assert res.ok and res.failure is None, res.failure
    assert res.order == ["reader_0", "data_transform_0"]
    assert set(res.parties) == {"guest:9999", "host:10000"}
    guest = pd.read_parquet(res.output_path("data_transform_0", "guest:9999"))
    assert list(guest.columns[:2]) == ["id", "y"] and guest.shape == (569, 12)
    host = pd.read_parquet(res.output_path("data_transform_0", "host:10000"))
    assert host.columns[0] == "id" and host.shape == (569, 21)
    model = json.loads(res.output_path("data_transform_0", "guest:9999", "model").read_text())
    assert model["schema"]["label"] == "y" and len(model["schema"]["features"]) == 10
    metrics = json.loads(res.output_path("reader_0", "host:10000", "metrics").read_text())
    assert metrics["rows"] == 569
    comp = res.parties["guest:9999"]["components"]["data_transform_0"]
    assert comp["state"] == "done" and comp["rows"] == 569 and comp["metrics"]["with_label"] is True
    status = json.loads((res.job_dir / "status" / "host-10000.json").read_text())
    assert status["state"] == "done" and status["components"]["reader_0"]["state"] == "done"
    assert seen and seen[-1]["guest:9999"]["state"] == "done"
    assert (res.logs_dir / "guest-9999.log").exists()
    assert json.loads((res.job_dir / "job.json").read_text())["ok"] is True


def test_dsl_errors_stop_the_job_before_any_process(data_dir: Path, tmp_path: Path) -> None:
    dsl = copy.deepcopy(DSL)
    dsl["components"]["data_transform_0"]["input"]["data"]["data"] = ["reader_1.data"]

    with pytest.raises(ConfigError) as err:
        run_job(base_conf(), dsl, data_dir=data_dir, job_dir=tmp_path)

    assert err.value.component == "data_transform_0"
    assert err.value.field == "input.data.data"
    assert not any(tmp_path.iterdir())  # nothing started, no job folder


def test_a_missing_table_names_party_and_component_at_once(data_dir: Path, tmp_path: Path) -> None:
    conf = base_conf()
    conf["component_parameters"]["role"]["host"]["0"]["reader_0"]["table"]["name"] = "no_such_table"
    t0 = time.monotonic()

    with pytest.raises(DataError, match=r"no table experiment\.no_such_table") as err:
        run_job(conf, DSL, data_dir=data_dir, job_dir=tmp_path, timeout=60)

    assert time.monotonic() - t0 < 5
    assert err.value.party == "host:10000" and err.value.component == "reader_0"


@pytest.mark.parametrize(
    ("where", "compute", "field", "party"),
    [
        ("common", {"backend": "rey"}, "job_parameters.compute.backend", "guest:9999"),
        ("host", {"backend": "ray", "workers": 0}, "job_parameters.compute.workers", "host:10000"),
        ("host", {"backend": "ray", "timeout": -5}, "job_parameters.compute.timeout", "host:10000"),
        ("guest", {"backend": "local", "address": "10.0.0.1:6379"}, "job_parameters.compute", "guest:9999"),
    ],
)
def test_a_bad_compute_backend_is_refused_before_any_process(
    data_dir: Path, tmp_path: Path, where: str, compute: dict, field: str, party: str
) -> None:
    conf = base_conf()
    params = conf.setdefault("job_parameters", {})
    if where == "common":
        params.setdefault("common", {})["compute"] = compute
    else:
        params.setdefault("role", {})[where] = {"0": {"compute": compute}}

    with pytest.raises(ConfigError) as err:
        run_job(conf, DSL, data_dir=data_dir, job_dir=tmp_path)

    assert (err.value.field, err.value.party) == (field, party)
    assert not any(tmp_path.iterdir())  # nothing started, no job folder


def test_a_failing_party_is_reported_and_the_other_stops(data_dir: Path, tmp_path: Path) -> None:
    conf = base_conf()
    conf["component_parameters"]["role"]["host"]["0"]["data_transform_0"]["with_label"] = True

    res = run_job(conf, DSL, data_dir=data_dir, job_dir=tmp_path, timeout=60)

    assert not res.ok
    f = res.failure
    assert f is not None
    assert (f.party, f.component, f.error_type, f.exit_code) == (
        "host:10000",
        "data_transform_0",
        "DataError",
        3,
    )
    assert "no label column 'y'" in f.message
    assert "frame_from_table" in f.traceback_tail
    assert res.parties["host:10000"]["components"]["data_transform_0"]["state"] == "failed"
    assert (res.privacy_dir / "host-10000.json").is_file()  # a failed party still writes its ledger


def test_need_run_false_passes_the_input_through(data_dir: Path, tmp_path: Path) -> None:
    conf = base_conf()
    conf["component_parameters"]["role"]["host"]["0"]["data_transform_0"]["need_run"] = False
    dsl = copy.deepcopy(DSL)
    dsl["components"]["data_transform_1"] = {
        "module": "DataTransform",
        "input": {"data": {"data": ["data_transform_0.data"]}},
        "output": {"data": ["data"]},
    }

    res = run_job(conf, dsl, data_dir=data_dir, job_dir=tmp_path, timeout=30)

    assert res.ok, res.failure
    host = res.parties["host:10000"]["components"]
    assert host["data_transform_0"]["state"] == "skipped"
    assert host["data_transform_1"]["rows"] == 569


def test_a_job_folder_that_never_finished_is_not_used_for_predict(tmp_path: Path) -> None:
    predict = EXAMPLES / "jobs" / "hetero_lr"
    job = load_job(
        load_json(predict / "predict_conf.json", "conf"),
        load_json(predict / "predict_dsl.json", "dsl"),
        registry(),
    )
    folder = tmp_path / "j1"
    (folder / "outputs").mkdir(parents=True)
    (folder / "status").mkdir()
    (folder / "status" / "guest-9999.json").write_text(json.dumps({"state": "done"}))
    (folder / "status" / "host-10000.json").write_text(json.dumps({"state": "running"}))  # killed with it

    with pytest.raises(ConfigError, match=r"did not finish .*host-10000 never reported done"):
        resolve_model_job(job, "j1", tmp_path)
