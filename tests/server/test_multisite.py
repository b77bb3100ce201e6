"""Multi-site mode: three real servers on loopback, one per organisation (issue 13).

guest 9999 on site A, host 10000 on site B, arbiter 10001 on site C; each has its own home, job
store and table store: the guest table is uploaded on A only, the host table on B only. A HeteroLR
job submitted to A runs each party on its own site, over mutual TLS with the pinned site
certificates; A's query shows every party's tasks. A job naming a table B lacks is refused by B
and A reports why; peer requests with an unpinned certificate, or from a site that may not make
them, are refused.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from server_helpers import EXAMPLES, load_example

from fedloom.core.errors import ConfigError, ServerError
from fedloom.data import TableStore
from fedloom.server.client import FlowClient
from fedloom.server.multisite import PeerClient, RouteTable, ensure_site_identity

pytestmark = pytest.mark.slow

SITES = {"A": "9999", "B": "10000", "C": "10001"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(home: Path, pid: str, routes: Path) -> tuple[subprocess.Popen[bytes], FlowClient]:
    exe = Path(sys.executable).with_name("fedloom")
    out = (home / "server.out").open("ab")
    cmd = [str(exe), "server", "start", "--home", str(home), "--port", "0"]
    proc = subprocess.Popen([*cmd, "--party-ids", pid, "--routes", str(routes)], stdout=out, stderr=out)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        endpoint = home / "endpoint.json"
        if endpoint.exists() and json.loads(endpoint.read_text())["pid"] == proc.pid:
            client = FlowClient(json.loads(endpoint.read_text())["url"], (home / "token").read_text().strip())
            try:
                client.job_list()
                return proc, client
            except Exception:
                pass
        assert proc.poll() is None, (home / "server.out").read_text()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start: " + (home / "server.out").read_text())


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("federation")
    homes = {s: root / s for s in SITES}
    routes: dict[str, dict[str, str]] = {}
    for site, pid in SITES.items():
        ident = ensure_site_identity(homes[site], [pid])
        (root / f"{site}.crt").write_bytes(ident.cert_pem)
        cert = ident.cert_pem.decode() if site == "C" else f"{site}.crt"  # inline PEM or a file
        routes[pid] = {"url": f"https://127.0.0.1:{free_port()}", "grpc_host": "127.0.0.1", "cert": cert}
    table = root / "routes.json"
    table.write_text(json.dumps(routes))
    # each organisation's data only on its own server
    TableStore(homes["A"] / "data").upload(
        load_example("upload", "breast_hetero_guest.json"), conf_dir=EXAMPLES / "upload"
    )
    TableStore(homes["B"] / "data").upload(
        load_example("upload", "breast_hetero_host.json"), conf_dir=EXAMPLES / "upload"
    )
    procs, clients = {}, {}
    try:
        for site, pid in SITES.items():
            procs[site], clients[site] = start(homes[site], pid, table)
        yield {"homes": homes, "clients": clients, "routes": table, "root": root}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def lr_job(host_table: str = "breast_hetero_host") -> tuple[dict[str, object], dict[str, object]]:
    conf = load_example("jobs", "hetero_lr", "conf.json")
    dsl = load_example("jobs", "hetero_lr", "dsl.json")
    # the arbiter's site is asked first: it accepts, then must cancel when the host's site refuses
    conf["role"] = {"guest": [9999], "arbiter": [10001], "host": [10000]}
    params = conf["component_parameters"]
    params["common"]["hetero_lr_0"]["max_iter"] = 3
    params["role"]["host"]["0"]["reader_0"]["table"]["name"] = host_table
    return conf, dsl


def test_job_runs_each_party_on_its_own_site(federation: dict[str, object]) -> None:
    homes: dict[str, Path] = federation["homes"]  # type: ignore[assignment]
    clients: dict[str, FlowClient] = federation["clients"]  # type: ignore[assignment]
    job_id = clients["A"].job_submit(*lr_job())["jobId"]
    job = clients["A"].wait(job_id, timeout=180, poll=0.5)
    assert job["status"] == "success", job["error"]

    # the initiator's query shows every party's tasks, all finished
    seen = {(t["role"], t["party_id"]) for t in job["tasks"]}
    assert seen == {("guest", "9999"), ("host", "10000"), ("arbiter", "10001")}
    assert {t["status"] for t in job["tasks"]} == {"success"}
    # each participant has the job too, with only its own parties' tasks
    for site, role in (("B", "host"), ("C", "arbiter")):
        part = clients[site].job_query(job_id)["data"][0]
        assert part["status"] == "success"
        assert {(t["role"], t["party_id"]) for t in part["tasks"]} == {(role, SITES[site])}

    # each party's outputs are on its own server only
    def outputs(site: str) -> set[str]:
        return {p.name for p in (homes[site] / "jobs" / job_id / "outputs").glob("*/*")}

    assert outputs("A") == {"guest-9999"}
    assert outputs("B") == {"host-10000"}
    assert outputs("C") == {"arbiter-10001"}

    # the intersection is the centralised one: ids present in both organisations' files
    data = EXAMPLES / "data"
    guest_ids = set(pd.read_csv(data / "breast_hetero_guest.csv", dtype={"id": str})["id"])
    host_ids = set(pd.read_csv(data / "breast_hetero_host.csv", dtype={"id": str})["id"])
    folder = homes["A"] / "jobs" / job_id / "outputs" / "intersection_0" / "guest-9999"
    out = pd.read_parquet(next(folder.glob("*.parquet")))
    assert set(out[out.columns[0]].astype(str)) == guest_ids & host_ids
    metrics = clients["A"].tracking_metrics(job_id, "guest", 9999, "evaluation_0")["data"]
    assert "auc" in json.dumps(metrics).lower()


def test_participant_refuses_a_table_it_lacks(federation: dict[str, object]) -> None:
    clients: dict[str, FlowClient] = federation["clients"]  # type: ignore[assignment]
    with pytest.raises(ServerError) as err:
        clients["A"].job_submit(*lr_job("no_such_table"))
    msg = err.value.retmsg
    assert (
        "host:10000 refused" in msg and "table experiment.no_such_table does not exist on its server" in msg
    )
    # nothing else of B's store (its path, its other tables) is told to another organisation
    assert "breast_hetero_host" not in msg and str(federation["root"]) not in msg
    job_id = msg.split(":")[0].removeprefix("job ").strip()
    job = clients["A"].job_query(job_id)["data"][0]
    assert job["status"] == "failed"
    assert job["error"]["party"] == "host:10000" and "no_such_table" in job["error"]["message"]
    # the refusing site recorded nothing; the accepting arbiter site canceled its part
    with pytest.raises(ServerError):
        clients["B"].job_query(job_id)
    assert clients["C"].job_query(job_id)["data"][0]["status"] == "canceled"


def test_peer_requests_need_a_pinned_certificate_and_the_right_site(
    federation: dict[str, object], tmp_path: Path
) -> None:
    routes = RouteTable.load(federation["routes"])  # type: ignore[arg-type]
    conf, dsl = lr_job()
    body = {"job_id": "20260101000000-abcdef", "conf": conf, "dsl": dsl}
    # an unpinned certificate naming the guest's roles: the TLS handshake fails
    impostor = ensure_site_identity(tmp_path / "impostor", ["9999"])
    with pytest.raises(ServerError) as err:
        PeerClient(impostor, routes, timeout=5).call("10000", "propose", body)
    assert err.value.retcode == 503
    # a pinned site that is not the job's initiator may not propose it
    homes: dict[str, Path] = federation["homes"]  # type: ignore[assignment]
    arbiter_site = ensure_site_identity(homes["C"], ["10001"])
    with pytest.raises(ServerError) as err:
        PeerClient(arbiter_site, routes, timeout=5).call("10000", "propose", body)
    assert err.value.retcode == 403 and "initiator" in err.value.retmsg


def test_route_table_rejects_a_certificate_naming_another_sites_party(tmp_path: Path) -> None:
    a = ensure_site_identity(tmp_path / "a", ["9999", "10000"])  # claims 10000 too
    table = {"9999": {"url": "https://127.0.0.1:1", "grpc_host": "127.0.0.1", "cert": a.cert_pem.decode()}}
    (tmp_path / "r.json").write_text(json.dumps(table))
    with pytest.raises(ConfigError, match="10000"):
        RouteTable.load(tmp_path / "r.json")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


def test_stop_at_the_initiator_stops_every_site(federation: dict[str, object]) -> None:
    homes: dict[str, Path] = federation["homes"]  # type: ignore[assignment]
    clients: dict[str, FlowClient] = federation["clients"]  # type: ignore[assignment]
    conf, dsl = lr_job()
    conf["component_parameters"]["common"]["hetero_lr_0"].update(max_iter=200, early_stop="weight_diff")  # type: ignore[index]
    job_id = clients["A"].job_submit(conf, dsl)["jobId"]
    status = homes["B"] / "jobs" / job_id / "status" / "host-10000.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the host's process runs on site B
        if status.exists() and json.loads(status.read_text()).get("current") == "hetero_lr_0":
            break
        time.sleep(0.2)
    pid = json.loads(status.read_text())["pid"]
    assert alive(pid)
    clients["A"].job_stop(job_id)
    t0 = time.monotonic()
    while alive(pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not alive(pid), "the host's process outlived the stop"
    for site in ("A", "B", "C"):
        assert clients[site].job_query(job_id)["data"][0]["status"] == "canceled"
