"""End to end: hetero binning with guest and host as two OS processes over loopback gRPC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from binning_party_targets import DATA, breast
from test_binning_protocol import central_counts, central_index, check_column

from fedloom.core import PartyId
from fedloom.runner.launcher import PartySpec, launch

HERE = str(Path(__file__).parent)

pytestmark = pytest.mark.skipif(
    not (DATA / "breast_hetero_guest.csv").exists(), reason="FATE's breast data is not in ../shared"
)


def test_hetero_binning_across_processes(tmp_path: Path) -> None:
    # Prepare
    g, h = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    specs = [
        PartySpec(g, "binning_party_targets:binning_guest"),
        PartySpec(h, "binning_party_targets:binning_host"),
    ]
    # Execute
    res = launch(specs, job_id="binning-e2e", python_path=[HERE], job_dir=tmp_path, timeout=60)
    # Assert
    res.raise_for_failure()
    out = res.results()
    gm, hm = out[g]["model"], out[h]["model"]
    guest, host = breast()
    y = guest.label
    for j, name in enumerate(guest.feature_names):
        col = gm["columns"][name]
        idx = central_index(col["bins"], guest.features[:, j])
        check_column(
            col["stats"], central_counts(idx, y, len(col["stats"]["event_count"]), [0, 1]), [0, 1], False
        )
    assert len(gm["host_columns"]) == 20
    for j, name in enumerate(host.feature_names):
        bins = hm["columns"][name]["bins"]
        idx = central_index(bins, host.features[:, j])
        entry = gm["host_columns"][hm["anonymous"][name]]
        counts = central_counts(idx, y, entry["n_bins"], [0, 1])
        check_column(entry["stats"], counts, [0, 1], False)
        if j < 2:  # WOE went back for the columns the host transforms
            np.testing.assert_array_equal(hm["columns"][name]["woe"], entry["stats"]["woe"])
        else:
            assert hm["columns"][name]["woe"] is None
    assert (
        gm["work"]["encryptions"] == 569 and gm["work"]["decryptions"] == gm["work"]["ciphertexts_received"]
    )
    assert out[g]["summary"]["bytes"]["sent"] > 569 * 256  # 569 ciphertexts of 2048 bits went out
