"""Fixtures of the board's browser tests: a real server process with three finished jobs, and a
headless Debian chromium driven by Playwright.

The server is ``fedloom server start --home TMP --port 0`` (it writes ``TMP/endpoint.json`` and
``TMP/token``). Once it is up the bundled breast tables are uploaded and three jobs are submitted
at once, so that they run side by side:

- ``lr``: ``examples/jobs/hetero_lr`` as shipped, which must end in ``success``;
- ``failed``: the same job made to train long, whose host party process is killed with SIGKILL
  once the guest's ``hetero_lr_0`` runs (the process is found by its stdout, which the launcher
  points at ``<job_dir>/logs/host-10000.stderr``); the job must end in ``failed``;
- ``wide``: a 20-component job (reader, data transform, intersection and a chain of 17 feature
  scales) for the first-paint measurement.

The browser is skipped, with the reason, only where chromium (or the Playwright package) is
absent; ``.ci/run`` installs Debian's chromium, and the ``dev`` extra installs Playwright, which
drives that executable (no browser build is ever downloaded).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from board_helpers import CHROMIUM_ARGS, EXAMPLES, FEDLOOM, HOST_PARTY, LR, N_SCALES, Board, new_context


def _json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _chromium() -> str | None:
    found = os.environ.get("FEDLOOM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).is_file() else None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium executable; skips (with the reason) where it is not installed."""
    path = _chromium()
    if path is None:
        pytest.skip("chromium is not installed (CI installs Debian's `chromium`: apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package (dev extra) is not installed")
    return path


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Where the screenshots go: ``$FEDLOOM_BOARD_ARTIFACTS`` or a pytest temporary folder (the
    folder is written to the terminal, past pytest's output capture)."""
    env = os.environ.get("FEDLOOM_BOARD_ARTIFACTS")
    path = Path(env) if env else tmp_path_factory.mktemp("board_screenshots")
    path.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nboard screenshots: {path}")
    return path


def _long_lr_conf() -> dict[str, Any]:
    """hetero LR that trains for a long time (no early stop): the host is killed while it runs."""
    conf = _json(LR / "conf.json")
    conf["component_parameters"]["common"]["hetero_lr_0"].update(
        max_iter=500, early_stop="weight_diff", tol=0.0
    )
    return conf


def _wide_job() -> tuple[dict[str, Any], dict[str, Any]]:
    """A 20-component job on the breast tables: reader → data transform → intersection → a chain of
    17 min-max feature scales (cheap local transforms: the job is wide on the page, short to run)."""
    conf = _json(LR / "conf.json")
    common = conf["component_parameters"]["common"]
    common.pop("hetero_lr_0")
    common.pop("evaluation_0")
    common["intersection_0"] = {"intersect_method": "ecdh"}
    components: dict[str, Any] = {}
    lr_dsl = _json(LR / "dsl.json")["components"]
    for name in ("reader_0", "data_transform_0", "intersection_0"):
        components[name] = copy.deepcopy(lr_dsl[name])
    prev = "intersection_0"
    for i in range(N_SCALES):
        name = f"feature_scale_{i}"
        components[name] = {
            "module": "FeatureScale",
            "input": {"data": {"data": [f"{prev}.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        }
        common[name] = {"method": "min_max_scale"}
        prev = name
    assert len(components) == 20
    return conf, {"components": components}


def _party_pids(job_dir: Path, party: str) -> list[int]:
    """The live processes whose stdout is ``<job_dir>/logs/<party>.stderr`` (the party process)."""
    target = str(job_dir / "logs" / f"{party}.stderr")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            out = os.readlink(proc / "fd" / "1")
            state = (proc / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if out == target and state != "Z":
            pids.append(int(proc.name))
    return pids


def _kill_host_mid_job(client: Any, job_id: str, job_dir: Path, timeout: float = 60) -> None:
    """Once the guest's hetero_lr_0 runs, SIGKILL the host party process of ``job_id``."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.job_query(job_id)["data"][0]
        tasks = {(t["component"], t["role"]): t["status"] for t in job["tasks"]}
        if tasks.get(("hetero_lr_0", "guest")) == "running":
            pids = _party_pids(job_dir, HOST_PARTY)
            if pids:
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                return
        assert job["status"] in ("waiting", "running"), f"the job to kill ended first: {job}"
        assert time.monotonic() < deadline, f"hetero_lr_0 did not start in {timeout} s: {tasks}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def board(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """A server process holding a successful hetero LR job, a failed one and a 20-component one."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from fedloom.server.client import FlowClient

    home = tmp_path_factory.mktemp("board_home")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FEDLOOM_SERVER_HOME": str(home)}
    log = (home.parent / "server.out").open("w")
    proc = subprocess.Popen(
        [FEDLOOM, "server", "start", "--home", str(home), "--port", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        endpoint = home / "endpoint.json"
        deadline = time.monotonic() + 30
        while not endpoint.is_file():
            assert proc.poll() is None, (home.parent / "server.out").read_text()
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.1)
        url = _json(endpoint)["url"]
        token = (home / "token").read_text().strip()
        board = Board(url=url, token=token, home=home)
        client = FlowClient(url, token)
        t0 = time.monotonic()
        for role in ("guest", "host"):
            conf = _json(EXAMPLES / "upload" / f"breast_hetero_{role}.json")
            conf["file"] = str((EXAMPLES / "upload" / conf["file"]).resolve())
            client.data_upload(conf, drop=True)
        wide_conf, wide_dsl = _wide_job()
        lr_dsl = _json(LR / "dsl.json")
        submitted = {
            "failed": client.job_submit(_long_lr_conf(), lr_dsl)["data"],
            "lr": client.job_submit(_json(LR / "conf.json"), lr_dsl)["data"],
            "wide": client.job_submit(wide_conf, wide_dsl)["data"],
        }
        board.jobs = {k: v["job_id"] for k, v in submitted.items()}
        _kill_host_mid_job(client, board.jobs["failed"], Path(submitted["failed"]["job_dir"]))
        for key, job_id in board.jobs.items():
            board.states[key] = client.wait(job_id, timeout=120, poll=0.5)
        board.timings["jobs_s"] = time.monotonic() - t0
        expected = {"lr": "success", "wide": "success", "failed": "failed"}
        got = {k: s["status"] for k, s in board.states.items()}
        assert got == expected, {k: (s["status"], s.get("error")) for k, s in board.states.items()}
        client.close()
        yield board
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Headless chromium; Playwright gives every launch a fresh temporary profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def logged_in(browser: Any, board: Board) -> Iterator[Any]:
    """A browser context after following the login link (the HttpOnly session cookie is set)."""
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{board.url}/board/login?token={board.token}")
    page.wait_for_url("**/board/jobs")
    page.close()
    try:
        yield context
    finally:
        context.close()
