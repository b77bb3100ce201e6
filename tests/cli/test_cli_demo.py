"""``fedloom demo``: uploads the bundled data and intersects it across two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fedloom.cli.demo import find_examples
from fedloom.core import ConfigError

FEDLOOM = str(Path(sys.executable).parent / "fedloom")


def test_demo_runs(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            FEDLOOM,
            "demo",
            "--only",
            "intersect",
            "--data-dir",
            str(tmp_path / "data"),
            "--job-dir",
            str(tmp_path / "jobs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "150"},
    )

    assert res.returncode == 0, res.stdout + res.stderr
    assert "experiment.breast_hetero_guest: 569 rows, 12 columns" in res.stdout
    assert "guest:9999: 569 ids in, 569 in the intersection" in res.stdout
    assert "same id order: True" in res.stdout
    (job_dir,) = (tmp_path / "jobs").iterdir()
    host = pd.read_parquet(job_dir / "outputs" / "intersect_0" / "host-10000" / "data.parquet")
    assert host.shape == (569, 21)
    assert (job_dir / "logs" / "host-10000.log").exists()
    assert "transport: mutual TLS" in res.stdout
    for party in ("guest:9999", "host:10000"):  # one line per party from its privacy ledger
        line = next(x for x in res.stdout.splitlines() if x.startswith(f"  {party} received "))
        assert "in clear on " in line
    ledger = json.loads((job_dir / "privacy" / "host-10000.json").read_text())
    assert {r["channel"] for r in ledger["received"]} and all(
        r["from"] == "guest:9999" for r in ledger["received"]
    )


def test_missing_examples_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="example files are not found") as err:
        find_examples(tmp_path)
    assert err.value.field == "examples"
