"""FATE's intersect jobs (``fate_examples/dsl_v2/intersect/``) run unchanged with ``fedloom run``.

The tables are uploaded with FATE's upload conf, only ``file`` adapted (FATE ships the guest's
conf; the host's is the same conf with the host's file and table name).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.fate_jobs import BREAST_HETERO, DSL_V2, data_folder, failure, run_cli

INTERSECT = DSL_V2 / "intersect"
_ALL = sorted(INTERSECT.glob("*_conf.json")) if INTERSECT.is_dir() else []

#: FATE confs that run with a dsl of their own, in test_job_fate_cache.py (FATE's testsuite pairs
#: the cache conf with ``test_intersect_job_cache_dsl.json``: its intersect_0 outputs a cache only).
OWN_DSL = {"test_intersect_job_rsa_cache"}
CONFS = [c for c in _ALL if c.name.removesuffix("_conf.json") not in OWN_DSL]

pytestmark = pytest.mark.skipif(not CONFS, reason="FATE examples not present")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data_folder(tmp_path_factory, BREAST_HETERO)


@pytest.mark.parametrize("conf", CONFS, ids=[c.name.removesuffix("_conf.json") for c in CONFS])
def test_fate_intersect_job_runs_unchanged(conf: Path, data_dir: Path, tmp_path: Path) -> None:
    params = json.loads(conf.read_text())["component_parameters"]["common"]["intersect_0"]
    dsl = INTERSECT / "test_intersect_job_dsl.json"

    res = run_cli(conf, dsl, data_dir, tmp_path, timeout=60, wait=120)

    assert res.returncode == 0, failure(res)
    out = json.loads(res.stdout)
    guest = out["parties"]["guest:9999"]["components"]["intersect_0"]
    host = out["parties"]["host:10000"]["components"]["intersect_0"]
    assert guest["metrics"]["intersect_count"] == 569  # the two breast tables hold the same ids
    job_dir = Path(out["job_dir"])
    g_file = job_dir / "outputs" / "intersect_0" / "guest-9999" / "data.parquet"
    h_file = job_dir / "outputs" / "intersect_0" / "host-10000" / "data.parquet"
    if params.get("cardinality_only"):
        assert not g_file.exists() and not h_file.exists()
        assert guest["metrics"]["cardinality_only"] is True
        return
    g = pd.read_parquet(g_file)
    assert len(g) == 569 and g["id"].tolist() == sorted(g["id"])
    assert list(g.columns) == (["id"] if params.get("only_output_key") else list(g.columns))
    if params.get("sync_intersect_ids"):
        assert pd.read_parquet(h_file)["id"].tolist() == g["id"].tolist()
    else:
        assert not h_file.exists() and host["metrics"]["intersect_count"] is None
