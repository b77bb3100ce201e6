"""Fixtures of the server tests: a server home holding the bundled breast tables, an app on it,
and a FlowClient talking to the app in-process (FastAPI's TestClient is an httpx client)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import EXAMPLES, load_example

from fedloom.data import TableStore
from fedloom.server.app import create_app
from fedloom.server.client import FlowClient
from fedloom.server.settings import ServerSettings


@pytest.fixture(scope="session")
def breast_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table store with experiment.breast_hetero_guest / _host (uploaded once, copied per home)."""
    path = tmp_path_factory.mktemp("breast") / "data"
    store = TableStore(path)
    for side in ("guest", "host"):
        store.upload(load_example("upload", f"breast_hetero_{side}.json"), conf_dir=EXAMPLES / "upload")
    return path


@pytest.fixture
def server_home(tmp_path: Path, breast_data: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(breast_data, home / "data")
    return home


@pytest.fixture
def app_client(server_home: Path) -> Iterator[tuple[TestClient, FlowClient, ServerSettings]]:
    settings = ServerSettings.load(server_home)
    app = create_app(settings)
    with TestClient(app) as http:
        token = settings.token_path.read_text().strip()
        yield http, FlowClient("http://testserver", token, http=http), settings
        for job in app.state.store.active_jobs(settings.server_id):  # never leave a job running
            app.state.scheduler.stop(job.job_id)
        app.state.store.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on a PostgreSQL server started for this test session (see pg.py)."""
    from pg import postgres_server

    with postgres_server() as url:
        yield url
