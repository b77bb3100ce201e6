"""Stop, rerun and server restarts, with real jobs (hetero LR on the bundled breast data).

- stop: the job's processes (supervisor and every party) are gone within 5 s; it is canceled;
- rerun: the same job id continues from the first unfinished component (the intersection is
  read back, not run again) and succeeds;
- kill -9 of a real ``fedloom server start`` process during a job: after a restart, the finished
  job, its metrics and artifacts are there, the interrupted job is failed with the reason, and
  ``job rerun`` completes it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from server_helpers import load_example

from fedloom.server.client import FlowClient
from fedloom.server.scheduler import RESTART_REASON
from fedloom.server.settings import ServerSettings

pytestmark = pytest.mark.slow

Ctx = tuple[TestClient, FlowClient, ServerSettings]


def lr_job() -> tuple[dict[str, Any], dict[str, Any]]:
    conf = load_example("jobs", "hetero_lr", "conf.json")
    conf["component_parameters"]["common"]["hetero_lr_0"]["max_iter"] = 8  # long enough to stop
    return conf, load_example("jobs", "hetero_lr", "dsl.json")


def wait_for_task(client: FlowClient, job_id: str, done: str, timeout: float = 40) -> dict[str, Any]:
    """Poll until ``done`` succeeded on every party and the job still runs; returns the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.job_query(job_id)["data"][0]
        assert job["status"] in ("waiting", "running"), job["error"]
        if {t["status"] for t in job["tasks"] if t["component"] == done} == {"success"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{done} never finished")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose (it runs nothing)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def party_pids(job_dir: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in (job_dir / "status").glob("*.json")]


def reused_note(job_dir: Path, component: str) -> str:
    guest = json.loads((job_dir / "status" / "guest-9999.json").read_text())
    return str(guest["components"][component].get("note", ""))


def test_stop_kills_every_process_then_rerun_continues(app_client: Ctx) -> None:
    http, client, _ = app_client
    job_id = client.job_submit(*lr_job())["jobId"]
    job = wait_for_task(client, job_id, "intersection_0")
    job_dir = Path(job["job_dir"])
    supervisor = http.app.state.store.get_job(job_id, http.app.state.settings.server_id).pid  # type: ignore[attr-defined]
    pids = [supervisor, *party_pids(job_dir)]
    assert len(pids) == 4 and all(alive(p) for p in pids)

    t0 = time.monotonic()
    assert client.job_stop(job_id)["data"]["status"] == "canceled"
    while any(alive(p) for p in pids) and time.monotonic() - t0 < 5:
        time.sleep(0.05)

    assert not [p for p in pids if alive(p)], "processes left after stop"
    job = client.job_query(job_id)["data"][0]
    assert job["status"] == "canceled"
    assert {t["status"] for t in job["tasks"] if t["component"] == "intersection_0"} == {"success"}, [
        (t["component"], t["role"], t["status"]) for t in job["tasks"]
    ]

    client.job_rerun(job_id)
    done = client.wait(job_id, timeout=60, poll=0.3)

    assert done["status"] == "success", done["error"]
    assert done["reruns"] == 1 and {t["status"] for t in done["tasks"]} == {"success"}
    assert reused_note(job_dir, "intersection_0") == "done in an earlier run (rerun)"
    assert reused_note(job_dir, "hetero_lr_0") != "done in an earlier run (rerun)"
    auc = client.tracking_metrics(job_id, "guest", 9999, "evaluation_0")["data"]
    assert "auc" in json.dumps(auc).lower()


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], FlowClient]:
    endpoint = home / "endpoint.json"
    endpoint.unlink(missing_ok=True)
    exe = Path(sys.executable).with_name("fedloom")
    log = (home / "server.out").open("ab")
    proc = subprocess.Popen(
        [str(exe), "server", "start", "--home", str(home), "--port", "0"], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if endpoint.exists():
            info = json.loads(endpoint.read_text())
            if info["pid"] == proc.pid:
                token = (home / "token").read_text().strip()
                client = FlowClient(info["url"], token, timeout=20)
                try:
                    client.job_list()
                    return proc, client
                except Exception:
                    pass
        assert proc.poll() is None, (home / "server.out").read_text()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start: " + (home / "server.out").read_text())


def test_kill_9_restart_loses_nothing(server_home: Path) -> None:
    proc, client = start_server(server_home)
    try:
        first = client.job_submit(
            load_example("jobs", "intersect", "conf.json"), load_example("jobs", "intersect", "dsl.json")
        )["jobId"]
        assert client.wait(first, timeout=40, poll=0.2)["status"] == "success"
        metrics_before = client.tracking_metrics(first, "guest", 9999, "intersect_0")["data"]
        job_id = client.job_submit(*lr_job())["jobId"]
        job = wait_for_task(client, job_id, "intersection_0")
        pids = party_pids(Path(job["job_dir"]))

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while any(alive(p) for p in pids) and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        assert not [p for p in pids if alive(p)], "the job outlived its server"

        proc, client = start_server(server_home)
        ran = client.job_query(job_id)["data"][0]
        assert ran["status"] == "failed" and RESTART_REASON in ran["error"]["message"]
        kept = client.job_query(first)["data"][0]
        assert kept["status"] == "success"
        assert client.tracking_metrics(first, "guest", 9999, "intersect_0")["data"] == metrics_before
        rows = client.tracking_output_data(first, "guest", 9999, "intersect_0")["data"]
        assert rows["total"] > 0

        client.job_rerun(job_id)
        done = client.wait(job_id, timeout=60, poll=0.3)
        assert done["status"] == "success", done["error"]
        assert reused_note(Path(done["job_dir"]), "intersection_0") == "done in an earlier run (rerun)"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
