"""`fedloom nn train --federated --resume` after the whole run (every party process) was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.cli.nn_cli_helpers import assert_same_run, require_mnist, run_to_end, train_process, write_recipe

torch = pytest.importorskip("torch")

PARTIES = ["guest:9999", "host:10000", "arbiter:10000"]
ROUNDS = 4


def _recipe(tmp: Path, out: str) -> Path:
    # dropout and a schedule: the random state and the schedule's state must be restored too
    model = {"name": "mlp", "params": {"hidden": [32], "dropout": 0.2}}
    train = {"epochs": ROUNDS, "batch_size": 32, "lr": 0.05, "optimizer": "adam", "schedule": "cosine"}
    train["seed"] = 3
    return write_recipe(tmp, out, model, train, limit=1200)


def _train(recipe: Path, *extra: str) -> subprocess.Popen[bytes]:
    return train_process(recipe, "--federated", "--clients", "2", *extra, own_group=True)


@pytest.mark.slow
def test_federated_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path) -> None:
    # Prepare
    from fedloom.ml.homo.round_checkpoints import common_round

    require_mnist()
    whole, cut = _recipe(tmp_path, "whole"), _recipe(tmp_path, "cut")
    folder = tmp_path / "cut" / "checkpoints"
    # Execute: kill every process of the run once every party has checkpointed a round
    victim = _train(cut)
    deadline = time.monotonic() + 180
    while common_round(folder, PARTIES) is None and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_after = common_round(folder, PARTIES)
    assert killed_after is not None and killed_after < ROUNDS - 1  # it really stopped early
    assert not (tmp_path / "cut" / "summary.json").exists()
    run_to_end(_train(cut, "--resume"), _train(whole), timeout=600)
    # Assert: the same global weights, bit for bit, and the same rounds
    assert_same_run(tmp_path / "whole", tmp_path / "cut", ROUNDS)
    # and the resumed run really continued (it did not start over: runs are reproducible)
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["resumed_after"] == killed_after and summary["rounds_run"] == ROUNDS
    assert json.loads((tmp_path / "whole" / "summary.json").read_text())["resumed_after"] is None


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    from fedloom.core.errors import ConfigError
    from fedloom.runner.nn_federated import _checkpoints

    folder = tmp_path / "checkpoints"
    settings = {"train": {"lr": 0.05}, "fed": {"clients": 2}}
    assert _checkpoints(folder, settings, PARTIES, resume=False) is None  # a fresh run records its settings
    with pytest.raises(ConfigError, match=r"differ from the checkpointed run's \(fed\)") as err:
        _checkpoints(folder, {**settings, "fed": {"clients": 3}}, PARTIES, resume=True)
    assert err.value.field == "--resume"
    assert _checkpoints(folder, settings, PARTIES, resume=True) is None  # nothing checkpointed yet
