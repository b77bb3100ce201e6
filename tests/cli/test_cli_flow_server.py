"""The flow-style CLI end to end: the ``fedloom`` console script against a real server process.

One server (``fedloom server start --home TMP --port 0``, its token read from ``TMP/token``) for
the module. Upload the breast tables, train hetero LR, query until success, list, log, view the
metrics (checked against an AUC computed here from the job's own output data), derive the
predict DSL with ``job dsl``, run a predict job with the trained model version (its scores equal
the training job's), stop a running job (its processes gone within 5 s) and rerun it (the
finished components are not run again). Also: a wrong token and a stopped server each give one
line naming what to fix.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LR = EXAMPLES / "jobs" / "hetero_lr"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")


class Cli:
    """Runs the console script with this test's client config."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [FEDLOOM, *args], capture_output=True, text=True, timeout=timeout, env=self.env, cwd=REPO
        )
        if check:
            assert res.returncode == 0, f"fedloom {' '.join(args)}:\n{res.stdout}\n{res.stderr}"
        return res

    def json(self, *args: str) -> Any:
        out = json.loads(self(*args, "--json").stdout)
        assert out["retcode"] == 0, out
        return out

    def job(self, job_id: str) -> dict[str, Any]:
        return self.json("job", "query", "-j", job_id)["data"][0]

    def client(self) -> Any:
        """The Python client of the same config: polls cheaply (no interpreter start per poll)."""
        from fedloom.server.client import FlowClient

        return FlowClient.from_config(self.env["FEDLOOM_CLIENT_CONFIG"])

    def wait(self, job_id: str, timeout: float = 100) -> dict[str, Any]:
        """Poll until the job is final, then read it once more through `fedloom job query`."""
        self.client().wait(job_id, timeout=timeout, poll=0.5)
        return self.job(job_id)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, subprocess.Popen[str]]]:
    home = tmp_path_factory.mktemp("server_home")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FEDLOOM_SERVER_HOME": str(home)}
    proc = subprocess.Popen(
        [FEDLOOM, "server", "start", "--home", str(home), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    endpoint = home / "endpoint.json"
    deadline = time.monotonic() + 30
    while not endpoint.is_file():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "server exited"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.1)
    url = json.loads(endpoint.read_text())["url"]
    try:
        yield home, url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cli(server: tuple[Path, str, subprocess.Popen[str]], tmp_path_factory: pytest.TempPathFactory) -> Cli:
    home, url, _ = server
    conf_dir = tmp_path_factory.mktemp("client")
    env = {
        **os.environ,
        "COLUMNS": "150",
        "OMP_NUM_THREADS": "1",
        "FEDLOOM_CLIENT_CONFIG": str(conf_dir / "client.json"),
        "FEDLOOM_DATA_DIR": str(conf_dir / "local_store"),  # must stay empty: tables go to the server
    }
    run = Cli(env)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    run("init", "--ip", host, "--port", port, "--token-file", str(home / "token"))
    for role in ("guest", "host"):
        out = run("data", "upload", "-c", str(EXAMPLES / "upload" / f"breast_hetero_{role}.json"), "--drop")
        assert "569 rows" in out.stdout and url in out.stdout
    return run


@pytest.fixture(scope="module")
def trained(cli: Cli) -> dict[str, Any]:
    sub = cli.json("job", "submit", "-c", str(LR / "conf.json"), "-d", str(LR / "dsl.json"))
    job_id = sub["jobId"]
    assert sub["data"]["job_id"] == job_id
    job = cli.wait(job_id)
    assert job["status"] == "success", job.get("error")
    return sub["data"]


def _scores(cli: Cli, job_id: str) -> dict[str, tuple[int, float]]:
    data = cli.json("tracking", "output-data", "-j", job_id, "-cpn", "hetero_lr_0", "-l", "1000")["data"]
    h = data["header"]
    assert data["total"] == len(data["rows"])
    i_id, i_score = h.index("id"), h.index("predict_score")
    i_label = h.index("label") if "label" in h else None
    return {
        str(r[i_id]): (int(r[i_label]) if i_label is not None else -1, float(r[i_score]))
        for r in data["rows"]
    }


def _auc(labels: list[int], scores: list[float]) -> float:
    """AUC as the Mann-Whitney statistic: P(score of a positive > score of a negative), ties half."""
    pos = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    neg = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_tables_are_on_the_server(cli: Cli, server: tuple[Path, str, Any]) -> None:
    home, _, _ = server
    tables = cli.json("table", "list")["data"]
    assert {(t["namespace"], t["name"]) for t in tables} >= {
        ("experiment", "breast_hetero_guest"),
        ("experiment", "breast_hetero_host"),
    }
    info = cli.json("table", "info", "-t", "breast_hetero_host", "-n", "experiment")["data"]
    assert info["count"] == 569 and len(info["columns"]) == 21
    assert Path(info["path"]).is_relative_to(home)  # the server's store, not the local one
    assert not Path(cli.env["FEDLOOM_DATA_DIR"]).exists()
    assert "breast_hetero_guest" in cli("table", "list").stdout


def test_train_query_list_log_view(cli: Cli, trained: dict[str, Any], tmp_path: Path) -> None:
    job_id = trained["job_id"]
    query = cli("job", "query", "-j", job_id).stdout
    assert "success" in query and "hetero_lr_0" in query and "guest:9999" in query
    job = cli.job(job_id)
    assert job["progress"] == 100 and {t["status"] for t in job["tasks"]} == {"success"}
    assert job_id in [j["job_id"] for j in cli.json("job", "list", "-l", "20")["data"]]
    assert job_id in cli("job", "list").stdout

    cli("job", "log", "-j", job_id, "-o", str(tmp_path))
    logs = {p.name: p.read_text() for p in (tmp_path / f"job_{job_id}_log").iterdir()}
    assert set(logs) == {"guest-9999.log", "host-10000.log", "arbiter-10000.log"}
    for name, text in logs.items():
        party = name.removesuffix(".log").replace("-", ":")
        assert party in text and "hetero_lr_0" in text
    printed = cli("job", "log", "-j", job_id, "--tail", "2").stdout
    assert all(p in printed for p in ("guest-9999", "host-10000", "arbiter-10000"))

    view = cli.json("job", "view", "-j", job_id)["data"]
    assert (view["role"], str(view["party_id"])) == ("guest", "9999")
    auc = view["metrics"]["evaluation_0"]["auc"]
    scores = _scores(cli, job_id)
    assert len(scores) == 569
    labels, values = zip(*scores.values(), strict=True)
    assert auc == pytest.approx(_auc(list(labels), list(values)), abs=1e-9)
    assert auc > 0.95
    assert "evaluation_0" in cli("job", "view", "-j", job_id).stdout
    metrics = cli.json(
        "component", "metrics", "-j", job_id, "-r", "guest", "-p", "9999", "-cpn", "evaluation_0"
    )
    assert metrics["data"]["auc"] == auc


def test_job_dsl_and_predict_with_the_model_version(
    cli: Cli, trained: dict[str, Any], tmp_path: Path
) -> None:
    job_id = trained["job_id"]
    dsl_path = tmp_path / "predict_dsl.json"
    cpn = "reader_0,data_transform_0,intersection_0,hetero_lr_0"
    cli("job", "dsl", "-j", job_id, "--cpn-list", cpn, "-o", str(dsl_path))
    assert json.loads(dsl_path.read_text()) == json.loads((LR / "predict_dsl.json").read_text())

    conf = json.loads((LR / "predict_conf.json").read_text())
    conf["job_parameters"]["common"].update(trained["model_info"])
    conf_path = tmp_path / "predict_conf.json"
    conf_path.write_text(json.dumps(conf))
    pred = cli.json("job", "submit", "-c", str(conf_path), "-d", str(dsl_path))["jobId"]
    job = cli.wait(pred)
    assert job["status"] == "success", job.get("error")
    # the same rows through the same model: the predict job's scores are the training job's
    train_scores = {k: s for k, (_, s) in _scores(cli, job_id).items()}
    pred_scores = {k: s for k, (_, s) in _scores(cli, pred).items()}
    assert pred_scores.keys() == train_scores.keys()
    assert max(abs(pred_scores[k] - train_scores[k]) for k in pred_scores) < 1e-9


def test_model_deploy_export_import(cli: Cli, trained: dict[str, Any], tmp_path: Path) -> None:
    info = trained["model_info"]
    ids = ("--model-id", info["model_id"], "--model-version", info["model_version"])
    cli("model", "deploy", *ids, "--cpn-list", "reader_0,data_transform_0,intersection_0,hetero_lr_0",
        "-o", str(tmp_path))  # fmt: skip
    assert json.loads((tmp_path / "predict_dsl.json").read_text()) == json.loads(
        (LR / "predict_dsl.json").read_text()
    )
    conf = json.loads((tmp_path / "predict_conf.json").read_text())
    assert conf["job_parameters"]["common"]["model_version"] == info["model_version"]
    zip_path = tmp_path / "model.zip"
    cli("model", "export", *ids, "-o", str(zip_path))
    with zipfile.ZipFile(zip_path) as zf:
        assert json.loads(zf.read("model_info.json")) == info
        assert any("hetero_lr_0/host-10000" in n for n in zf.namelist())
    res = cli("model", "import", "-f", str(zip_path), check=False)  # same server: the job exists
    assert res.returncode == 1 and "already exists" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _processes_of(job_id: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
                state = (proc / "stat").read_text().split(") ", 1)[1][:1]
            except OSError:
                continue
            if job_id.encode() in cmd and state != "Z":
                pids.append(int(proc.name))
    return pids


def test_stop_a_running_job_then_rerun_it(cli: Cli, tmp_path: Path) -> None:
    conf = json.loads((LR / "conf.json").read_text())
    conf["component_parameters"]["common"]["hetero_lr_0"].update(max_iter=10, early_stop="weight_diff")
    conf_path = tmp_path / "conf.json"
    conf_path.write_text(json.dumps(conf))
    job_id = cli.json("job", "submit", "-c", str(conf_path), "-d", str(LR / "dsl.json"))["jobId"]
    client = cli.client()
    deadline = time.monotonic() + 60
    while True:  # stop once the model is training: intersection done, hetero_lr_0 running
        job = client.job_query(job_id)["data"][0]
        tasks = {(t["component"], t["role"]): t for t in job["tasks"]}
        if tasks[("hetero_lr_0", "guest")]["status"] == "running":
            break
        assert job["status"] in ("waiting", "running"), job
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _processes_of(job_id), "no process of the running job found (the check below would be empty)"
    cli("job", "stop", "-j", job_id)
    stopped_at_ms = time.time() * 1000
    t0 = time.monotonic()
    while _processes_of(job_id) and time.monotonic() - t0 < 5:
        time.sleep(0.1)
    assert not _processes_of(job_id), "the job's processes outlived `job stop` by 5 s"
    stopped = cli.job(job_id)
    assert stopped["status"] == "canceled"
    before = {(t["component"], t["role"]): t for t in stopped["tasks"]}
    assert before[("intersection_0", "guest")]["status"] == "success"

    # stopping it again is refused with the server's message and exit code 1
    again = cli("job", "stop", "-j", job_id, check=False)
    assert again.returncode == 1 and "canceled" in again.stderr and "Traceback" not in again.stderr

    cli("job", "rerun", "-j", job_id)
    done = cli.wait(job_id)
    assert done["status"] == "success", done.get("error")
    after = {(t["component"], t["role"]): t for t in done["tasks"]}
    for key in (("reader_0", "guest"), ("intersection_0", "host")):  # finished before: not run again
        assert after[key]["start_time"] == before[key]["start_time"]
    assert after[("hetero_lr_0", "guest")]["end_time"] > stopped_at_ms  # trained again after the stop


def test_wrong_token_and_unknown_job_say_one_line(
    cli: Cli, tmp_path: Path, server: tuple[Path, str, Any]
) -> None:
    _, url, _ = server
    bad = tmp_path / "bad_token"
    bad.write_text("not-the-token")
    config = tmp_path / "client.json"
    config.write_text(json.dumps({"url": url, "token_file": str(bad)}))
    res = Cli({**cli.env, "FEDLOOM_CLIENT_CONFIG": str(config)})("job", "list", check=False)
    assert res.returncode == 1 and "401" in res.stderr and str(bad) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1

    res = cli("job", "query", "-j", "no_such_job", check=False)
    assert res.returncode == 1 and "no_such_job" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = cli("job", "query", "-j", "no_such_job", "--json", check=False)
    assert res.returncode == 1 and json.loads(res.stdout)["retcode"] != 0


def test_server_down_names_the_url(cli: Cli, server: tuple[Path, str, subprocess.Popen[str]]) -> None:
    # last in the module: stops the server
    _, url, proc = server
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    res = cli("job", "list", check=False)
    assert res.returncode == 1
    assert f"cannot reach the fedloom server at {url}" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
