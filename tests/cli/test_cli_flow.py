"""The flow-style CLI (``init``, ``job``, ``data``/``table`` on a server, ``model``, ``tracking``)
against a fake :class:`~fedloom.server.client.FlowClient` injected through
``fedloom.cli.flow.make_client``: what each verb sends, what it prints, how it fails."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedloom.cli import app
from fedloom.cli import flow as flow_mod
from fedloom.core.errors import ServerError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LR = EXAMPLES / "jobs" / "hetero_lr"

OK = {"retcode": 0, "retmsg": "success"}


def _job(status: str = "success") -> dict[str, Any]:
    tasks = []
    for comp in ("reader_0", "data_transform_0", "intersection_0", "hetero_lr_0", "evaluation_0"):
        for role, party in (("guest", 9999), ("host", 10000)):
            times = {"start_time": 1_700_000_000_000, "end_time": 1_700_000_002_500}
            tasks.append({"component": comp, "role": role, "party_id": party, "status": "success",
                          **times, "error": None})  # fmt: skip
    if status == "failed":
        tasks[-2].update(status="failed", error="ValueError: AUC undefined")
    return {
        "job_id": "202601010000000001",
        "status": status,
        "progress": 100 if status == "success" else 80,
        "start_time": 1_700_000_000_000,
        "end_time": 1_700_000_012_000,
        "elapsed": 12_000,
        "initiator": {"role": "guest", "party_id": 9999},
        "roles": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "tasks": tasks,
        "error": {"party": "guest:9999", "component": "evaluation_0", "message": "AUC undefined"}
        if status == "failed"
        else None,
    }


class FakeClient:
    """Records every call; answers from ``answers`` (a dict, or an exception to raise)."""

    def __init__(self, url: str = "http://127.0.0.1:9380") -> None:
        self.url = url
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> dict[str, Any]:
            self.calls.append((name, args, kwargs))
            answer = self.answers.get(name, {**OK, "data": {}})
            if callable(answer) and not isinstance(answer, dict):
                answer = answer(*args, **kwargs)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return method

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.calls if n == name]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A client config in tmp (never the user's ~/.fedloom), no server home."""
    path = tmp_path / "client.json"
    monkeypatch.setenv("FEDLOOM_CLIENT_CONFIG", str(path))
    monkeypatch.setenv("FEDLOOM_SERVER_HOME", str(tmp_path / "server"))
    monkeypatch.setenv("FEDLOOM_DATA_DIR", str(tmp_path / "local_store"))
    return path


@pytest.fixture
def fake(config: Path, monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    token = config.parent / "token"
    token.write_text("secret-token\n")
    config.write_text(json.dumps({"url": "http://127.0.0.1:9380", "token_file": str(token)}))
    client = FakeClient()
    monkeypatch.setattr(flow_mod, "make_client", lambda path: client)
    return client


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def one_line_error(result: Any) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------ init


def test_init_writes_config_0600_and_default_token(config: Path) -> None:
    res = cli("init", "--ip", "10.0.0.7", "--port", "9391")
    assert res.exit_code == 0, res.output
    conf = json.loads(config.read_text())
    assert conf == {
        "url": "http://10.0.0.7:9391",
        "token_file": str((config.parent / "server" / "token").resolve()),
    }
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "does not exist yet" in res.stdout  # no server has written the token there
    res = cli("init", "--ip", "127.0.0.1", "--port", "9380", "--token-file", str(config.parent / "tok"))
    assert json.loads(config.read_text())["token_file"] == str((config.parent / "tok").resolve())
    assert cli("init", "--reset").exit_code == 0 and not config.exists()


def test_no_config_says_run_init(config: Path) -> None:
    for args in (
        ("job", "query", "-j", "x"),
        ("job", "list"),
        ("tracking", "metrics", "-j", "x", "-cpn", "c"),
    ):
        res = cli(*args)
        assert res.exit_code == 1
        assert "fedloom init" in one_line_error(res)


def test_missing_token_file_names_it(config: Path) -> None:
    config.write_text(json.dumps({"url": "http://127.0.0.1:9380", "token_file": "/nonexistent/fl/token"}))
    res = cli("job", "list")  # the real make_client: FlowClient.from_config reads the token file
    assert res.exit_code == 1
    line = one_line_error(res)
    assert "/nonexistent/fl/token" in line and "--token-file" in line


def test_server_down_names_url(config: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = config.parent / "token"
    token.write_text("t")
    config.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "token_file": str(token)}))
    res = cli("job", "query", "-j", "x")
    assert res.exit_code == 1
    line = one_line_error(res)
    assert f"cannot reach the fedloom server at http://127.0.0.1:{port}" in line


