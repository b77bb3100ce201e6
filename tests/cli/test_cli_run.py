"""``fedloom run``, ``data upload``, ``table info|list|delete`` through the real command line."""

from __future__ import annotations

import copy
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedloom.cli import app
from fedloom.core import DataError
from fedloom.core.errors import exit_code

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")

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


def fedloom(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "150"}
    return subprocess.run([FEDLOOM, *args], capture_output=True, text=True, timeout=timeout, env=env)


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    for role in ("guest", "host"):
        res = fedloom("data", "upload", "-c", str(EXAMPLES / "upload" / f"breast_hetero_{role}.json"),
                      "--data-dir", str(path))  # fmt: skip
        assert res.returncode == 0, res.stderr
    return path


@pytest.fixture
def job(tmp_path: Path) -> tuple[dict, dict]:
    conf = json.loads((EXAMPLES / "jobs" / "intersect" / "conf.json").read_text())
    conf["component_parameters"].pop("common")
    return conf, copy.deepcopy(DSL)


def run(
    tmp_path: Path, conf: dict, dsl: dict, data_dir: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    c, d = write(tmp_path / "conf.json", conf), write(tmp_path / "dsl.json", dsl)
    return fedloom("run", "-c", str(c), "-d", str(d), "--data-dir", str(data_dir),
                   "--job-dir", str(tmp_path / "jobs"), "--timeout", "30", *extra)  # fmt: skip


def test_upload_then_table_info_round_trip(tmp_path: Path) -> None:
    csv = str(EXAMPLES / "data" / "breast_hetero_guest.csv")
    conf = write(
        tmp_path / "up.json", {"file": csv, "table_name": "g", "namespace": "t", "head": 1, "partition": 4}
    )
    d = ["--data-dir", str(tmp_path / "data")]
    cli = CliRunner()

    up = cli.invoke(app, ["data", "upload", "-c", str(conf), *d, "--label-name", "y"])
    info = cli.invoke(app, ["table", "info", "-t", "g", "-n", "t", *d, "--json"])
    text = cli.invoke(app, ["table", "info", "-t", "g", "-n", "t", *d], env={"COLUMNS": "150"})
    again = cli.invoke(app, ["data", "upload", "-c", str(conf), *d])
    listed = cli.invoke(app, ["table", "list", *d])
    gone = cli.invoke(app, ["table", "delete", "-t", "g", "-n", "t", *d])
    missing = cli.invoke(app, ["table", "info", "-t", "g", "-n", "t", *d])

    assert up.exit_code == 0 and "t.g: 569 rows, 12 columns" in up.stdout, up.exception
    meta = json.loads(info.stdout)
    assert (meta["rows"], meta["id_column"], meta["label_name"], meta["partitions"]) == (569, "id", "y", 4)
    assert meta["columns"][:3] == ["id", "y", "x0"]
    assert "x9" in text.stdout and "(label)" in text.stdout
    assert isinstance(again.exception, DataError) and "already exists" in str(again.exception)
    assert exit_code(again.exception) == 3
    assert "569" in listed.stdout
    assert gone.exit_code == 0
    assert isinstance(missing.exception, DataError) and "no table t.g" in str(missing.exception)


def test_run_a_job_end_to_end(tmp_path: Path, data_dir: Path, job: tuple[dict, dict]) -> None:
    res = run(tmp_path, *job, data_dir)

    assert res.returncode == 0, res.stdout + res.stderr
    assert "reader_0" in res.stdout and "data_transform_0" in res.stdout and "succeeded" in res.stdout
    (job_dir,) = (tmp_path / "jobs").iterdir()
    assert f"outputs: {job_dir / 'outputs'}" in res.stdout
    out = pd.read_parquet(job_dir / "outputs" / "data_transform_0" / "host-10000" / "data.parquet")
    assert out.shape == (569, 21)
    summary = json.loads((job_dir / "job.json").read_text())
    assert summary["ok"] is True and summary["tls"] is True
    assert (
        f"transport: mutual TLS, certificates from a CA made for this job ({job_dir / 'tls'})" in res.stdout
    )
    assert "PLAINTEXT" not in res.stdout + res.stderr
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in (job_dir / "tls").iterdir())
    assert f"privacy: what each party received and learned in clear, per channel: {job_dir / 'privacy'}" in (
        res.stdout
    )
    for party in ("guest:9999", "host:10000"):  # nothing crosses parties in Reader → DataTransform
        assert f"  {party} received nothing" in res.stdout
        ledger = json.loads((job_dir / "privacy" / f"{party.replace(':', '-')}.json").read_text())
        assert ledger["party"] == party and ledger["received"] == []


