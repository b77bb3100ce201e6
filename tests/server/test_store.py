"""The job store on SQLite and on a real PostgreSQL server: jobs are per server, state changes out
of a running state are conditional, status files map onto tasks, and two processes' stores (the
server's and a supervisor's) see each other's writes. Then a whole job through the app with the
store on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import load_example

from fedloom.server.app import create_app
from fedloom.server.client import FlowClient
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JobRow, JobStore, PartyRow, TaskRow


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    store = JobStore(url)
    from fedloom.server.store import Base

    Base.metadata.drop_all(store.engine)  # each test starts empty
    store.close()
    yield url


def job(job_id: str, server: str = "s1", status: str = "running", t: float = 0.0) -> JobRow:
    return JobRow(
        job_id=job_id,
        server_id=server,
        status=status,
        conf={"a": [1, 2]},
        dsl={"components": {}},
        initiator={"role": "guest", "party_id": 9999},
        roles={"guest": [9999], "host": [10000]},
        job_dir=f"/jobs/{job_id}",
        create_time=t,
    )


def tasks(job_id: str) -> list[TaskRow]:
    return [
        TaskRow(
            job_id=job_id,
            component=c,
            module="M",
            role=r,
            party_id=p,
            status="waiting",
            output_dir="o",
            model_path="m",
            metrics_path="x",
        )
        for c in ("reader_0", "lr_0")
        for r, p in (("guest", "9999"), ("host", "10000"))
    ]


def parties(job_id: str) -> list[PartyRow]:
    return [
        PartyRow(job_id=job_id, role=r, party_id=p, status="waiting", log_path="l", status_path="s")
        for r, p in (("guest", "9999"), ("host", "10000"))
    ]


def test_jobs_are_per_server_newest_first(store_url: str) -> None:
    store = JobStore(store_url)
    for i in range(5):
        store.add_job(job(f"j{i}", t=float(i), status="success" if i % 2 else "failed"), tasks(f"j{i}"), [])
    store.add_job(job("other", server="s2", t=99.0), [], [])

    assert [j.job_id for j in store.list_jobs("s1", limit=3)] == ["j4", "j3", "j2"]
    assert [j.job_id for j in store.list_jobs("s1", limit=10, status="success")] == ["j3", "j1"]
    assert store.get_job("other", "s1") is None and store.get_job("other", "s2") is not None
    got = store.get_job("j2", "s1")
    assert got is not None and got.conf == {"a": [1, 2]} and got.roles == {"guest": [9999], "host": [10000]}
    assert len(store.tasks("j2")) == 4
    store.close()


def test_final_states_are_not_overwritten(store_url: str) -> None:
    store = JobStore(store_url)
    store.add_job(job("j"), tasks("j"), parties("j"))
    assert store.finish_active("j", "canceled", {"message": "stopped"})
    assert not store.finish_active("j", "failed", {"message": "late writer"})
    row = store.get_job("j", "s1")
    assert row is not None and row.status == "canceled" and row.error == {"message": "stopped"}
    assert {t.status for t in store.tasks("j")} == {"canceled"}
    assert not store.set_job("j", only_from=("running",), progress=0.5)
    store.close()


def test_status_files_map_onto_tasks_and_rerun_resets_the_rest(store_url: str) -> None:
    store = JobStore(store_url)
    store.add_job(job("j"), tasks("j"), parties("j"))
    status = {
        "guest:9999": {
            "state": "running",
            "components": {
                "reader_0": {"state": "done", "started": 5.0},
                "lr_0": {"state": "running", "started": 6.0},
            },
        },
        "host:10000": {
            "state": "failed",
            "components": {"reader_0": {"state": "skipped"}, "lr_0": {"state": "failed", "error": "boom"}},
        },
    }
    frac = store.sync_status("j", status)
    got = {(t.component, t.role): (t.status, t.error) for t in store.tasks("j")}
    assert got == {
        ("reader_0", "guest"): ("success", None),
        ("lr_0", "guest"): ("running", None),
        ("reader_0", "host"): ("success", None),
        ("lr_0", "host"): ("failed", "boom"),
    }
    assert frac == 3 / 4
    assert {p.role: p.status for p in store.parties("j")} == {"guest": "running", "host": "failed"}
    store.reset_unfinished("j")
    assert sorted(t.status for t in store.tasks("j")) == ["success", "success", "waiting", "waiting"]
    store.close()


def test_two_store_instances_see_each_others_writes(store_url: str) -> None:
    server, supervisor = JobStore(store_url), JobStore(store_url)
    server.add_job(job("j", status="waiting"), tasks("j"), [])
    assert supervisor.set_job("j", only_from=("waiting",), status="running", progress=0.25)
    row = server.get_job("j", "s1")
    assert row is not None and (row.status, row.progress) == ("running", 0.25)
    server.close()
    supervisor.close()


@pytest.mark.slow
def test_a_job_through_the_app_with_the_store_on_postgresql(postgres_url: str, server_home: Path) -> None:
    settings = ServerSettings.load(server_home, db_url=postgres_url)
    app = create_app(settings)
    with TestClient(app) as http:
        client = FlowClient("http://testserver", settings.token_path.read_text(), http=http)
        job_id = client.job_submit(
            load_example("jobs", "intersect", "conf.json"), load_example("jobs", "intersect", "dsl.json")
        )["jobId"]
        t0 = time.monotonic()
        done = client.wait(job_id, timeout=60, poll=0.2)
        assert done["status"] == "success", done["error"]
        assert time.monotonic() - t0 < 60
    again = JobStore(postgres_url).get_job(job_id, settings.server_id)  # in PostgreSQL, not in a file
    assert again is not None and again.status == "success"
    assert not (server_home / "store.db").exists()
