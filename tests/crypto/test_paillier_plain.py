"""The plain cipher equals Paillier bit for bit on the same operations; cipher selection."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core.errors import ConfigError, CryptoError, DecryptionOverflowError, KeyMismatchError
from fedloom.crypto.cipher import CipherVector, PrivateKey, PublicKey, public_key_from_dict
from fedloom.crypto.cipher import generate_keypair as make_keys
from fedloom.crypto.paillier import (
    EncryptedVector,
    Packer,
    PaillierPrivateKey,
    PaillierPublicKey,
    PlainPublicKey,
    PlainVector,
)


def _program(pk: object, sk: object) -> list[object]:
    """The same computation under either cipher: every decrypted intermediate."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=20)
    y = rng.normal(size=20)
    mat = rng.normal(size=(20, 3))
    imat = rng.integers(-50, 50, size=(20, 2))
    seg = rng.integers(0, 4, size=20)
    ex, ey = pk.encrypt(x), pk.encrypt(y, frac_bits=20)  # type: ignore[attr-defined]
    ei = pk.encrypt(rng.integers(-100, 100, size=20))  # type: ignore[attr-defined]
    results = [
        ex + ey,
        ex - ey,
        -ex,
        ex + y,
        y - ex,
        ex * 3,
        ex * -0.37,
        ex * mat[:, 0],
        ex.dot(mat),
        ei.dot(imat),
        ex.segment_sum(seg, 5),
        ex.sum(),
        ex[seg > 1],
        type(ex).concat([ex[:3], ei[:2]]),
        ei + 0.5,
        ex.obfuscate(),
    ]
    out: list[object] = [sk.decrypt_raw(r) for r in results]  # type: ignore[attr-defined]
    out += [sk.decrypt(r).tolist() for r in results]  # type: ignore[attr-defined]
    out += [r.frac_bits for r in results]
    packer = Packer.for_sums(3, 20, None, pk)
    packed = pk.encrypt_ints(packer.pack(rng.integers(0, 4, size=(20, 3))))  # type: ignore[attr-defined]
    out.append(packer.unpack(sk.decrypt_packed_raw(packed.segment_sum(seg, 4)), 3).tolist())  # type: ignore[attr-defined]
    return out


def test_plain_equals_paillier(pk: PaillierPublicKey, sk: PaillierPrivateKey, plain_keypair: tuple) -> None:
    ppk, psk = plain_keypair
    assert _program(ppk, psk)[:-1] == _program(pk, sk)[:-1]


def test_plain_interface_and_serialisation(plain_keypair: tuple) -> None:
    ppk, psk = plain_keypair
    assert isinstance(ppk, PublicKey) and isinstance(psk, PrivateKey)
    v = ppk.encrypt(np.array([1.5, -2.0]))
    assert isinstance(v, CipherVector) and isinstance(v, PlainVector)
    buf = v.to_bytes()
    assert len(buf) == 2 * ppk.ciphertext_bytes == 2 * 128
    assert psk.decrypt(PlainVector.from_bytes(ppk, buf, v.frac_bits)).tolist() == [1.5, -2.0]
    assert psk.decrypt(ppk.from_bytes(buf, v.frac_bits)).tolist() == [1.5, -2.0]
    with pytest.raises(CryptoError):
        PlainVector.from_bytes(ppk, buf[:-1], 0)
    with pytest.raises(CryptoError):
        PlainVector.from_bytes(ppk, b"\xff" * 128, 0)
    assert v.rerandomize() is v and v.obfuscate() is v  # nothing to re-randomise
    assert len(ppk.fingerprint) == 32
    again = public_key_from_dict(ppk.to_dict())
    assert again == ppk and isinstance(again, PlainPublicKey)
    with pytest.raises(DecryptionOverflowError):
        psk.decrypt(ppk.encrypt(np.array([ppk.max_int], dtype=object)) * 2)


def test_plain_key_mismatch(plain_keypair: tuple, pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ppk, psk = plain_keypair
    other, other_sk = make_keys("plain", 1024)
    a, b = ppk.encrypt(np.array([1.0])), other.encrypt(np.array([1.0]))
    with pytest.raises(KeyMismatchError):
        a + b
    with pytest.raises(KeyMismatchError):
        other_sk.decrypt(a)
    e = pk.encrypt(np.array([1.0]))
    with pytest.raises(KeyMismatchError):
        a + e
    with pytest.raises(KeyMismatchError):
        e + a
    with pytest.raises(KeyMismatchError):
        sk.decrypt(a)  # type: ignore[arg-type]
    with pytest.raises(KeyMismatchError):
        psk.decrypt(e)


def test_cipher_selection() -> None:
    pk, sk = make_keys("paillier", key_size=1024)
    assert isinstance(pk, PaillierPublicKey) and isinstance(sk, PaillierPrivateKey)
    assert isinstance(pk.encrypt(np.array([1.0])), EncryptedVector)
    assert isinstance(pk, PublicKey) and isinstance(sk, PrivateKey)
    assert public_key_from_dict(pk.to_dict()) == pk
    assert public_key_from_dict({"method": "paillier", **pk.to_dict()}) == pk
    ppk, _ = make_keys("plain", key_size=2048)
    assert isinstance(ppk, PlainPublicKey) and ppk.key_size == 2048
    with pytest.raises(ConfigError, match="method"):
        make_keys("rsa")
    with pytest.raises(ConfigError):
        make_keys("plain", key_size=100)
    for bad in ({"method": "rsa"}, {"method": "plain", "id": "x", "key_size": 1024}, [1]):
        with pytest.raises(CryptoError):
            public_key_from_dict(bad)
