"""End to end: Hetero NN with guest and host as two OS processes over loopback gRPC, Paillier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nn_party_targets import confs  # noqa: E402
from test_nn_tasks import ADAM, Central, _data  # noqa: E402

from fedloom.core import PartyId  # noqa: E402
from fedloom.runner.launcher import PartySpec, launch  # noqa: E402

HERE = str(Path(__file__).parent)


@pytest.mark.slow
def test_hetero_nn_across_processes(tmp_path: Path) -> None:
    # Prepare
    g, h = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    specs = [PartySpec(g, "nn_party_targets:nn_guest"), PartySpec(h, "nn_party_targets:nn_host")]
    guest, hosts = _data(120, "binary", 1)
    central = Central("binary", 1, ADAM)
    central.train(guest, hosts, [0])
    # Execute
    res = launch(specs, job_id="hetero-nn-e2e", python_path=[HERE], job_dir=tmp_path, timeout=120)
    # Assert: the noise cancels across processes too (Paillier, 40-bit multipliers)
    res.raise_for_failure()
    out = res.results()
    gw = {k: np.asarray(v) for k, v in out[g]["weights"].items()}
    hw = {k: np.asarray(v) for k, v in out[h]["weights"].items()}
    want = central.weights()
    np.testing.assert_allclose(
        gw["interactive.host_weight.0"] + hw["interactive.acc_noise"], want["wa0"], atol=1e-6
    )
    np.testing.assert_allclose(gw["interactive.guest_weight"], want["wb"], atol=1e-6)
    np.testing.assert_allclose(hw["bottom.0.weight"], want["host0.0.weight"], atol=1e-6)
    np.testing.assert_allclose(gw["top.0.weight"], want["top.0.weight"], atol=1e-6)
    with torch.no_grad():
        score = central.output(torch.from_numpy(guest.features), [torch.from_numpy(hosts[0].features)])
    np.testing.assert_allclose(out[g]["score"], score.numpy()[:, 0], atol=1e-6)
    # Every ciphertext the host decrypted was re-randomised by the guest
    assert out[g]["work"]["rerandomized"] == out[h]["work"]["decryptions"] > 0
    assert confs()[0]["encrypt_param"]["method"] == "paillier"
