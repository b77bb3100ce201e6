"""The board's JSON and login (fedloom.server.board), over a job folder written here.

The job is written by hand (store rows + the runner's folder layout) so every number the board
shows is known: a 3-party hetero job whose host was killed in ``hetero_lr_0`` while the guest and
the arbiter only saw it fail (their ``PartyFailedError`` is an echo, never the root cause).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from tests.job_dsl import hetero_lr_dsl

from fedloom.server.app import create_app
from fedloom.server.board.routes import COOKIE, session_value
from fedloom.server.board.views import worst_state
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JobRow, PartyRow, TaskRow

JOB = "20260101000000-abcdef"
PARTIES = [("guest", "9999"), ("host", "10000"), ("arbiter", "10000")]
MODULES = {
    "reader_0": "Reader",
    "data_transform_0": "DataTransform",
    "intersection_0": "Intersection",
    "hetero_lr_0": "HeteroLR",
    "evaluation_0": "Evaluation",
}
RUNS_ON = {
    "reader_0": ("guest", "host"),
    "data_transform_0": ("guest", "host"),
    "intersection_0": ("guest", "host"),
    "hetero_lr_0": ("guest", "host", "arbiter"),
    "evaluation_0": ("guest", "host", "arbiter"),
}
DSL = hetero_lr_dsl(
    evaluation_0={
        "module": "Evaluation",
        "input": {"data": {"data": ["hetero_lr_0.data"]}},
        "output": {"data": ["data"]},
    }
)
CONF = {
    "dsl_version": 2,
    "initiator": {"role": "guest", "party_id": 9999},
    "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
    "component_parameters": {
        "common": {
            "hetero_lr_0": {"max_iter": 7, "learning_rate": 0.15, "batch_size": -1},
            "evaluation_0": {"eval_type": "binary"},
        },
        "role": {
            "guest": {
                "0": {
                    "reader_0": {"table": {"name": "breast_hetero_guest", "namespace": "experiment"}},
                    "data_transform_0": {"with_label": True},
                    "hetero_lr_0": {"learning_rate": 0.3},
                }
            },
            "host": {
                "0": {
                    "reader_0": {"table": {"name": "breast_hetero_host", "namespace": "experiment"}},
                    "data_transform_0": {"with_label": False},
                }
            },
        },
    },
}
TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: boom'
# ROC points of 4 rows, 2 positives: (fpr, tpr)
FPR = [0.0, 0.0, 0.5, 0.5, 1.0]
TPR = [0.0, 0.5, 0.5, 1.0, 1.0]


def _key(role: str, pid: str) -> str:
    return f"{role}-{pid}"


def _write_job(settings: ServerSettings, store: Any, job_id: str, failed: bool) -> Path:
    jdir = settings.jobs_dir / job_id
    now = time.time()
    (jdir / "logs").mkdir(parents=True)
    (jdir / "status").mkdir()
    (jdir / "privacy").mkdir()
    tasks, parties = [], []
    for role, pid in PARTIES:
        key = _key(role, pid)
        comps: dict[str, Any] = {}
        for i, (name, module) in enumerate(MODULES.items()):
            runs = role in RUNS_ON[name]
            if failed and name == "evaluation_0":
                state, err = "failed", None  # never started: the store marked it failed at the end
            elif failed and name == "hetero_lr_0":
                state = "failed"
                err = "killed" if role == "host" else "PartyFailedError: host:10000 failed"
            else:
                state, err = "success", None
            started = None if (failed and name == "evaluation_0") else now + i
            tasks.append(
                TaskRow(
                    job_id=job_id,
                    component=name,
                    module=module,
                    role=role,
                    party_id=pid,
                    status=state,
                    start_time=started,
                    end_time=None if started is None else started + 0.5,
                    error=err,
                    output_dir="",
                    model_path="",
                    metrics_path="",
                )
            )
            comps[name] = (
                {
                    "state": "done",
                    "rows": 569 - i,
                    "seconds": 0.5,
                    "sent_bytes": 100 * (i + 1),
                    "received_bytes": 10 * (i + 1),
                }
                if runs and not (failed and name in ("hetero_lr_0", "evaluation_0"))
                else {"state": "skipped" if not runs else "waiting"}
            )
        error = None
        if failed and role != "host":
            error = {"type": "PartyFailedError", "message": "host:10000 failed", "component": "hetero_lr_0"}
        (jdir / "status" / f"{key}.json").write_text(
            json.dumps(
                {
                    "party": f"{role}:{pid}",
                    "state": "failed" if failed else "done",
                    "components": comps,
                    "error": error,
                }
            )
        )
        parties.append(
            PartyRow(
                job_id=job_id,
                role=role,
                party_id=pid,
                status="failed" if failed else "success",
                log_path=str(jdir / "logs" / f"{key}.log"),
                status_path=str(jdir / "status" / f"{key}.json"),
            )
        )
        log = [
            f"2026-01-01 00:00:0{j} INFO  {role}:{pid} fedloom.runner.job: {role} step {j}" for j in range(3)
        ]
        if failed and role == "guest":
            log.append(
                "2026-01-01 00:00:05,100 ERROR {role}:{pid} fedloom.runner.job: peer host:10000 failed"
            )
        (jdir / "logs" / f"{key}.log").write_text("\n".join(log) + "\n")
        (jdir / "privacy" / f"{key}.json").write_text(
            json.dumps(
                {
                    "party": f"{role}:{pid}",
                    "received": [
                        {
                            "component": "hetero_lr_0",
                            "channel": "loss",
                            "from": "host:10000",
                            "disclosure": "ciphertext only",
                            "messages": 3,
                            "elements": 3,
                            "bytes": 300,
                        },
                        {
                            "component": "hetero_lr_0",
                            "channel": "converged",
                            "from": "arbiter:10000",
                            "disclosure": "one boolean",
                            "messages": 2,
                            "elements": 2,
                            "bytes": 20,
                        },
                    ],
                }
            )
        )
    # outputs of the guest: evaluation metrics (binary), LR loss on the arbiter, output rows
    ev = jdir / "outputs" / "evaluation_0" / "guest-9999"
    ev.mkdir(parents=True)
    series = {
        "hetero_lr_0.train": {
            "rows": 4,
            "positives": 2,
            "auc": 0.875,
            "ks": 0.5,
            "roc_curve": {"fpr": FPR, "tpr": TPR, "thresholds": [None, 0.9, 0.7, 0.4, 0.1], "points": 5},
            "pr_curve": {
                "recall": [1.0, 0.5, 0.5],
                "precision": [0.5, 0.5, 1.0],
                "thresholds": [0.1, 0.4, 0.9],
                "points": 3,
            },
            "confusion_matrix": {"labels": ["0", "1"], "matrix": [[1, 1], [0, 2]]},
        }
    }
    (ev / "metrics.json").write_text(json.dumps({"eval_type": "binary", "auc": 0.875, "series": series}))
    lr = jdir / "outputs" / "hetero_lr_0" / "arbiter-10000"
    lr.mkdir(parents=True)
    (lr / "metrics.json").write_text(json.dumps({"algorithm": "HeteroLR", "loss_history": [0.9, 0.7, 0.6]}))
    lrg = jdir / "outputs" / "hetero_lr_0" / "guest-9999"
    lrg.mkdir(parents=True)
    (lrg / "metrics.json").write_text(json.dumps({"algorithm": "HeteroLR", "loss_history": [], "n_iter": 3}))
    (lrg / "model.json").write_text(
        json.dumps({"weights": {f"x{i}": i for i in range(80)}, "intercept": 0.5})
    )
    pq.write_table(
        pa.table({"id": [str(i) for i in range(150)], "y": list(range(150))}), lrg / "data.parquet"
    )
    if failed:
        (jdir / "logs" / "host-10000.stderr").write_text("noise\n" + TRACEBACK + "\n")
    store.add_job(
        JobRow(
            job_id=job_id,
            server_id=settings.server_id,
            status="failed" if failed else "success",
            progress=0.6 if failed else 1.0,
            conf=CONF,
            dsl=DSL,
            initiator=dict(CONF["initiator"]),
            roles={"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]},
            job_dir=str(jdir),
            model_id="",
            model_version=job_id,
            create_time=now,
            start_time=now,
            end_time=now + 9,
            reruns=0,
            # what the supervisor stores when the runner's root cause is a killed host
            error={
                "party": "host:10000",
                "component": "hetero_lr_0",
                "type": "killed",
                "message": "process killed by signal 9 (SIGKILL)",
                "traceback_tail": "",
            }
            if failed
            else None,
        ),
        tasks,
        parties,
    )
    return jdir


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[TestClient, str, ServerSettings]]:
    settings = ServerSettings.load(tmp_path / "home")
    app = create_app(settings)
    with TestClient(app) as http:
        token = settings.token_path.read_text().strip()
        _write_job(settings, app.state.store, JOB, failed=False)
        _write_job(settings, app.state.store, "failed-job", failed=True)
        yield http, token, settings
        app.state.store.close()


def _login(http: TestClient, token: str) -> None:
    r = http.get(f"/board/login?token={token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/board/jobs"


def test_refused_without_token(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, _token, _ = board
    for path in (
        "/board/jobs",
        f"/board/jobs/{JOB}",
        f"/board/jobs/{JOB}/logs",
        f"/board/jobs/{JOB}/components/hetero_lr_0",
    ):
        r = http.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/board/login", path
    for path in (
        "/board/api/jobs",
        f"/board/api/jobs/{JOB}",
        f"/board/api/jobs/{JOB}/logs",
        f"/board/api/jobs/{JOB}/components/evaluation_0",
        "/board/api/nothing",
    ):
        assert http.get(path).status_code == 401, path
    http.cookies.set(COOKIE, "forged", path="/board")
    assert http.get("/board/api/jobs").status_code == 401
    # a wrong token in the link: no cookie, the form again
    r = http.get("/board/login?token=wrong", follow_redirects=False)
    assert r.status_code == 401 and COOKIE not in r.headers.get("set-cookie", "")
    # the login form
    http.cookies.clear()
    page = http.get("/board/login").text
    assert 'name="token"' in page and 'type="submit"' in page


def test_login_sets_httponly_cookie_and_bearer_works(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    r = http.get(f"/board/login?token={token}", follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/board" in cookie and token not in cookie
    assert session_value(token) in cookie
    assert http.get("/board/api/jobs").status_code == 200
    assert http.get("/board/jobs").status_code == 200
    http.cookies.clear()
    r = http.post("/board/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303
    http.cookies.clear()
    assert http.get("/board/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert http.get("/board/api/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_jobs_list(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    _login(http, token)
    jobs = {j["job_id"]: j for j in http.get("/board/api/jobs").json()["jobs"]}
    assert set(jobs) == {JOB, "failed-job"}
    assert jobs[JOB]["status"] == "success" and jobs["failed-job"]["status"] == "failed"
    assert jobs[JOB]["initiator"] == "guest:9999" and jobs[JOB]["components"] == 5
    assert jobs[JOB]["elapsed"] == 9000
    assert [j["job_id"] for j in http.get("/board/api/jobs?state=failed").json()["jobs"]] == ["failed-job"]
    assert [j["job_id"] for j in http.get("/board/api/jobs?q=ABCDEF").json()["jobs"]] == [JOB]
    page = http.get("/board/jobs").text
    for marker in ('data-testid="job-search"', 'data-testid="state-filter"'):
        assert marker in page


def test_job_detail_dag_tasks_privacy(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    _login(http, token)
    d = http.get(f"/board/api/jobs/{JOB}").json()
    nodes = {n["name"]: n for n in d["dag"]["nodes"]}
    assert list(nodes) == list(MODULES)  # run order
    assert all(n["state"] == "success" for n in nodes.values())
    assert [nodes[n]["layer"] for n in MODULES] == [0, 1, 2, 3, 4]
    assert {(e["from"], e["to"], e["kind"]) for e in d["dag"]["edges"]} == {
        ("reader_0", "data_transform_0", "data"),
        ("data_transform_0", "intersection_0", "data"),
        ("intersection_0", "hetero_lr_0", "data"),
        ("hetero_lr_0", "evaluation_0", "data"),
    }
    assert len(d["tasks"]) == len(MODULES) * len(PARTIES)
    t = next(t for t in d["tasks"] if t["component"] == "intersection_0" and t["party"] == "guest-9999")
    # rows in = rows out of its data input (data_transform_0: 569 - 1), rows out its own (569 - 2)
    assert (t["rows_in"], t["rows_out"], t["sent_bytes"], t["received_bytes"]) == (568, 567, 300, 30)
    assert d["failure"] is None and d["final"] is True
    priv = {p["party"]: p for p in d["privacy"]}
    assert set(priv) == {"guest-9999", "host-10000", "arbiter-10000"}
    assert (priv["guest-9999"]["messages"], priv["guest-9999"]["bytes"], priv["guest-9999"]["channels"]) == (
        5,
        320,
        2,
    )
    assert http.get("/board/api/jobs/nope").status_code == 404
    assert 'data-testid="dag"' in http.get(f"/board/jobs/{JOB}").text


def test_failed_job_names_root_cause_not_echo(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    _login(http, token)
    d = http.get("/board/api/jobs/failed-job").json()
    f = d["failure"]
    assert f["party"] == "host:10000" and f["component"] == "hetero_lr_0"
    assert "SIGKILL" in f["reason"] and "PartyFailed" not in f["reason"]
    assert f["traceback_tail"].endswith("RuntimeError: boom")  # from the host's stderr
    nodes = {n["name"]: n for n in d["dag"]["nodes"]}
    assert nodes["hetero_lr_0"]["state"] == "failed"
    assert nodes["intersection_0"]["state"] == "success"
    # never started when the job ended: waiting, not a second red node
    assert nodes["evaluation_0"]["state"] == "waiting"
    logs = http.get("/board/api/jobs/failed-job/logs").json()
    times = [r["time"] for r in logs["lines"] if r["time"]]
    assert times == sorted(times) and len({r["party"] for r in logs["lines"]}) == 3  # interleaved
    at = logs["lines"][logs["failure_at"]]
    assert at["party"] == "host-10000" and at["level"] == "ERROR"
    errors = http.get("/board/api/jobs/failed-job/logs?level=ERROR").json()["lines"]
    assert errors and all(r["level"] in ("ERROR", "CRITICAL") for r in errors)


def test_worst_state() -> None:
    assert worst_state(["success", "running", "waiting"]) == "running"
    assert worst_state(["success", "failed", "running"]) == "failed"
    assert worst_state(["success", "waiting"]) == "waiting"
    assert worst_state(["success"]) == "success"


def test_component_detail_charts_params_rows(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    _login(http, token)
    ev = http.get(f"/board/api/jobs/{JOB}/components/evaluation_0?party=guest-9999").json()
    charts = ev["charts"]
    assert {"roc", "ks", "pr", "lift", "gain"} <= set(charts)
    roc = charts["roc"]["series"][0]
    assert roc["x"] == sorted(FPR) and len(roc["y"]) == 5
    # gain / lift from ROC with P=2, n=4: q = (2 tpr + 2 fpr) / 4, independently
    want = sorted(((2 * t + 2 * f) / 4, t) for f, t in zip(FPR, TPR, strict=True))
    want = [w for w in want if w[0] > 0]
    gain = charts["gain"]["series"][0]
    assert gain["x"] == [w[0] for w in want] and gain["y"] == [w[1] for w in want]
    assert charts["lift"]["series"][0]["y"] == pytest.approx([w[1] / w[0] for w in want])
    ks = charts["ks"]["series"][0]
    assert max(a - b for a, b in zip(ks["y"], ks["y2"], strict=True)) == pytest.approx(0.5)
    # the guest's LR page: loss from the arbiter, params after common -> role -> party merge
    lr = http.get(f"/board/api/jobs/{JOB}/components/hetero_lr_0?party=guest-9999").json()
    assert lr["charts"]["loss"]["from"] == "arbiter-10000"
    assert lr["charts"]["loss"]["series"][0]["y"] == [0.9, 0.7, 0.6]
    assert lr["params"]["as_run"]["learning_rate"] == 0.3  # the guest's override
    assert lr["params"]["as_run"]["max_iter"] == 7  # common
    host = http.get(f"/board/api/jobs/{JOB}/components/hetero_lr_0?party=host-10000").json()
    assert host["params"]["as_run"]["learning_rate"] == 0.15
    assert lr["output"]["total"] == 150 and len(lr["output"]["rows"]) == 100
    assert lr["output"]["rows"][99] == ["99", 99]
    assert lr["model_summary"]["weights"].startswith("{… 80")
    assert http.get(f"/board/api/jobs/{JOB}/components/hetero_lr_0?party=host-1").status_code == 404
    assert http.get(f"/board/api/jobs/{JOB}/components/nope").status_code == 404


def test_pages_are_shells(board: tuple[TestClient, str, ServerSettings]) -> None:
    http, token, _ = board
    _login(http, token)
    page = http.get(f"/board/jobs/{JOB}/components/evaluation_0?party=guest-9999").text
    assert 'data-testid="output-rows"' in page and "uPlot.iife.min.js" in page
    assert 'data-testid="log-level"' in http.get(f"/board/jobs/{JOB}/logs").text
    js = http.get("/board/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text
    assert http.get("/board/static/../routes.py").status_code == 404
    assert http.get("/board/jobs/<script>").status_code == 404
