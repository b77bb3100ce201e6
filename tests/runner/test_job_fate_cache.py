"""FATE's intersection cache jobs run unchanged: the cache job, then the cache-loader job on it.

FATE's testsuite pairs ``test_intersect_job_rsa_cache_conf.json`` with
``test_intersect_job_cache_dsl.json`` (intersect_0 makes the cache, intersect_1 in the same job
uses it) and ``test_intersect_job_rsa_cache_loader_conf.json`` with
``test_intersect_job_cache_loader_dsl.json`` (a later job loads that cache with ``CacheLoader``,
its ``job_id`` named with ``--cache-job``, as FATE's testsuite fills it in).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.fate_jobs import failure, run_cli
from tests.runner.test_job_fate_intersect import INTERSECT, data_dir  # noqa: F401

pytestmark = pytest.mark.skipif(
    not (INTERSECT / "test_intersect_job_cache_dsl.json").is_file(), reason="FATE examples not present"
)


def _run(conf: str, dsl: str, data: Path, jobs: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(INTERSECT / conf, INTERSECT / dsl, data, jobs, *extra, timeout=60, wait=180)


def _component(out: dict[str, Any], party: str, name: str) -> dict[str, Any]:
    return out["parties"][party]["components"][name]


def test_cache_job_then_cache_loader_job(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    # Execute: the cache job
    res = _run(
        "test_intersect_job_rsa_cache_conf.json", "test_intersect_job_cache_dsl.json", data_dir, tmp_path
    )

    # Assert: intersect_0 made a cache on both sides, intersect_1 used it (no sync: host has no data)
    assert res.returncode == 0, failure(res)
    first = json.loads(res.stdout)
    job_dir = Path(first["job_dir"])
    for party in ("guest-9999", "host-10000"):
        assert (job_dir / "outputs" / "intersect_0" / party / "cache.json").is_file()
    host_cache = json.loads((job_dir / "outputs" / "intersect_0" / "host-10000" / "cache.json").read_text())
    assert host_cache["role"] == "host" and "ids_sha256" in host_cache
    guest_cache = json.loads((job_dir / "outputs" / "intersect_0" / "guest-9999" / "cache.json").read_text())
    assert "p" not in guest_cache and set(guest_cache["hosts"]) == {"host:10000"}
    assert _component(first, "guest:9999", "intersect_1")["metrics"]["intersect_count"] == 569
    assert _component(first, "host:10000", "intersect_1")["metrics"]["intersect_count"] is None
    g = pd.read_parquet(job_dir / "outputs" / "intersect_1" / "guest-9999" / "data.parquet")
    assert list(g.columns) == ["id"] and len(g) == 569
    # one key and one set of host signatures in the whole job: intersect_1 reused intersect_0's
    traffic = first["parties"]["host:10000"]["traffic"]
    assert traffic["rsa_host_pubkey"]["sent_messages"] == traffic["rsa_host_signed"]["sent_messages"] == 1
    assert traffic["rsa_signed_blinded"]["sent_messages"] == 1

    # Execute: the dependent job, loading the first job's cache
    res2 = _run(
        "test_intersect_job_rsa_cache_loader_conf.json",
        "test_intersect_job_cache_loader_dsl.json",
        data_dir,
        tmp_path,
        "--cache-job",
        first["job_id"],
    )

    # Assert
    assert res2.returncode == 0, failure(res2)
    second = json.loads(res2.stdout)
    assert _component(second, "guest:9999", "intersect_0")["metrics"]["intersect_count"] == 569
    assert _component(second, "guest:9999", "cache_loader_0")["metrics"]["job_id"] == first["job_id"]
    g2 = pd.read_parquet(Path(second["job_dir"]) / "outputs" / "intersect_0" / "guest-9999" / "data.parquet")
    assert g2["id"].tolist() == g["id"].tolist()


def test_cache_loader_without_a_job_is_refused_before_anything_runs(data_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    res = _run(
        "test_intersect_job_rsa_cache_loader_conf.json",
        "test_intersect_job_cache_loader_dsl.json",
        data_dir,
        tmp_path,
    )

    assert res.returncode != 0
    assert "field 'job_id'" in res.stdout + res.stderr and "--cache-job" in res.stdout + res.stderr
    assert not any(tmp_path.iterdir())
