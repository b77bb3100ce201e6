"""The REST API in-process (FastAPI's TestClient; jobs still run as real processes): token
required, names and ids checked, tables, and one job from submit to its outputs."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from server_helpers import EXAMPLES, load_example

from fedloom.core.errors import ServerError
from fedloom.server.client import FlowClient
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JobRow

Ctx = tuple[TestClient, FlowClient, ServerSettings]


def test_token_is_private_and_required(app_client: Ctx) -> None:
    http, client, settings = app_client
    assert stat.S_IMODE(os.stat(settings.token_path).st_mode) == 0o600
    for path in ("/v1/job/list/job", "/v1/table/list", "/v1/job/query"):
        assert http.post(path, json={}).status_code == 401
        bad = http.post(path, json={}, headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401 and bad.json()["retcode"] == 401
    with pytest.raises(ServerError) as err:
        FlowClient("http://testserver", "nope", http=http).job_list()
    assert err.value.retcode == 401
    assert client.job_list()["retcode"] == 0
    assert http.get("/openapi.json").status_code == 200  # the API's description, no data


def test_tables_upload_info_download_delete(app_client: Ctx, tmp_path) -> None:
    _, client, _ = app_client
    csv = (EXAMPLES / "data" / "breast_hetero_host.csv").resolve()
    conf = {"file": str(csv), "table_name": "h", "namespace": "t", "head": 1, "partition": 4}
    assert client.data_upload(conf)["data"]["count"] == len(pd.read_csv(csv))
    with pytest.raises(ServerError) as err:
        client.data_upload(conf)  # exists: refused without drop
    assert err.value.retcode == 100
    assert client.data_upload(conf, drop=True)["retcode"] == 0
    streamed = client.data_upload({**conf, "table_name": "h2", "file": "x.csv"}, file=csv)
    assert streamed["data"]["count"] == len(pd.read_csv(csv))
    info = client.table_info("h2", "t")["data"]
    assert info["id_column"] == "id" and info["columns"] == list(pd.read_csv(csv).columns)
    names = {(t["namespace"], t["name"]) for t in client.table_list()["data"]}
    assert {("t", "h"), ("t", "h2"), ("experiment", "breast_hetero_guest")} <= names
    out = tmp_path / "down.csv"
    client.data_download("h2", "t", out)
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(csv), check_dtype=False)
    assert client.table_delete("h", "t")["data"]["count"] == len(pd.read_csv(csv))
    with pytest.raises(ServerError) as err:
        client.table_info("h", "t")
    assert err.value.retcode == 101


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", ".hidden", "x" * 200])
def test_bad_table_names_refused(app_client: Ctx, name: str) -> None:
    _, client, settings = app_client
    for call in (
        lambda: client.table_info(name, "t"),
        lambda: client.table_delete("ok", name),
        lambda: client.data_upload({"file": "/etc/passwd", "table_name": name, "namespace": "t"}),
    ):
        with pytest.raises(ServerError) as err:
            call()
        assert err.value.retcode == 100
    assert not (settings.home / "etc").exists()


def test_job_ids_checked_and_only_own_jobs(app_client: Ctx) -> None:
    http, client, _ = app_client
    with pytest.raises(ServerError) as err:
        client.job_query("../../etc")
    assert err.value.retcode == 100
    with pytest.raises(ServerError) as err:
        client.job_query("20990101000000-abcdef")
    assert err.value.retcode == 101
    # a job of another server in the same store: invisible, not stoppable, not readable
    store = http.app.state.store  # type: ignore[attr-defined]
    store.add_job(
        JobRow(
            job_id="other-1",
            server_id="another",
            status="running",
            conf={},
            dsl={},
            initiator={},
            roles={"guest": [9999]},
            job_dir="/tmp",
            create_time=0.0,
        ),
        [],
        [],
    )
    for call in (client.job_query, client.job_stop, client.job_log, client.job_config, client.job_rerun):
        with pytest.raises(ServerError) as err:
            call("other-1")
        assert err.value.retcode == 101
    with pytest.raises(ServerError):
        client.tracking_metrics("other-1", "guest", 9999, "reader_0")
    assert "other-1" not in [j["job_id"] for j in client.job_list(limit=100)["data"]]


def test_submit_refuses_invalid_jobs_before_running(app_client: Ctx) -> None:
    _, client, _ = app_client
    conf = load_example("jobs", "intersect", "conf.json")
    dsl = load_example("jobs", "intersect", "dsl.json")
    conf["component_parameters"]["role"]["host"]["0"]["reader_0"]["table"]["name"] = "missing_table"
    with pytest.raises(ServerError) as err:
        client.job_submit(conf, dsl)
    assert err.value.retcode == 100 and "missing_table" in err.value.retmsg
    assert client.job_list()["data"] == []


def test_job_submit_query_outputs(app_client: Ctx) -> None:
    _, client, _ = app_client
    conf = load_example("jobs", "intersect", "conf.json")
    dsl = load_example("jobs", "intersect", "dsl.json")
    sub = client.job_submit(conf, dsl)
    job_id = sub["jobId"]
    assert sub["data"]["model_info"]["model_version"] == job_id
    seen: list[str] = []
    job = client.wait(job_id, timeout=60, poll=0.2, on_poll=lambda j: seen.append(j["status"]))
    assert job["status"] == "success", job["error"]
    assert job["progress"] == 100.0 and job["elapsed"] > 0
    tasks = {(t["component"], t["role"], t["party_id"]): t["status"] for t in job["tasks"]}
    assert tasks == {
        (c, r, p): "success"
        for c in ("reader_0", "data_transform_0", "intersect_0")
        for r, p in (("guest", "9999"), ("host", "10000"))
    }
    listed = client.job_list(status="success")["data"]
    assert [j["job_id"] for j in listed] == [job_id]
    logs = client.job_log(job_id)["data"]
    assert set(logs) == {"guest-9999", "host-10000"} and "intersect_0" in logs["guest-9999"]
    assert client.job_config(job_id)["data"]["dsl"] == dsl
    # the intersection, computed independently from the two CSV files
    guest = pd.read_csv(EXAMPLES / "data" / "breast_hetero_guest.csv")
    host = pd.read_csv(EXAMPLES / "data" / "breast_hetero_host.csv")
    expected = set(guest["id"].astype(str)) & set(host["id"].astype(str))
    out = client.tracking_output_data(job_id, "guest", 9999, "intersect_0", limit=5)["data"]
    assert out["total"] == len(expected) and len(out["rows"]) == 5 and out["header"][0] == "id"
    assert {str(r[0]) for r in out["rows"]} <= expected
    full = client.tracking_output_data(job_id, "host", 10000, "intersect_0", limit=100000)["data"]
    assert {str(r[0]) for r in full["rows"]} == expected
    metrics = client.tracking_metrics(job_id, "guest", 9999, "intersect_0")["data"]
    assert isinstance(metrics, dict) and metrics
    model = client.tracking_output_model(job_id, "guest", 9999, "data_transform_0")["data"]
    assert model.get("module") == "DataTransform"
    with pytest.raises(ServerError) as err:
        client.tracking_metrics(job_id, "guest", 9999, "../../x")
    assert err.value.retcode == 100
    with pytest.raises(ServerError) as err:
        client.tracking_metrics(job_id, "arbiter", 10000, "intersect_0")
    assert err.value.retcode == 101
    pdsl = client.job_dsl(job_id, ["data_transform_0"])["data"]
    assert "data_transform_0" in pdsl["components"] and "intersect_0" not in pdsl["components"]
    with pytest.raises(ServerError) as err:
        client.job_rerun(job_id)  # succeeded: nothing to continue
    assert err.value.retcode == 102


def test_model_deploy_export_import(app_client: Ctx, tmp_path) -> None:
    import zipfile

    _, client, settings = app_client
    job_id = client.job_submit(
        load_example("jobs", "intersect", "conf.json"), load_example("jobs", "intersect", "dsl.json")
    )["jobId"]
    assert client.wait(job_id, timeout=60, poll=0.2)["status"] == "success"
    model_id = client.job_config(job_id)["data"]["model_info"]["model_id"]
    with pytest.raises(ServerError) as err:
        client.model_deploy("wrong#model", job_id)
    assert err.value.retcode == 100
    dep = client.model_deploy(model_id, job_id, ["data_transform_0"])["data"]
    assert set(dep["predict_dsl"]["components"]) == {"reader_0", "data_transform_0"}
    assert dep["predict_conf"]["job_parameters"]["common"]["model_version"] == job_id
    out = tmp_path / "model.zip"
    client.model_export(model_id, job_id, out)
    names = set(zipfile.ZipFile(out).namelist())
    assert {"conf.json", "dsl.json", "outputs/data_transform_0/guest-9999/model.json"} <= names
    assert not [n for n in names if n.endswith(".parquet")]
    with pytest.raises(ServerError) as err:
        client.model_import(out)  # this server already has that job
    assert err.value.retcode == 102
    # another server imports it: every party's model is there, as exported
    from fedloom.server.app import create_app

    other = ServerSettings.load(tmp_path / "other")
    with TestClient(create_app(other)) as http2:
        c2 = FlowClient("http://testserver", other.token_path.read_text(), http=http2)
        assert c2.model_import(out)["data"]["model_version"] == job_id
        got = c2.tracking_output_model(job_id, "host", 10000, "data_transform_0")["data"]
        assert got == client.tracking_output_model(job_id, "host", 10000, "data_transform_0")["data"]
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("model_info.json", '{"model_version": "evil"}')
        zf.writestr("conf.json", "{}")
        zf.writestr("dsl.json", "{}")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(ServerError) as err:
        FlowClient("http://testserver", settings.token_path.read_text(), http=app_client[0]).model_import(bad)
    assert err.value.retcode == 100 and not (settings.jobs_dir.parent / "escape.txt").exists()
