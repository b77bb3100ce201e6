"""``FlowClient.from_config``: no config means "act locally"; a config names the URL and token file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedloom.core.errors import ConfigError, ServerError
from fedloom.server.client import FlowClient


def test_no_config_means_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDLOOM_CLIENT_CONFIG", str(tmp_path / "absent.json"))
    assert FlowClient.from_config() is None


def test_config_names_url_and_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    cfg = tmp_path / "client.json"
    cfg.write_text(json.dumps({"url": "http://127.0.0.1:9380/", "token_file": str(tmp_path / "token")}))
    monkeypatch.setenv("FEDLOOM_CLIENT_CONFIG", str(cfg))
    client = FlowClient.from_config()
    assert client is not None and (client.url, client.token) == ("http://127.0.0.1:9380", "s3cret")


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"url": "http://x"}', '{"url": "http://x", "token_file": "/nope"}']
)
def test_bad_config_is_a_config_error(tmp_path: Path, body: str) -> None:
    cfg = tmp_path / "client.json"
    cfg.write_text(body)
    with pytest.raises(ConfigError):
        FlowClient.from_config(cfg)


def test_unreachable_server_is_a_server_error() -> None:
    with pytest.raises(ServerError) as err:
        FlowClient("http://127.0.0.1:1", "t", timeout=2).job_list()
    assert err.value.retcode == 503
