"""End to end: Hetero SecureBoost with guest and host as two OS processes over loopback gRPC,
on FATE's breast data with FATE's binary conf (Paillier 1024, 3 trees, validation each round)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from binning_party_targets import DATA

from fedloom.core import PartyId
from fedloom.ml.evaluation.registry import score_metrics
from fedloom.runner.launcher import PartySpec, launch

HERE = str(Path(__file__).parent)

pytestmark = [
    pytest.mark.skipif(
        not (DATA / "breast_hetero_guest.csv").exists(), reason="FATE's breast data is not in ../shared"
    ),
    pytest.mark.slow,
]


def test_secureboost_across_processes(tmp_path: Path) -> None:
    # Prepare
    g, h = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    specs = [
        PartySpec(g, "secureboost_party_targets:secureboost_guest"),
        PartySpec(h, "secureboost_party_targets:secureboost_host"),
    ]
    # Execute
    res = launch(specs, job_id="secureboost-e2e", python_path=[HERE], job_dir=tmp_path, timeout=120)
    # Assert
    res.raise_for_failure()
    out = res.results()
    gm, hm = out[g]["model"], out[h]["model"]
    assert len(gm["trees"]) == 3 and len(hm["trees"]) == 3
    host_ids = [{n["id"] for n in t["nodes"] if n["owner"] == "host-10000"} for t in gm["trees"]]
    assert host_ids == [{n["id"] for n in t["nodes"]} for t in hm["trees"]]
    assert all(n["threshold"] is None for t in gm["trees"] for n in t["nodes"] if n["owner"] != "guest")
    assert len(gm["history"]["validation"]) == 3
    y = np.asarray(out[g]["label"], dtype=float)
    auc = score_metrics("binary", ["auc"], y, np.asarray(out[g]["score"]), np.zeros_like(y))["auc"]
    assert auc > 0.97
    assert gm["work"]["decryptions"] > 0 and gm["work"]["encryptions"] == 3 * 569
