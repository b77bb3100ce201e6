"""Re-randomisation on an executor: fresh ciphertexts, same plaintexts (equality by decryption)."""

from __future__ import annotations

import numpy as np
import pytest

import fedloom.compute.crypto as compute_crypto
from fedloom.compute.crypto import parallel_rerandomize
from fedloom.compute.executor import LocalExecutor
from fedloom.crypto.paillier import vector as vector_module
from fedloom.crypto.paillier.keys import generate_keypair


def test_parallel_rerandomize_keeps_plaintexts_and_changes_every_ciphertext(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_RERANDOMIZE", 0)
    pk, sk = generate_keypair(1024)
    values = np.random.default_rng(2).integers(0, 2**40, 37).tolist()
    enc = pk.encrypt_ints(values)
    with LocalExecutor(2) as ex:
        out = parallel_rerandomize(enc, ex)
        assert ex.stats["tasks"] == 2 and ex.stats["broadcasts"] == 1  # key put once, 2 blocks
    assert len(out) == len(enc) and out.frac_bits == enc.frac_bits
    assert sk.decrypt_raw(out) == values
    assert all(a != b for a, b in zip(out.ciphertexts, enc.ciphertexts, strict=True))
    n2 = pk.nsquare
    assert all(0 < int(c) < n2 for c in out.ciphertexts)


def test_the_crypto_hook_is_installed_and_keeps_local_runs_in_process() -> None:
    assert vector_module.rerandomize_offload is compute_crypto._offload_rerandomize
    pk, _ = generate_keypair(1024)
    enc = pk.encrypt_ints(list(range(8)))
    assert compute_crypto._offload_rerandomize(enc) is None  # short, and local: in-process path
