"""SenderObfuscator: cheap re-randomisation towards the key owner (fedloom.crypto.paillier.sender)."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import ConfigError, KeyMismatchError
from fedloom.crypto.paillier import PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier import plain as plain_cipher
from fedloom.crypto.paillier.sender import SenderObfuscator


@pytest.fixture(scope="module")
def sender(pk: PaillierPublicKey) -> SenderObfuscator:
    obf = SenderObfuscator(pk)
    obf.precompute()
    return obf


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=-(2**60), max_value=2**60), min_size=1, max_size=12))
def test_plaintexts_unchanged_ciphertexts_fresh(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, sender: SenderObfuscator, values: list[int]
) -> None:
    ev = pk.encrypt(np.array(values, dtype=object), 0)
    out = ev.rerandomize(obfuscator=sender)
    assert sk.decrypt_raw(out) == values
    assert out.frac_bits == ev.frac_bits
    assert all(a != b for a, b in zip(out.ciphertexts, ev.ciphertexts, strict=True))
    again = ev.rerandomize(obfuscator=sender)
    assert all(a != b for a, b in zip(out.ciphertexts, again.ciphertexts, strict=True))


def test_factors_are_nth_residues(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, sender: SenderObfuscator
) -> None:
    # An n-th residue is an encryption of 0; every factor distinct.
    factors = sender.draw(64)
    ev = type(pk.encrypt(np.zeros(1, dtype=np.int64), 0))(pk, factors, 0)
    assert sk.decrypt_raw(ev) == [0] * 64
    assert len(set(int(f) for f in factors)) == 64


def test_base_is_the_senders_own(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, sender: SenderObfuscator
) -> None:
    other = SenderObfuscator(pk)
    assert sender.base != other.base
    assert sender.base not in (pk.obfuscator.hs, sk.obfuscator.hs)
    # Not in the key owner's DJN subgroup <h_s> of Jacobi symbol 1 either (with prob. 1/2 per
    # base, so look at 40 factors: their Jacobi symbols take both values).
    n = pk.n
    symbols = {gmpy2.jacobi(f % n, n) for f in sender.draw(40)}
    assert symbols == {1, -1}


def test_small_order_characters_are_uniform_for_the_key_owner(
    sk: PaillierPrivateKey, sender: SenderObfuscator
) -> None:
    """The key owner's view: the Legendre symbols mod p and mod q of the randomness (characters
    a fixed-base DJN obfuscator leaves unchanged) take all four combinations about equally."""
    p, q = int(sk.p), int(sk.q)
    counts: dict[tuple[int, int], int] = {}
    for f in sender.draw(400):
        key = (gmpy2.legendre(f % p, p), gmpy2.legendre(f % q, q))
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) == {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert min(counts.values()) > 60  # 100 expected each; 60 is > 4.5 standard deviations off
    # Whereas the DJN public obfuscator stays in Jacobi symbol 1: two of the four combinations.
    djn = {(gmpy2.legendre(f % p, p), gmpy2.legendre(f % q, q)) for f in sk.public_key.obfuscator.draw(40)}
    assert djn <= {(1, 1), (-1, -1)}


def test_other_key_refused(sender: SenderObfuscator, other_keypair: tuple) -> None:
    ev = other_keypair[0].encrypt(np.array([1.0]))
    with pytest.raises(KeyMismatchError):
        ev.rerandomize(obfuscator=sender)


def test_bad_subset_bits_refused(pk: PaillierPublicKey) -> None:
    with pytest.raises(ConfigError):
        SenderObfuscator(pk, subset_bits=100)


def test_plain_cipher_accepts_and_ignores() -> None:
    ppk, psk = plain_cipher.generate_keypair(1024)
    v = ppk.encrypt(np.array([1.5, -2.0]))
    assert list(psk.decrypt(v.rerandomize(obfuscator=None))) == [1.5, -2.0]
