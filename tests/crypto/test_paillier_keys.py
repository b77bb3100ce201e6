"""Key generation, public-key serialisation and validation, encryption / CRT decryption."""

from __future__ import annotations

import logging

import gmpy2
import numpy as np
import pytest

from fedloom.core.errors import ConfigError, CryptoError, KeyMismatchError
from fedloom.crypto.paillier import EncryptedVector, PaillierPrivateKey, PaillierPublicKey, generate_keypair
from fedloom.crypto.paillier.keys import fingerprint_of


def test_keypair_structure(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    assert pk.key_size == 1024 and pk.n.bit_length() == 1024
    assert sk.p != sk.q and sk.p * sk.q == pk.n
    assert sk.p.bit_length() == sk.q.bit_length() == 512
    assert sk.p % 4 == 3 and sk.q % 4 == 3
    assert gmpy2.gcd(pk.n, (sk.p - 1) * (sk.q - 1)) == 1
    assert pk.ciphertext_bytes == 256


def test_1024_logs_a_warning_and_below_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fedloom.crypto.paillier.keys"):
        generate_keypair(1024)
    assert "1024 bits" in caplog.text
    for bad in (512, 1023, 1025, 8194, 2048.0):
        with pytest.raises(ConfigError, match="key_size"):
            generate_keypair(bad)  # type: ignore[arg-type]


def test_2048_round_trip() -> None:
    pk, sk = generate_keypair(2048)
    x = np.array([0.1, -2.5, 1e6, -1e-6, 0.0])
    ev = pk.encrypt(x)
    assert pk.key_size == 2048 and pk.ciphertext_bytes == 512
    assert np.allclose(sk.decrypt(ev), x, rtol=0, atol=2**-33)
    assert sk.decrypt(sk.encrypt(np.array([-7, 9]))).tolist() == [-7, 9]


def test_fingerprint_and_dict_round_trip(pk: PaillierPublicKey) -> None:
    n = int(pk.n)
    expected = __import__("hashlib").sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()[:32]
    assert pk.fingerprint == expected == fingerprint_of(n)
    d = pk.to_dict()
    assert d == {"n": format(n, "x")}
    again = PaillierPublicKey.from_dict(d)
    assert again == pk and again.fingerprint == pk.fingerprint and hash(again) == hash(pk)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {},
        {"n": 12},
        {"n": "zz"},
        {"n": format(2**1100, "x")},  # even
        {"n": format(2**1000 + 1, "x")},  # too small
        {"n": format(2**8200 + 1, "x")},  # too large
        {"n": "f" * 5000},
    ],
)
def test_from_dict_validates(bad: object) -> None:
    with pytest.raises(CryptoError):
        PaillierPublicKey.from_dict(bad)


def test_crt_encryption_decrypts_the_same(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    x = np.array([1.25, -3.5, 0.0, 42.0])
    a, b = pk.encrypt(x), sk.encrypt(x)
    assert sk.decrypt(a).tolist() == sk.decrypt(b).tolist() == x.tolist()
    assert sk.decrypt(a + b).tolist() == (2 * x).tolist()
    assert set(a.ciphertexts).isdisjoint(b.ciphertexts)


def test_freshness_same_value_different_ciphertexts(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.zeros(50))
    evk = sk.encrypt(np.zeros(50))
    assert len(set(ev.ciphertexts) | set(evk.ciphertexts)) == 100
    assert sk.decrypt(ev).tolist() == [0.0] * 50


def test_encrypt_ints_raw(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    big = int(pk.n) - 1
    ev = pk.encrypt_ints([0, 5, big])
    assert ev.frac_bits == 0
    assert sk.decrypt_packed_raw(ev) == [0, 5, big]
    with pytest.raises(CryptoError):
        pk.encrypt_ints([int(pk.n)])
    with pytest.raises(CryptoError):
        pk.encrypt_ints([-1])


def test_decrypt_with_wrong_key(pk: PaillierPublicKey, other_keypair: tuple) -> None:
    _, other_sk = other_keypair
    with pytest.raises(KeyMismatchError):
        other_sk.decrypt(pk.encrypt(np.array([1.0])))


def test_private_key_validates_factors(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    with pytest.raises(CryptoError):
        PaillierPrivateKey(pk, int(sk.p), int(sk.p))
    assert "p=" not in repr(sk) and str(int(sk.p)) not in repr(sk)


def test_empty_vector(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.array([], dtype=np.float64))
    assert len(ev) == 0 and isinstance(ev, EncryptedVector)
    assert sk.decrypt(ev).shape == (0,)


def test_public_key_survives_a_local_process_boundary(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    # a party's own compute workers may receive keys and vectors; private keys never move
    import copy
    import pickle

    pk2 = pickle.loads(pickle.dumps(pk))
    assert pk2 == pk and pk2.obfuscator.h != pk.obfuscator.h  # fresh local base
    ev = pickle.loads(pickle.dumps(pk.encrypt(np.array([2.5]))))
    assert sk.decrypt(ev).tolist() == [2.5]
    with pytest.raises(TypeError, match="never leaves"):
        pickle.dumps(sk)
    with pytest.raises(TypeError):
        copy.deepcopy(sk)
