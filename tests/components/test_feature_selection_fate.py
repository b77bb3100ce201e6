"""FATE's ``hetero_feature_selection_iv_selection`` and ``hetero_feature_selection_iv_top_k`` jobs
run unchanged with ``fedloom run`` after upload (FATE's upload conf, the breast data).

The columns each party keeps are checked against an independent computation from the IVs in the
binning models the job stored: IV >= 0.1 (iv_selection), and the 7 highest IVs over guest and host
columns together (iv_top_k), the host's anonymous names mapped back through the host's own model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fedloom.data import TableStore

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)
JOBS = FATE / "dsl_v2" / "hetero_feature_selection"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")

pytestmark = [pytest.mark.skipif(not JOBS.is_dir(), reason="FATE examples not present"), pytest.mark.slow]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    base = json.loads((FATE / "dsl_v2" / "upload" / "upload_conf.json").read_text())
    for name in ("breast_hetero_guest", "breast_hetero_host"):
        store.upload({**base, "file": str(FATE / "data" / f"{name}.csv"), "table_name": name})
    return path


def fedloom_run(job: str, data_dir: Path, job_dir: Path) -> Path:
    conf, dsl = JOBS / f"{job}_conf.json", JOBS / f"{job}_dsl.json"
    res = subprocess.run(
        [FEDLOOM, "run", "-c", str(conf), "-d", str(dsl), "--data-dir", str(data_dir),
         "--job-dir", str(job_dir), "--timeout", "300", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return Path(json.loads(res.stdout)["job_dir"]) / "outputs"


def read(outputs: Path, component: str, party: str) -> tuple[dict[str, Any], pd.DataFrame]:
    folder = outputs / component / party
    return json.loads((folder / "model.json").read_text()), pd.read_parquet(folder / "data.parquet")


def ivs(outputs: Path) -> tuple[dict[str, float], dict[str, float]]:
    """(guest column → IV, host column → IV) from the stored binning models."""
    guest, _ = read(outputs, "hetero_feature_binning_0", "guest-9999")
    host, _ = read(outputs, "hetero_feature_binning_0", "host-10000")
    by_anon = {a: float(e["iv"]) for a, e in guest["model"]["host_columns"].items()}
    host_iv = {c: by_anon[a] for c, a in host["model"]["anonymous"].items()}
    return {c: float(e["iv"]) for c, e in guest["model"]["columns"].items()}, host_iv


def kept_columns(outputs: Path) -> tuple[list[str], list[str]]:
    _, g = read(outputs, "hetero_feature_selection_0", "guest-9999")
    _, h = read(outputs, "hetero_feature_selection_0", "host-10000")
    return [c for c in g.columns if c.startswith("x")], [c for c in h.columns if c.startswith("x")]


def test_iv_selection_job_keeps_iv_at_least_0_1(data_dir: Path, tmp_path: Path) -> None:
    outputs = fedloom_run("hetero_feature_selection_iv_selection", data_dir, tmp_path)

    guest_iv, host_iv = ivs(outputs)
    guest, host = kept_columns(outputs)
    assert guest == [c for c in guest_iv if guest_iv[c] >= 0.1]
    assert host == [c for c in host_iv if host_iv[c] >= 0.1]
    assert 0 < len(guest) + len(host) < 30
    model, data = read(outputs, "hetero_feature_selection_0", "guest-9999")
    assert model["module"] == "HeteroFeatureSelection" and len(data) == 569


def test_iv_top_k_job_keeps_the_7_best_columns_of_both_parties(data_dir: Path, tmp_path: Path) -> None:
    outputs = fedloom_run("hetero_feature_selection_iv_top_k", data_dir, tmp_path)

    guest_iv, host_iv = ivs(outputs)
    ranked = sorted([("g", c, v) for c, v in guest_iv.items()] + [("h", c, v) for c, v in host_iv.items()],
                    key=lambda t: -t[2])  # fmt: skip
    best = ranked[:7]
    assert ranked[6][2] > ranked[7][2]  # no tie at the cut on this data
    guest, host = kept_columns(outputs)
    assert set(guest) == {c for p, c, _ in best if p == "g"}
    assert set(host) == {c for p, c, _ in best if p == "h"}
    assert len(guest) + len(host) == 7
