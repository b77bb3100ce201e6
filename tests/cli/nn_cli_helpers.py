"""What the tests of ``fedloom nn train --resume`` share: a recipe file, a training process, MNIST.

Imported as ``from tests.cli.nn_cli_helpers import ...`` (the suite runs from the repository root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def write_recipe(tmp: Path, out: str, model: dict[str, Any], train: dict[str, Any], limit: int) -> Path:
    """An MNIST recipe (``limit`` training rows, 200 test rows) writing to ``tmp/out``; its path."""
    data = {
        "name": out,
        "dataset": {"name": "mnist", "limit": limit, "test_limit": 200},
        "model": model,
        "train": train,
        "output": str(tmp / out),
    }
    path = tmp / f"{out}.json"
    path.write_text(json.dumps(data))
    return path


def train_process(recipe: Path, *extra: str, own_group: bool = False) -> subprocess.Popen[bytes]:
    """``fedloom nn train RECIPE --no-progress EXTRA...`` as a child process (one thread);
    ``own_group``: in its own process group (a kill of the group takes its party processes too)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "fedloom.cli.nn", "train", str(recipe), "--no-progress", *extra]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=own_group
    )


def require_mnist() -> None:
    """Skip the test when MNIST is absent here and cannot be obtained (a corrupt file fails)."""
    from fedloom.models.datasets import DatasetUnavailableError, ensure

    try:
        ensure("mnist")
    except DatasetUnavailableError as err:
        pytest.skip(str(err))


def run_to_end(*procs: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for every training process; each must succeed (its stderr is the failure message)."""
    for proc in procs:
        assert proc.wait(timeout=timeout) == 0, proc.stderr.read().decode() if proc.stderr else ""


def assert_same_run(a: Path, b: Path, n_rows: int) -> None:
    """Two run folders hold the same weights, bit for bit, and ``n_rows`` equal training losses."""
    import torch

    wa = torch.load(a / "model.pt", weights_only=True)
    wb = torch.load(b / "model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ha = json.loads((a / "metrics.json").read_text())["history"]
    hb = json.loads((b / "metrics.json").read_text())["history"]
    assert len(ha) == len(hb) == n_rows
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]
