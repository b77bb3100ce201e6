"""The server's ``compute`` setting reaches the party processes it launches (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedloom.core.errors import ConfigError
from fedloom.server.scheduler import Scheduler
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JobStore


def _write(home: Path, **values: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.json").write_text(json.dumps({"server_id": "s1", **values}))


def test_compute_is_read_from_server_json_and_overridden_by_the_command_line(tmp_path: Path) -> None:
    _write(tmp_path, compute={"backend": "local", "workers": 3})
    assert ServerSettings.load(tmp_path).compute == {"backend": "local", "workers": 3}
    ray = {"backend": "ray", "address": "10.0.0.5:6379"}
    assert ServerSettings.load(tmp_path, compute=ray).compute == ray
    _write(tmp_path / "plain")
    assert ServerSettings.load(tmp_path / "plain").compute is None


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"backend": "spark"}, "server.json compute.backend"),
        ({"backend": "local", "address": "x:1"}, "server.json compute"),
        ({"backend": "ray", "adress": "x:1"}, "server.json compute"),
        ("ray", "server.json compute"),
    ],
)
def test_a_bad_compute_setting_is_refused_naming_the_field(tmp_path: Path, bad: object, field: str) -> None:
    _write(tmp_path, compute=bad)
    with pytest.raises(ConfigError) as err:
        ServerSettings.load(tmp_path)
    assert err.value.field == field


def test_party_processes_get_the_servers_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a launched party process builds from the environment the scheduler gives it."""
    monkeypatch.delenv("FEDLOOM_COMPUTE", raising=False)
    settings = ServerSettings.load(tmp_path, compute={"backend": "local", "workers": 3})
    scheduler = Scheduler(settings, JobStore(settings.database_url))
    env = scheduler.child_env()
    probe = "from fedloom.compute.executor import default_executor; print(repr(default_executor()))"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "LocalExecutor(workers=3)", out.stderr
    without = Scheduler(ServerSettings.load(tmp_path / "other"), JobStore(settings.database_url))
    assert "FEDLOOM_COMPUTE" not in without.child_env()  # no setting: the pool of the party's machine