def test_insecure_transport_is_opt_in_and_says_so_loudly(
    tmp_path: Path, data_dir: Path, job: tuple[dict, dict]
) -> None:
    res = run(tmp_path, *job, data_dir, "--insecure-transport")

    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARNING: parties talk PLAINTEXT: any local process can inject messages" in res.stdout
    assert "mutual TLS" not in res.stdout
    (job_dir,) = (tmp_path / "jobs").iterdir()
    assert not (job_dir / "tls").exists()
    assert json.loads((job_dir / "job.json").read_text())["tls"] is False


def test_a_dsl_error_exits_2_naming_component_and_field(
    tmp_path: Path, data_dir: Path, job: tuple[dict, dict]
) -> None:
    conf, dsl = job
    conf["component_parameters"]["role"]["guest"]["0"]["data_transform_0"]["label_type"] = "text"

    res = run(tmp_path, conf, dsl, data_dir)

    assert res.returncode == 2
    assert "[guest:9999 / data_transform_0]" in res.stderr and "field 'label_type'" in res.stderr
    assert not (tmp_path / "jobs").exists()


def test_a_missing_table_exits_quickly_naming_party_and_component(
    tmp_path: Path, data_dir: Path, job: tuple[dict, dict]
) -> None:
    conf, dsl = job
    conf["component_parameters"]["role"]["host"]["0"]["reader_0"]["table"]["name"] = "nope"
    t0 = time.monotonic()

    res = run(tmp_path, conf, dsl, data_dir)

    assert time.monotonic() - t0 < 15
    assert res.returncode == 3
    assert "[host:10000 / reader_0]" in res.stderr and "no table experiment.nope" in res.stderr


def test_a_failed_party_is_named_with_its_traceback(
    tmp_path: Path, data_dir: Path, job: tuple[dict, dict]
) -> None:
    conf, dsl = job
    conf["component_parameters"]["role"]["host"]["0"]["data_transform_0"]["with_label"] = True

    res = run(tmp_path, conf, dsl, data_dir)

    assert res.returncode == 3, res.stdout
    assert "failed at party host:10000, component data_transform_0: DataError" in res.stdout
    assert "no label column 'y'" in res.stdout
    assert "Traceback" in res.stdout or "File " in res.stdout
    assert "logs/host-10000.log" in res.stdout


@pytest.mark.slow
def test_a_host_killed_mid_job_is_named_first_and_the_others_stopped_after_it(
    tmp_path: Path, data_dir: Path
) -> None:
    job = EXAMPLES / "jobs" / "hetero_lr"
    jobs = tmp_path / "jobs"
    args = ["run", "-c", str(job / "conf.json"), "-d", str(job / "dsl.json"), "--data-dir", str(data_dir),
            "--job-dir", str(jobs), "--timeout", "60"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "250"}
    proc = subprocess.Popen(
        [FEDLOOM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 120
    killed = False
    while not killed and time.monotonic() < deadline and proc.poll() is None:
        for path in jobs.glob("*/status/host-10000.json"):
            status = json.loads(path.read_text())  # written atomically
            if status.get("current") == "hetero_lr_0":  # mid-protocol: the guest and arbiter wait on it
                os.kill(status["pid"], signal.SIGKILL)
                killed = True
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)

    assert killed, out + err
    assert proc.returncode == 6, out + err  # PartyFailedError
    headline = "failed at party host:10000, component hetero_lr_0: process killed by signal 9 (SIGKILL)"
    assert headline in out, out
    assert "  guest:9999: stopped after host:10000 failed" in out
    assert "  arbiter:10000: stopped after host:10000 failed" in out
    assert "log of host:10000:" in out
    (job_dir,) = jobs.iterdir()
    host = json.loads((job_dir / "status" / "host-10000.json").read_text())
    assert host["state"] == "failed" and host["components"]["hetero_lr_0"]["state"] == "failed"
    assert json.loads((job_dir / "job.json").read_text())["ok"] is False
