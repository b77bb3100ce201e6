"""FATE's sample-weight and random-batch jobs (``hetero_lr_sample_weights_*``,
``hetero_lr_batch_random_strategy_*``) run unchanged with ``fedloom run``.

The tables are uploaded with FATE's upload conf, only ``file`` adapted (as in
``test_job_fate_intersect``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedloom.data import TableStore

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)
LR = FATE / "dsl_v2" / "hetero_logistic_regression"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")
CONF = LR / "hetero_lr_sample_weights_conf.json"

pytestmark = pytest.mark.skipif(not CONF.is_file(), reason="FATE examples not present")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    guest = json.loads((FATE / "dsl_v2" / "upload" / "upload_conf.json").read_text())
    host = {**guest, "table_name": "breast_hetero_host"}
    for conf, csv in ((guest, "breast_hetero_guest.csv"), (host, "breast_hetero_host.csv")):
        conf["file"] = str(FATE / "data" / csv)  # the one change: FATE's install path -> this copy
        store.upload(conf)
    return path


def test_fate_sample_weight_job_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    # Execute
    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(CONF), "-d", str(LR / "hetero_lr_sample_weights_dsl.json"),
         "--data-dir", str(data_dir), "--job-dir", str(tmp_path), "--timeout", "120", "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    # Assert
    assert res.returncode == 0, res.stdout + res.stderr
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
    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(conf), "-d", str(dsl),
         "--data-dir", str(data_dir), "--job-dir", str(tmp_path), "--timeout", "120", "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    # Assert
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    arbiter = out["parties"]["arbiter:10000"]["components"]["hetero_lr_0"]["metrics"]
    assert len(arbiter["loss_history"]) >= 2  # one random batch per epoch, several epochs
    assert out["parties"]["guest:9999"]["components"]["evaluation_0"]["metrics"]["auc"] > 0.9
