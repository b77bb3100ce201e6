"""End to end: hetero LR with guest, host and arbiter as three OS processes over loopback gRPC."""

from __future__ import annotations

from pathlib import Path

from glm_party_targets import PROCESS_PARAMS, breast

from fedloom.core import PartyId
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.runner.launcher import PartySpec, launch
from fedloom.testing import run_parties

HERE = str(Path(__file__).parent)


def test_hetero_lr_across_processes(tmp_path: Path) -> None:
    # Prepare: FATE's hetero_lr_normal settings (rmsprop, batch 320, 1024-bit Paillier), 2 epochs
    g, h, a = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
    specs = [
        PartySpec(g, "glm_party_targets:lr_guest"),
        PartySpec(h, "glm_party_targets:lr_host"),
        PartySpec(a, "glm_party_targets:lr_arbiter"),
    ]
    # Execute
    res = launch(specs, job_id="glm-e2e", python_path=[HERE], job_dir=tmp_path, timeout=60)
    # Assert
    res.raise_for_failure()
    out = res.results()
    # the same fit in threads with the plain cipher: Paillier over gRPC gives the same model
    p = HeteroLRParams.from_dict({**PROCESS_PARAMS, "encrypt_param": {"method": "plain", "key_length": 1024}})
    guest, host = breast()
    ref = run_parties(
        {
            g: lambda c: HeteroLRGuest(p).fit(c, guest),
            h: lambda c: HeteroLRHost(p).fit(c, host),
            a: lambda c: HeteroLRArbiter(p).fit(c),
        }
    )
    assert out[g]["model"]["coef"] == ref[g].coef and out[h]["model"]["coef"] == ref[h].coef
    assert out[a]["model"]["loss_history"] == ref[a].loss_history
    assert out[g]["auc"] > 0.85
    assert out[a]["model"]["n_iter"] == [2] and len(out[a]["model"]["loss_history"][0]) == 2
    assert out[a]["model"]["coef"] == [] and len(out[h]["model"]["coef"][0]) == 20
    assert len(out[g]["model"]["coef"][0]) == 10 and out[g]["model"]["fit_intercept"] is True
