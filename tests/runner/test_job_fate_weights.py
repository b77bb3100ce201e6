"""FATE's sample-weight and random-batch jobs (``hetero_lr_sample_weights_*``,
``hetero_lr_batch_random_strategy_*``) run unchanged with ``fedloom run``.

The tables are uploaded with FATE's upload conf, only ``file`` adapted (as in
``test_job_fate_intersect``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fate_jobs import BREAST_HETERO, DSL_V2, data_folder, failure, run_cli

LR = DSL_V2 / "hetero_logistic_regression"
CONF = LR / "hetero_lr_sample_weights_conf.json"

pytestmark = pytest.mark.skipif(not CONF.is_file(), reason="FATE examples not present")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, BREAST_HETERO)


def test_fate_sample_weight_job_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    # Execute
    dsl = LR / "hetero_lr_sample_weights_dsl.json"
    res = run_cli(CONF, dsl, data_dir, tmp_path, env={"OMP_NUM_THREADS": "1"})
    # Assert
    assert res.returncode == 0, failure(res)
    out = json.loads(res.stdout)
    guest = out["parties"]["guest:9999"]["components"]
    host = out["parties"]["host:10000"]["components"]
    weights = guest["sample_weight_0"]["metrics"]
    assert weights["mode"] == "class weight"
    assert weights["class_weight"] == {"0": 1.0, "1": 2.0}
    assert weights["weight_sum"] == 357 * 2.0 + 212 * 1.0  # breast: 357 positives, 212 negatives
    assert host["sample_weight_0"]["state"] == "skipped"  # need_run: false for the host
    assert guest["hetero_lr_0"]["state"] == "done"
    assert guest["evaluation_0"]["metrics"]["auc"] > 0.8


def test_fate_random_batch_job_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    # Prepare
    conf = LR / "hetero_lr_batch_random_strategy_conf.json"
    dsl = LR / "hetero_lr_batch_random_strategy_dsl.json"
    # Execute
    res = run_cli(conf, dsl, data_dir, tmp_path, env={"OMP_NUM_THREADS": "1"})
    # Assert
    assert res.returncode == 0, failure(res)
    out = json.loads(res.stdout)
    arbiter = out["parties"]["arbiter:10000"]["components"]["hetero_lr_0"]["metrics"]
    assert len(arbiter["loss_history"]) >= 2  # one random batch per epoch, several epochs
    assert out["parties"]["guest:9999"]["components"]["evaluation_0"]["metrics"]["auc"] > 0.9
