"""X25519 seed agreement and the ChaCha20 mask generator (fedloom.crypto.key_agreement)."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from fedloom.core import CryptoError
from fedloom.crypto.key_agreement import derive_seed, generate_keypair, mask_vector, stream_id


def test_both_sides_derive_the_same_seed_and_info_separates_uses() -> None:
    a, b = generate_keypair(), generate_keypair()
    assert derive_seed(a, b.public, b"x") == derive_seed(b, a.public, b"x")
    assert derive_seed(a, b.public, b"x") != derive_seed(a, b.public, b"y")
    assert derive_seed(a, b.public, b"x") != derive_seed(a, generate_keypair().public, b"x")


def test_bad_public_keys_are_refused() -> None:
    a = generate_keypair()
    with pytest.raises(CryptoError, match="32 bytes"):
        derive_seed(a, b"short", b"x")
    with pytest.raises(CryptoError):
        derive_seed(a, bytes(32), b"x")  # the all-zero point: small order
    with pytest.raises(CryptoError, match="reflected"):
        derive_seed(a, a.public, b"x")


def test_mask_vector_is_the_chacha20_keystream_across_chunks() -> None:
    seed, stream = bytes(range(32)), stream_id(7, 1)
    n = (1 << 20) + 3  # longer than one 8 MiB chunk
    m = mask_vector(seed, n, stream)
    ks = Cipher(algorithms.ChaCha20(seed, bytes(4) + stream), mode=None).encryptor().update(bytes(8 * n))
    assert m.dtype == np.uint64 and np.array_equal(m, np.frombuffer(ks, dtype="<u8"))
    assert np.array_equal(mask_vector(seed, 10, stream), m[:10])  # deterministic
    assert not np.array_equal(mask_vector(seed, 10, stream_id(8, 1)), m[:10])  # a fresh stream per round
    assert abs(np.unpackbits(m[:4096].view(np.uint8)).mean() - 0.5) < 0.01


def test_stream_ids_are_checked() -> None:
    assert len(stream_id(1, 2, 3)) == 12
    with pytest.raises(CryptoError):
        stream_id(1 << 32)
    with pytest.raises(CryptoError):
        mask_vector(bytes(31), 4, stream_id(0))
