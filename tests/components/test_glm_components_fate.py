"""FATE's ``test_hetero_linr_train_job`` and ``test_hetero_poisson_train_job`` run unchanged with
``fedloom run`` after upload.

The tables are uploaded under the names the confs read, from FATE's data (``motor`` for LinR,
``dvisits`` for Poisson); ``dvisits`` is cut to its first 1500 rows to keep the test quick (the
job itself is unchanged).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from tests.fate_jobs import DSL_V2, FATE, fedloom_run, upload_table, upload_tables

DVISITS_ROWS = 1500

pytestmark = [pytest.mark.skipif(not DSL_V2.is_dir(), reason="FATE examples not present"), pytest.mark.slow]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = upload_tables(path, ("motor_hetero_guest", "motor_hetero_host"))
    for name in ("dvisits_hetero_guest", "dvisits_hetero_host"):
        small = tmp_path_factory.mktemp("csv") / f"{name}.csv"
        pd.read_csv(FATE / "data" / f"{name}.csv").head(DVISITS_ROWS).to_csv(small, index=False)
        upload_table(store, name, small)
    return path


def test_hetero_linr_train_job_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    job = DSL_V2 / "hetero_linear_regression"
    conf, dsl = job / "test_hetero_linr_train_job_conf.json", job / "test_hetero_linr_train_job_dsl.json"

    out = fedloom_run(conf, dsl, data_dir, tmp_path)

    job_dir = Path(out["job_dir"])
    preds = pd.read_parquet(job_dir / "outputs" / "hetero_linr_0" / "guest-9999" / "data.parquet")
    assert len(preds) == 800 and set(preds["type"]) == {"train"}
    assert preds["predict_result"].between(-10, 10).all()
    for party in ("guest-9999", "host-10000", "arbiter-10000"):
        model = json.loads((job_dir / "outputs" / "hetero_linr_0" / party / "model.json").read_text())
        assert model["module"] == "HeteroLinR"
    # 20 epochs of L2-penalised SGD: well short of least squares, far better than the mean
    g = pd.read_csv(FATE / "data" / "motor_hetero_guest.csv")
    h = pd.read_csv(FATE / "data" / "motor_hetero_host.csv")
    joined = g.merge(h, on="idx")
    x, y = joined.drop(columns=["idx", "motor_speed"]), joined["motor_speed"]
    best = ((LinearRegression().fit(x, y).predict(x) - y) ** 2).mean()
    mse = ((preds["predict_result"] - preds["label"]) ** 2).mean()
    assert best < mse < y.var()


def test_hetero_poisson_train_job_runs_unchanged(data_dir: Path, tmp_path: Path) -> None:
    job = DSL_V2 / "hetero_poisson_regression"
    conf, dsl = (
        job / "test_hetero_poisson_train_job_conf.json",
        job / "test_hetero_poisson_train_job_dsl.json",
    )

    out = fedloom_run(conf, dsl, data_dir, tmp_path)

    guest = out["parties"]["guest:9999"]["components"]
    ev = guest["evaluation_0"]["metrics"]
    assert ev["eval_type"] == "regression" and ev["rows"] == DVISITS_ROWS
    assert {"mse", "rmse", "mae", "r2", "explained_variance"} <= set(ev)
    assert out["parties"]["host:10000"]["components"]["evaluation_0"]["state"] == "skipped"  # need_run: false
    preds = pd.read_parquet(
        Path(out["job_dir"]) / "outputs" / "hetero_poisson_0" / "guest-9999" / "data.parquet"
    )
    assert (preds["predict_result"] > 0).all()  # a Poisson rate
