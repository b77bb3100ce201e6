"""`fedloom nn train --resume` after the training process was killed (SIGKILL) mid-run."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.cli.nn_cli_helpers import assert_same_run, require_mnist, run_to_end, train_process, write_recipe

torch = pytest.importorskip("torch")


def _recipe(tmp: Path, out: str) -> Path:
    model = {"name": "mlp", "params": {"hidden": [32], "dropout": 0.2}}
    train = {"epochs": 6, "batch_size": 32, "lr": 0.05, "schedule": "cosine", "val_fraction": 0.1, "seed": 3}
    return write_recipe(tmp, out, model, train, limit=1500)


def _train(recipe: Path, *extra: str) -> subprocess.Popen[bytes]:
    return train_process(recipe, *extra)


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    # Prepare
    require_mnist()
    whole, cut = _recipe(tmp_path, "whole"), _recipe(tmp_path, "cut")
    # Execute: kill the run as soon as its first checkpoint exists, then resume it
    victim = _train(cut)
    ckpt = tmp_path / "cut" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = torch.load(ckpt, weights_only=True)["epoch"]
    assert victim.returncode == -signal.SIGKILL and killed_at < 6  # it really stopped early
    run_to_end(_train(cut, "--resume"), _train(whole), timeout=300)
    # Assert: same weights, bit for bit, and the same history
    assert_same_run(tmp_path / "whole", tmp_path / "cut", 6)
