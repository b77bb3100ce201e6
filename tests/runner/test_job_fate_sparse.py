"""FATE's sparse hetero LR job (``hetero_lr_sparse_{conf,dsl}.json``) runs unchanged with ``fedloom run``,
and trains the same model as the same job with ``output_format: dense``.

The data stay sparse from DataTransform through the intersection into the GLM (the logs say
``Frame(..., sparse``). The encrypted products are the same fixed-point integers either way (the
sparse dot skips the zero terms); only ``x @ w`` may differ by float summation order (~1e-16),
which can move a fixed-point rounding, so the models are compared at 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.fate_jobs import BREAST_HETERO, DSL_V2, data_folder, fedloom_run

LR = DSL_V2 / "hetero_logistic_regression"
CONF, DSL = LR / "hetero_lr_sparse_conf.json", LR / "hetero_lr_sparse_dsl.json"

pytestmark = pytest.mark.skipif(not CONF.is_file(), reason="FATE examples not present")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, BREAST_HETERO)


def _run(conf: Path, data_dir: Path, job_dir: Path) -> dict:
    return fedloom_run(conf, DSL, data_dir, job_dir, wait=400)


def _weights(out: dict) -> np.ndarray:
    job = Path(out["job_dir"]) / "outputs" / "hetero_lr_0"
    parts = []
    for party in ("guest-9999", "host-10000"):
        model = json.loads((job / party / "model.json").read_text())["model"]
        parts.append(np.asarray(model["coef"], dtype=np.float64).ravel())
        parts.append(np.asarray(model.get("intercept") or [], dtype=np.float64).ravel())
    return np.concatenate(parts)


def test_fate_sparse_lr_job_runs_unchanged_and_equals_dense(data_dir: Path, tmp_path: Path) -> None:
    # Execute: FATE's conf as it is, then the same conf with output_format dense
    sparse_out = _run(CONF, data_dir, tmp_path / "sparse")
    conf = json.loads(CONF.read_text())
    conf["component_parameters"]["common"]["data_transform_0"]["output_format"] = "dense"
    dense_conf = tmp_path / "dense_conf.json"
    dense_conf.write_text(json.dumps(conf))
    dense_out = _run(dense_conf, data_dir, tmp_path / "dense")
    # Assert: the data were sparse through to the GLM, the job evaluated, the models agree
    logs = (Path(sparse_out["job_dir"]) / "logs" / "host-10000.log").read_text()
    assert "features=20, sparse" in logs
    guest = sparse_out["parties"]["guest:9999"]["components"]
    assert guest["intersection_0"]["metrics"]["intersect_count"] == 569
    assert guest["evaluation_0"]["state"] == "done"
    np.testing.assert_allclose(_weights(sparse_out), _weights(dense_out), rtol=0, atol=1e-9)
    loss_s = sparse_out["parties"]["arbiter:10000"]["components"]["hetero_lr_0"]["metrics"]["loss_history"]
    loss_d = dense_out["parties"]["arbiter:10000"]["components"]["hetero_lr_0"]["metrics"]["loss_history"]
    np.testing.assert_allclose(loss_s, loss_d, rtol=0, atol=1e-9)
