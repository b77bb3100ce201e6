"""FATE's cross-validation and warm-start jobs run unchanged with ``fedloom run`` (issue 17).

``hetero_logistic_regression/hetero_lr_cv_*``, ``hetero_lr_warm_start_*`` and
``homo_logistic_regression/homo_lr_cv_*``, after uploading the breast tables with FATE's upload
conf (only ``file`` and ``table_name`` adapted, as in ``test_job_fate_intersect.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.fate_jobs import DSL_V2, data_folder, fedloom_run

HETERO, HOMO = DSL_V2 / "hetero_logistic_regression", DSL_V2 / "homo_logistic_regression"
TABLES = ("breast_hetero_guest", "breast_hetero_host", "breast_homo_guest", "breast_homo_host")
PARTIES = ("guest-9999", "host-10000", "arbiter-10000")

pytestmark = pytest.mark.skipif(
    not (HETERO / "hetero_lr_cv_conf.json").is_file(), reason="FATE examples not present"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, TABLES)


def run(folder: Path, name: str, data_dir: Path, job_dir: Path) -> dict[str, Any]:
    """``fedloom run --json`` on FATE's ``<name>_conf.json`` / ``<name>_dsl.json`` as they are."""
    return fedloom_run(folder / f"{name}_conf.json", folder / f"{name}_dsl.json", data_dir, job_dir)


def outputs(out: dict[str, Any], component: str, party: str) -> Path:
    return Path(out["job_dir"]) / "outputs" / component / party


def metrics(out: dict[str, Any], component: str, party: str) -> dict[str, Any]:
    found: dict[str, Any] = out["parties"][party]["components"][component]["metrics"]
    return found


def test_fate_hetero_lr_cv_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    # Execute: 3 folds, no shuffle, Paillier 1024, rmsprop
    out = run(HETERO, "hetero_lr_cv", data_dir, tmp_path)
    # Assert: per-fold scores and their summary on the guest; every party ran 3 folds
    guest = metrics(out, "hetero_lr_0", "guest:9999")
    assert guest["mode"] == "cv" and guest["n_splits"] == 3 and len(guest["cv_folds"]) == 3
    assert 0.9 < guest["cv_summary"]["auc"]["mean"] <= 1.0
    assert metrics(out, "hetero_lr_0", "arbiter:10000")["n_splits"] == 3
    # the fold history (output_fold_history defaults to true): KFold's contiguous folds
    preds = pd.read_parquet(outputs(out, "hetero_lr_0", "guest-9999") / "data.parquet")
    sizes = preds[preds["type"] == "validate"].groupby("fold").size().tolist()
    assert sizes == [190, 190, 189]
    assert (preds[preds["type"] == "train"].groupby("fold").size() == 569 - np.asarray(sizes)).all()
    for party in PARTIES:  # FATE's CV job outputs no model
        assert not (outputs(out, "hetero_lr_0", party) / "model.json").exists()


def test_fate_hetero_lr_warm_start_runs_unchanged_and_equals_training_through(
    data_dir: Path, tmp_path: Path
) -> None:
    # Execute: hetero_lr_0 runs 5 epochs; hetero_lr_1 continues it to max_iter 30;
    # hetero_lr_2 runs 30 epochs from scratch
    out = run(HETERO, "hetero_lr_warm_start", data_dir, tmp_path)
    # Assert: the warm start ran 25 more epochs and ends where 30 epochs from scratch end
    assert metrics(out, "hetero_lr_0", "guest:9999")["n_iter"] == 5
    assert metrics(out, "hetero_lr_1", "guest:9999")["n_iter"] == 30
    warm = metrics(out, "hetero_lr_1", "arbiter:10000")["loss_history"]
    through = metrics(out, "hetero_lr_2", "arbiter:10000")["loss_history"]
    assert warm[:5] == metrics(out, "hetero_lr_0", "arbiter:10000")["loss_history"]
    np.testing.assert_allclose(warm, through, rtol=0, atol=1e-9)
    for party in ("guest-9999", "host-10000"):
        w1 = json.loads((outputs(out, "hetero_lr_1", party) / "model.json").read_text())["model"]
        w2 = json.loads((outputs(out, "hetero_lr_2", party) / "model.json").read_text())["model"]
        np.testing.assert_allclose(w1["coef"], w2["coef"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(w1["intercept"], w2["intercept"], rtol=0, atol=1e-9)
        assert w1["optimizer_state"] and w1["n_iter"] == [30]


def test_fate_homo_lr_cv_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    # Execute: 5 shuffled folds of each client's own rows
    out = run(HOMO, "homo_lr_cv", data_dir, tmp_path)
    # Assert
    for party in ("guest:9999", "host:10000"):
        m = metrics(out, "homo_lr_0", party)
        assert m["mode"] == "cv" and len(m["cv_folds"]) == 5
        assert 0.8 < m["cv_summary"]["auc"]["mean"] <= 1.0
    assert metrics(out, "homo_lr_0", "arbiter:10000")["n_splits"] == 5
    preds = pd.read_parquet(outputs(out, "homo_lr_0", "guest-9999") / "data.parquet")
    assert sorted(preds["fold"].unique().tolist()) == [0, 1, 2, 3, 4]


def test_homo_lr_warm_start_continues_the_stored_model_and_equals_training_through(
    data_dir: Path, tmp_path: Path
) -> None:
    # Prepare: FATE's homo LR job without CV (3 rounds); homo_lr_1 continues homo_lr_0's model to
    # max_iter 8; homo_lr_2 runs 8 rounds from scratch
    conf = json.loads((HOMO / "homo_lr_cv_conf.json").read_text())
    common = conf["component_parameters"]["common"]
    common["homo_lr_0"]["cv_param"]["need_cv"] = False
    common["homo_lr_0"]["tol"] = 1e-12  # no early stop: every round runs
    common["homo_lr_1"] = {**common["homo_lr_0"], "max_iter": 8}
    common["homo_lr_2"] = {**common["homo_lr_0"], "max_iter": 8}
    dsl = json.loads((HOMO / "homo_lr_cv_dsl.json").read_text())
    for name, model in (("homo_lr_1", ["homo_lr_0.model"]), ("homo_lr_2", [])):
        dsl["components"][name] = {
            "module": "HomoLR",
            "input": {"data": {"train_data": ["scale_0.data"]}, **({"model": model} if model else {})},
            "output": {"data": ["data"], "model": ["model"]},
        }
    (tmp_path / "homo_lr_warm_conf.json").write_text(json.dumps(conf))
    (tmp_path / "homo_lr_warm_dsl.json").write_text(json.dumps(dsl))
    # Execute
    out = run(tmp_path, "homo_lr_warm", data_dir, tmp_path / "job")
    # Assert: 5 more rounds, ending where 8 rounds from scratch end, on every party
    first = metrics(out, "homo_lr_0", "arbiter:10000")["loss_history"]
    warm = metrics(out, "homo_lr_1", "arbiter:10000")["loss_history"]
    through = metrics(out, "homo_lr_2", "arbiter:10000")["loss_history"]
    assert len(first) == 3 and len(warm) == 8 and warm[:3] == first
    np.testing.assert_allclose(warm, through, rtol=0, atol=1e-9)
    for party in PARTIES:
        w1 = json.loads((outputs(out, "homo_lr_1", party) / "model.json").read_text())["model"]
        w2 = json.loads((outputs(out, "homo_lr_2", party) / "model.json").read_text())["model"]
        np.testing.assert_allclose(w1["weights"], w2["weights"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(w1["intercept"], w2["intercept"], rtol=0, atol=1e-9)
        assert w1["state"] and len(w1["history"]) == 8
