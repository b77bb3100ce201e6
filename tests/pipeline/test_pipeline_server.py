"""The FATE hetero Poisson pipeline script against a job server started by the test
(``fedloom server start --home TMP --port 0``; client config with its URL and token file), with
the same checks as in-process: the jobs are submitted, polled, deployed and read back through
:class:`fedloom.server.client.FlowClient`. Skipped when the server extra is not installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pipeline.conftest import fate_config, fate_script
from tests.pipeline.test_pipeline_fate_poisson import TABLES, check_poisson_run

from fedloom.pipeline.backend.executor import LOCAL

pytestmark = pytest.mark.slow
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
FEDLOOM = str(Path(sys.executable).parent / "fedloom")


@pytest.fixture
def server(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A server in ``local_env/server`` on a free port; the client config points at it."""
    home = local_env / "server"
    log = (local_env / "server.log").open("w")
    proc = subprocess.Popen([FEDLOOM, "server", "start", "--home", str(home), "--port", "0"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        endpoint = home / "endpoint.json"
        deadline = time.monotonic() + 60
        while not endpoint.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + (local_env / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        url = json.loads(endpoint.read_text())["url"]
        client = local_env / "client.json"
        client.write_text(json.dumps({"url": url, "token_file": str(home / "token")}))
        monkeypatch.setenv("FEDLOOM_CLIENT_CONFIG", str(client))
        yield home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_fate_hetero_poisson_script_on_a_server(
    local_env: Path, server: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fate_config(local_env, TABLES)
    fate_script("pipeline-upload.py")(str(config))
    # the tables went to the server's store, not to this machine's
    assert not (local_env / "store").exists()
    pipeline, predict_pipeline = fate_script("pipeline-hetero-poisson.py")(str(config))
    check_poisson_run(local_env, pipeline, predict_pipeline, capsys.readouterr())
    job = pipeline.get_train_job()
    assert job.backend != LOCAL and job.url and predict_pipeline.get_predict_job().backend == job.backend
    assert not (local_env / "jobs").exists()  # nothing ran in-process