def test_401_names_token_file(fake: FakeClient, config: Path) -> None:
    fake.answers["job_list"] = ServerError(401, "unauthorized: missing or wrong API token")
    res = cli("job", "list")
    assert res.exit_code == 1
    line = one_line_error(res)
    assert "401" in line and str(config.parent / "token") in line


def test_retcode_error_prints_retmsg_and_json(fake: FakeClient) -> None:
    fake.answers["job_query"] = ServerError(101, "no job 42")
    res = cli("job", "query", "-j", "42")
    assert res.exit_code == 1
    assert "no job 42" in one_line_error(res)
    res = cli("job", "query", "-j", "42", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout) == {"retcode": 101, "retmsg": "no job 42"}


# ------------------------------------------------------------------------------------------ jobs


def test_submit_sends_files_and_json_is_verbatim(fake: FakeClient) -> None:
    info = {"model_id": "arbiter-10000#guest-9999#host-10000#model", "model_version": "j1"}
    resp = {**OK, "jobId": "j1", "data": {"job_id": "j1", "job_dir": "/srv/jobs/j1", "model_info": info}}
    fake.answers["job_submit"] = resp
    res = cli("job", "submit", "-c", str(LR / "conf.json"), "-d", str(LR / "dsl.json"))
    assert res.exit_code == 0, res.output
    ((args, _),) = fake.called("job_submit")
    assert args == (json.loads((LR / "conf.json").read_text()), json.loads((LR / "dsl.json").read_text()))
    assert "j1" in res.stdout and "arbiter-10000#guest-9999#host-10000#model" in res.stdout
    res = cli("job", "submit", "-c", str(LR / "conf.json"), "-d", str(LR / "dsl.json"), "--json")
    assert json.loads(res.stdout) == resp


def test_submit_bad_conf_is_a_config_error(fake: FakeClient, tmp_path: Path) -> None:
    bad = tmp_path / "conf.json"
    bad.write_text("{not json")
    res = cli("job", "submit", "-c", str(bad), "-d", str(LR / "dsl.json"))
    assert res.exit_code != 0 and not fake.calls


def test_query_shows_tasks_and_failure(fake: FakeClient) -> None:
    fake.answers["job_query"] = {**OK, "data": [_job("failed")]}
    res = cli("job", "query", "-j", "202601010000000001")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "failed" in out and "AUC undefined" in out and "guest:9999" in out
    assert "12.0s" in out  # elapsed, FATE's milliseconds
    res = cli("job", "query", "-j", "202601010000000001", "-r", "host", "-p", "10000")
    assert "host:10000" in res.stdout and "guest:9999  " not in res.stdout.split("tasks", 1)[1]
    assert fake.called("job_query")[0][0] == ("202601010000000001",)


def test_list_stop_rerun(fake: FakeClient) -> None:
    fake.answers["job_list"] = {**OK, "data": [_job(), {**_job("failed"), "job_id": "j2"}]}
    res = cli("job", "list", "-l", "5", "-s", "failed")
    assert res.exit_code == 0, res.output
    assert fake.called("job_list") == [((), {"limit": 5, "status": "failed"})]
    assert "202601010000000001" in res.stdout and "j2" in res.stdout
    assert cli("job", "stop", "-j", "j2").exit_code == 0
    assert cli("job", "rerun", "-j", "j2").exit_code == 0
    assert fake.called("job_stop") == [(("j2",), {})] and fake.called("job_rerun") == [(("j2",), {})]


