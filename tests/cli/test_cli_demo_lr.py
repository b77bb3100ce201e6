"""``fedloom demo``: upload → intersection → hetero LR → evaluation, three processes; it prints the
metrics and where the model, plots and logs are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

FEDLOOM = str(Path(sys.executable).parent / "fedloom")


@pytest.mark.slow
def test_demo_trains_and_evaluates_hetero_lr(tmp_path: Path) -> None:
    res = subprocess.run(
        [FEDLOOM, "demo", "--data-dir", str(tmp_path / "data"), "--job-dir", str(tmp_path / "jobs")],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "160"},
    )

    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    out = res.stdout
    auc = re.search(r"AUC (0\.\d+), KS (0\.\d+), accuracy (0\.\d+)", out)
    assert auc is not None, out
    assert float(auc.group(1)) > 0.98 and float(auc.group(2)) > 0.8
    (job_dir,) = (tmp_path / "jobs").iterdir()
    roc = job_dir / "outputs" / "evaluation_0" / "guest-9999" / "roc.png"
    assert f"ROC plot:      {roc}" in out and roc.is_file()
    for party in ("guest-9999", "host-10000", "arbiter-10000"):
        model = job_dir / "outputs" / "hetero_lr_0" / party / "model.json"
        assert str(model) in out and model.is_file()
    assert f"logs:          {job_dir / 'logs'}" in out
    assert f"--model-job {job_dir.name}" in out
    assert "transport: mutual TLS" in out
    for party in ("guest:9999", "host:10000", "arbiter:10000"):
        assert re.search(
            rf"^  {party} received \d+ messages on \d+ channels .*in clear on \d+: ", out, re.M
        ), party
        assert (job_dir / "privacy" / f"{party.replace(':', '-')}.json").is_file()
