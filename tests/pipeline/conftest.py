"""Fixtures of the Pipeline tests: FATE's example data cut to a few hundred rows, a FATE-style
``config.yaml``, and an environment where jobs run on this machine in temporary folders (no client
config, so no server is used unless a test configures one)."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.fate_jobs import FATE

FATE_DATA = FATE / "data"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
#: Rows of FATE's tables kept (the jobs stay a few seconds long).
ROWS = 300


def fate_script(name: str) -> Callable[..., Any]:
    """``main`` of a FATE-style script in ``scripts/`` (loaded by path, as ``python script.py`` would)."""
    return runpy.run_path(str(SCRIPTS / name))["main"]  # type: ignore[no-any-return]


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jobs and tables under ``tmp_path``; no job server configured; cwd ``tmp_path``."""
    monkeypatch.setenv("FEDLOOM_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("FEDLOOM_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.setenv("FEDLOOM_CLIENT_CONFIG", str(tmp_path / "no-client.json"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fate_config(folder: Path, tables: tuple[str, ...], rows: int = ROWS) -> Path:
    """FATE's example ``config.yaml`` (guest 9999, host and arbiter 10000) with ``data_base``
    holding ``examples/data/<table>.csv``: the first ``rows`` rows of FATE's tables."""
    missing = [t for t in tables if not (FATE_DATA / f"{t}.csv").is_file()]
    if missing:
        pytest.skip(f"FATE's example data is absent ({missing[0]}.csv under {FATE_DATA})")
    data = folder / "examples" / "data"
    data.mkdir(parents=True, exist_ok=True)
    for table in tables:
        pd.read_csv(FATE_DATA / f"{table}.csv").head(rows).to_csv(data / f"{table}.csv", index=False)
    config = folder / "config.yaml"
    config.write_text(
        "parties:\n  guest: [9999]\n  host: [10000]\n  arbiter: [10000]\n"
        f"data_base: {folder}\nwork_mode: 0\nbackend: 0\n",
        encoding="utf-8",
    )
    return config