def test_log_gathers_every_party(fake: FakeClient, tmp_path: Path) -> None:
    logs = {"guest-9999": "g line 1\n[guest] g line 2\n", "host-10000": "h\n", "arbiter-10000": "a\n"}
    fake.answers["job_log"] = {**OK, "data": logs}
    res = cli("job", "log", "-j", "j1", "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    folder = tmp_path / "job_j1_log"
    assert {p.name: p.read_text() for p in folder.iterdir()} == {f"{k}.log": v for k, v in logs.items()}
    res = cli("job", "log", "-j", "j1")
    for text in ("g line 1", "[guest] g line 2", "guest-9999", "host-10000", "arbiter-10000"):
        assert text in res.stdout
    res = cli("job", "log", "-j", "j1", "--tail", "1")
    assert "g line 1" not in res.stdout and "[guest] g line 2" in res.stdout


def test_view_shows_metrics_of_the_initiator(fake: FakeClient) -> None:
    fake.answers["job_query"] = {**OK, "data": [_job()]}

    def metrics(job_id: str, role: str, party: str, cpn: str) -> Any:
        if cpn == "evaluation_0":
            return {**OK, "data": {"train": {"auc": 0.9843210, "ks": 0.87}}}
        if cpn == "hetero_lr_0":
            return {**OK, "data": {"loss": [0.69, 0.5, 0.4]}}
        return ServerError(101, f"{cpn} has no metrics")

    fake.answers["tracking_metrics"] = metrics
    res = cli("job", "view", "-j", "202601010000000001")
    assert res.exit_code == 0, res.output
    asked = [a for a, _ in fake.called("tracking_metrics")]
    assert {a[3] for a in asked} == {
        "reader_0",
        "data_transform_0",
        "intersection_0",
        "hetero_lr_0",
        "evaluation_0",
    }
    assert {(a[1], a[2]) for a in asked} == {("guest", "9999")}
    assert "0.984321" in res.stdout and "train.ks" in res.stdout
    res = cli("job", "view", "-j", "202601010000000001", "--json")
    data = json.loads(res.stdout)["data"]
    assert data["metrics"] == {"evaluation_0": {"train": {"auc": 0.9843210, "ks": 0.87}},
                               "hetero_lr_0": {"loss": [0.69, 0.5, 0.4]}}  # fmt: skip


def test_config_writes_three_files(fake: FakeClient, tmp_path: Path) -> None:
    conf, dsl = json.loads((LR / "conf.json").read_text()), json.loads((LR / "dsl.json").read_text())
    info = {"model_id": "m", "model_version": "j1"}
    fake.answers["job_config"] = {**OK, "data": {"conf": conf, "dsl": dsl, "model_info": info}}
    res = cli("job", "config", "-j", "j1", "-r", "guest", "-p", "9999", "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    folder = tmp_path / "job_j1_config"
    assert json.loads((folder / "job_runtime_conf.json").read_text()) == conf
    assert json.loads((folder / "job_dsl.json").read_text()) == dsl
    assert json.loads((folder / "model_info.json").read_text()) == info


def test_dsl_from_train_file_matches_the_example_predict_dsl(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "predict_dsl.json"
    res = cli("job", "dsl", "--train-dsl-path", str(LR / "dsl.json"), "-o", str(out))
    assert res.exit_code == 0, res.output  # no server configured: derived locally
    assert json.loads(out.read_text()) == json.loads((LR / "predict_dsl.json").read_text())
    res = cli("job", "dsl", "--train-dsl-path", str(LR / "dsl.json"),
              "--cpn-list", "reader_0,data_transform_0,intersection_0")  # fmt: skip
    comps = json.loads(res.stdout)["components"]
    assert set(comps) == {"reader_0", "data_transform_0", "intersection_0"}
    assert cli("job", "dsl").exit_code == 2


def test_dsl_from_server_passes_cpn_list(fake: FakeClient, tmp_path: Path) -> None:
    fake.answers["job_dsl"] = {**OK, "data": {"components": {"reader_0": {"module": "Reader"}}}}
    cpn = tmp_path / "cpn.txt"
    cpn.write_text("reader_0\nhetero_lr_0\n")
    for extra in (("--cpn-list", "[reader_0, hetero_lr_0]"), ("--cpn-path", str(cpn))):
        res = cli("job", "dsl", "-j", "j1", *extra)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout) == {"components": {"reader_0": {"module": "Reader"}}}
    assert [k for _, k in fake.called("job_dsl")] == [{"cpn_list": ["reader_0", "hetero_lr_0"]}] * 2


# -------------------------------------------------------------------------------------- tracking


def test_tracking_output_data_csv_and_component_alias(fake: FakeClient, tmp_path: Path) -> None:
    fake.answers["job_query"] = {**OK, "data": [_job()]}
    header = ["id", "label", "predict_result", "predict_score"]
    rows = [["133", 1, 1, 0.93], ["273", 0, 0, 0.11], ["175", 1, 0, 0.47]]
    fake.answers["tracking_output_data"] = {**OK, "data": {"header": header, "rows": rows, "total": 569}}
    res = cli("component", "output-data", "-j", "j1", "-cpn", "hetero_lr_0", "-l", "3", "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    ((args, kwargs),) = fake.called("tracking_output_data")
    assert args == ("j1", "guest", "9999", "hetero_lr_0") and kwargs == {"limit": 3}  # initiator by default
    csv = pd.read_csv(tmp_path / "job_j1_hetero_lr_0_guest_9999_output_data" / "data.csv", dtype={"id": str})
    expected = pd.DataFrame(rows, columns=header)
    pd.testing.assert_frame_equal(csv, expected)
    res = cli("tracking", "output-data", "-j", "j1", "-r", "host", "-p", "10000", "-cpn", "hetero_lr_0")
    assert "3 of 569 rows" in res.stdout and "0.47" in res.stdout
    assert fake.called("tracking_output_data")[-1][0] == ("j1", "host", "10000", "hetero_lr_0")


def test_tracking_metrics_model_summary(fake: FakeClient, tmp_path: Path) -> None:
    fake.answers["tracking_metrics"] = {**OK, "data": {"train": {"auc": 0.98}}}
    fake.answers["tracking_output_model"] = {**OK, "data": {"weights": [0.1, -0.2], "intercept": 0.3}}
    fake.answers["tracking_summary"] = {**OK, "data": {"iterations": 30, "converged": False}}
    base = ("-j", "j1", "-r", "guest", "-p", "9999", "-cpn", "hetero_lr_0")
    res = cli("tracking", "metrics", *base)
    assert res.exit_code == 0 and "train.auc" in res.stdout and "0.98" in res.stdout
    res = cli("component", "metric-all", *base, "--json")
    assert json.loads(res.stdout) == {**OK, "data": {"train": {"auc": 0.98}}}
    out = tmp_path / "model.json"
    assert cli("tracking", "output-model", *base, "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text()) == {"weights": [0.1, -0.2], "intercept": 0.3}
    res = cli("tracking", "summary", *base)
    assert "iterations" in res.stdout and "30" in res.stdout
    assert not fake.called("job_query")  # role and party given: no lookup


# ---------------------------------------------------------------------------------- data, tables


def test_upload_to_loopback_server_sends_absolute_path(fake: FakeClient) -> None:
    fake.answers["data_upload"] = {**OK, "jobId": "u1", "data": {"table_name": "breast_hetero_guest",
                                   "namespace": "experiment", "count": 569}}  # fmt: skip
    res = cli("data", "upload", "-c", str(EXAMPLES / "upload" / "breast_hetero_guest.json"), "--drop")
    assert res.exit_code == 0, res.output
    ((args, kwargs),) = fake.called("data_upload")
    assert args[0]["file"] == str((EXAMPLES / "data" / "breast_hetero_guest.csv").resolve())
    assert args[0]["table_name"] == "breast_hetero_guest" and kwargs == {"file": None, "drop": True}
    assert "569 rows" in res.stdout and "experiment.breast_hetero_guest" in res.stdout


def test_upload_to_remote_server_streams_the_file(fake: FakeClient, config: Path) -> None:
    conf = json.loads(config.read_text())
    config.write_text(json.dumps({**conf, "url": "http://10.1.2.3:9380"}))
    fake.url = "http://10.1.2.3:9380"
    assert cli("data", "upload", "-c", str(EXAMPLES / "upload" / "breast_hetero_host.json")).exit_code == 0
    ((_, kwargs),) = fake.called("data_upload")
    assert kwargs["file"] == (EXAMPLES / "data" / "breast_hetero_host.csv").resolve()


def test_tables_on_server_and_local_override(fake: FakeClient, tmp_path: Path) -> None:
    info = {"table_name": "t", "namespace": "ns", "count": 3, "schema": {"columns": [{"name": "id"}]}}
    fake.answers["table_info"] = {**OK, "data": info}
    fake.answers["table_list"] = {**OK, "data": [info, {**info, "namespace": "other"}]}
    res = cli("table", "info", "-t", "t", "-n", "ns")
    assert res.exit_code == 0 and "ns.t" in res.stdout and fake.called("table_info") == [(("t", "ns"), {})]
    assert json.loads(cli("table", "info", "-t", "t", "-n", "ns", "--json").stdout) == {**OK, "data": info}
    res = cli("table", "list", "-n", "ns")
    assert "ns" in res.stdout and "other" not in res.stdout
    assert cli("table", "delete", "-t", "t", "-n", "ns").exit_code == 0
    assert fake.called("table_delete") == [(("t", "ns"), {})]
    # --local / --data-dir: the local store, the server is not asked
    before = len(fake.calls)
    res = cli("table", "list", "--data-dir", str(tmp_path / "empty"))
    assert res.exit_code == 0 and len(fake.calls) == before


def test_without_server_data_and_tables_stay_local(config: Path, tmp_path: Path) -> None:
    conf = EXAMPLES / "upload" / "breast_hetero_guest.json"
    assert cli("data", "upload", "-c", str(conf)).exit_code == 0  # $FEDLOOM_DATA_DIR, no server
    res = cli("table", "info", "-t", "breast_hetero_guest", "-n", "experiment", "--json")
    assert json.loads(res.stdout)["rows"] == len(pd.read_csv(EXAMPLES / "data" / "breast_hetero_guest.csv"))
    down = tmp_path / "download.json"
    down.write_text(json.dumps({"table_name": "breast_hetero_guest", "namespace": "experiment",
                                "output_path": "out/guest.csv"}))  # fmt: skip
    res = cli("data", "download", "-c", str(down))
    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "out" / "guest.csv", dtype={"id": str})
    src = pd.read_csv(EXAMPLES / "data" / "breast_hetero_guest.csv", dtype={"id": str})
    pd.testing.assert_frame_equal(got[src.columns.tolist()], src, check_dtype=False)


def test_download_from_server(fake: FakeClient, tmp_path: Path) -> None:
    down = tmp_path / "download.json"
    down.write_text(json.dumps({"table_name": "t", "namespace": "ns", "output_path": "t.csv"}))
    assert cli("data", "download", "-c", str(down)).exit_code == 0
    assert fake.called("data_download") == [(("t", "ns", tmp_path / "t.csv"), {})]


# ---------------------------------------------------------------------------------------- models


def test_model_deploy_export_import(fake: FakeClient, tmp_path: Path) -> None:
    fake.answers["model_deploy"] = {**OK, "data": {"model_id": "m", "model_version": "j9",
                                    "predict_dsl": {"components": {"reader_0": {}, "hetero_lr_0": {}}},
                                    "predict_conf": {"dsl_version": 2}}}  # fmt: skip
    out = tmp_path / "deploy"
    res = cli("model", "deploy", "--model-id", "m", "--model-version", "j1",
              "--cpn-list", "reader_0,hetero_lr_0", "-o", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((out / "predict_conf.json").read_text()) == {"dsl_version": 2}
    assert json.loads((out / "predict_dsl.json").read_text()) == {
        "components": {"reader_0": {}, "hetero_lr_0": {}}
    }
    assert fake.called("model_deploy") == [(("m", "j1"), {"cpn_list": ["reader_0", "hetero_lr_0"]})]
    assert "version j1" in res.stdout and "reader_0, hetero_lr_0" in res.stdout
    res = cli("model", "export", "--model-id", "a#b", "--model-version", "j1", "-o", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert fake.called("model_export") == [(("a#b", "j1", tmp_path / "model_j1.zip"), {})]
    conf = tmp_path / "export.json"
    conf.write_text(json.dumps({"model_id": "a", "model_version": "j2", "output_path": "m.zip"}))
    assert cli("model", "export", "-c", str(conf)).exit_code == 0
    assert fake.called("model_export")[-1][0] == ("a", "j2", tmp_path / "m.zip")
    (tmp_path / "m.zip").write_bytes(b"PK")
    imp = tmp_path / "import.json"
    imp.write_text(json.dumps({"file": "m.zip"}))
    assert cli("model", "import", "-c", str(imp)).exit_code == 0
    assert fake.called("model_import") == [((tmp_path / "m.zip",), {})]
    res = cli("model", "import", "-f", str(tmp_path / "nope.zip"))
    assert res.exit_code == 2 and "nope.zip" in one_line_error(res)
