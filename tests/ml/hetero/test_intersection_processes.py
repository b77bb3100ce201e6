"""End to end: guest and hosts as separate OS processes over loopback gRPC (the local launcher)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fedloom.core import PartyId
from fedloom.runner.launcher import PartySpec, launch

HERE = str(Path(__file__).parent)


@pytest.mark.parametrize(
    "params,n_hosts",
    [
        ({"intersect_method": "ecdh"}, 2),
        ({"intersect_method": "rsa", "rsa_params": {"key_length": 1024, "split_calculation": True}}, 1),
    ],
    ids=["ecdh-2-hosts", "rsa-split"],
)
def test_intersection_across_processes(tmp_path: Path, params: dict[str, Any], n_hosts: int) -> None:
    # Prepare
    from psi_party_targets import ids_for

    guest = PartyId.parse("guest:9999")
    hosts = [PartyId.parse(f"host:{10000 + k}") for k in range(n_hosts)]
    specs = [PartySpec(guest, "psi_party_targets:guest", {"params": params})]
    specs += [PartySpec(h, "psi_party_targets:host", {"params": params, "k": k}) for k, h in enumerate(hosts)]
    # Execute
    res = launch(specs, job_id="psi-e2e", python_path=[HERE], job_dir=tmp_path, timeout=60)
    # Assert
    res.raise_for_failure()
    out = res.results()
    expected = sorted(set(ids_for("guest")).intersection(*(set(ids_for(str(k))) for k in range(n_hosts))))
    assert expected
    for party in [guest, *hosts]:
        assert out[party]["ids"] == expected, party
        assert out[party]["count"] == len(expected)
        assert out[party]["method"] == params["intersect_method"]
        assert out[party]["bytes_sent"] > 0
