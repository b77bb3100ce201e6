"""The credit-scoring chain runs as a user would run it, train then predict, over gRPC processes.

``examples/jobs/feature_engineering``: Reader → DataTransform → Intersection →
HeteroFeatureBinning (quantile, 5 bins, values → bin index) → HeteroFeatureSelection (unique value,
then the top 12 columns by IV over guest and host together) → OneHotEncoder → HeteroLR →
Evaluation, on the bundled breast tables; then the predict job derived from it
(``predict_conf.json`` / ``predict_dsl.json``) with ``--model-job``.

What it shows: every party's columns flow through the chain by name (the one-hot columns are the
kept columns' bins), the selection keeps the 12 columns of highest IV over both parties (from the
guest's binning model, host columns by anonymous name), the model learns (AUC), and the predict
job, which fits nothing, reproduces the training job's predictions exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "examples" / "jobs" / "feature_engineering"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")
TOP_K = 12

pytestmark = pytest.mark.slow


def fedloom(*args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([FEDLOOM, *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def run(conf: str, dsl: str, data_dir: Path, job_dir: Path, *extra: str) -> Path:
    res = fedloom("run", "-c", str(JOB / conf), "-d", str(JOB / dsl), "--data-dir", str(data_dir),
                  "--job-dir", str(job_dir), "--timeout", "120", "--json", *extra)  # fmt: skip
    out: dict[str, Any] = json.loads(res.stdout)
    return Path(out["job_dir"])


def output(job: Path, component: str, party: str, name: str) -> Any:
    path = job / "outputs" / component / party / name
    return pd.read_parquet(path) if name.endswith(".parquet") else json.loads(path.read_text())


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data_dir = tmp_path_factory.mktemp("data")
    for party in ("guest", "host"):
        conf = ROOT / "examples" / "upload" / f"breast_hetero_{party}.json"
        fedloom("data", "upload", "-c", str(conf), "--data-dir", str(data_dir), "--drop")
    job_dir = tmp_path_factory.mktemp("jobs")
    train = run("conf.json", "dsl.json", data_dir, job_dir)
    predict = run("predict_conf.json", "predict_dsl.json", data_dir, job_dir, "--model-job", train.name)
    return train, predict


def test_chain_trains_on_the_columns_of_highest_iv(jobs: tuple[Path, Path]) -> None:
    train, _ = jobs
    binning = output(train, "hetero_feature_binning_0", "guest-9999", "model.json")["model"]
    host_binning = output(train, "hetero_feature_binning_0", "host-10000", "model.json")["model"]
    iv = {name: col["iv"] for name, col in binning["columns"].items()}
    anonymous = {anon: name for name, anon in host_binning["anonymous"].items()}
    iv |= {("host", anonymous[anon]): col["iv"] for anon, col in binning["host_columns"].items()}
    best = set(sorted(iv, key=lambda k: -iv[k])[:TOP_K])

    kept_guest = output(train, "hetero_feature_selection_0", "guest-9999", "metrics.json")["kept"]
    kept_host = output(train, "hetero_feature_selection_0", "host-10000", "metrics.json")["kept"]
    assert set(kept_guest) | {("host", c) for c in kept_host} == best

    # one-hot: each kept column becomes its bins' indicators, named <column>_<bin>
    for party, kept in (("guest-9999", kept_guest), ("host-10000", kept_host)):
        names = output(train, "hetero_lr_0", party, "model.json")["schema"]["features"]
        prefixes = {str(n).rsplit("_", 1)[0] for n in names}
        assert prefixes == set(kept)
    evaluation = output(train, "evaluation_0", "guest-9999", "metrics.json")
    assert evaluation["auc"] > 0.95


def test_predict_job_reproduces_the_training_predictions(jobs: tuple[Path, Path]) -> None:
    train, predict = jobs
    fitted = output(train, "hetero_lr_0", "guest-9999", "data.parquet").set_index("id")
    again = output(predict, "hetero_lr_0", "guest-9999", "data.parquet").set_index("id")
    assert set(again["type"]) == {"test"}
    assert len(again) == len(fitted) == 569
    pd.testing.assert_series_equal(
        again["predict_score"].sort_index(), fitted["predict_score"].sort_index(), check_exact=True
    )
    for component in ("hetero_feature_binning_0", "hetero_feature_selection_0", "one_hot_0"):
        for party in ("guest-9999", "host-10000"):
            assert output(predict, component, party, "metrics.json")["mode"] != "fit"
