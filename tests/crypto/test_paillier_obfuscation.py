"""DJN obfuscators: comb correctness, CRT equivalence, exponent lengths, background pool."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest

from fedloom.core.errors import ConfigError, KeyMismatchError
from fedloom.crypto.paillier import ObfuscatorPool, PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier.obfuscation import (
    CRTObfuscator,
    FixedBaseTable,
    Obfuscator,
    choose_window,
    digits_to_int,
    exponent_bits_for,
    random_digits,
    security_level,
)


def test_exponent_lengths() -> None:
    assert [security_level(k) for k in (1024, 2048, 3072, 4096, 7680)] == [80, 112, 128, 128, 192]
    assert exponent_bits_for(1024) == 320
    assert exponent_bits_for(2048) == 448
    assert exponent_bits_for(3072) == 512
    assert exponent_bits_for(2048, "djn") == 1024
    assert exponent_bits_for(2048, 600) == 600
    for bad in (100, 4096, "long", True):
        with pytest.raises(ConfigError, match="exponent_bits"):
            exponent_bits_for(2048, bad)  # type: ignore[arg-type]


def test_window_respects_memory_budget() -> None:
    assert choose_window(448, 512) == 9  # 2048-bit keys, default exponent: 13 MB
    assert choose_window(1024, 512) == 8  # DJN exponent at 2048: 16 MB
    assert choose_window(768, 2048) == 6  # 8192-bit keys stay within budget


def test_random_digits_are_uniform_exponents() -> None:
    d = random_digits(2000, 20, 7)
    assert d.shape == (2000, 3) and d.min() >= 0 and d[:, :2].max() < 128 and d[:, 2].max() < 64
    values = np.array([digits_to_int(row, 7) for row in d])
    assert values.max() < 2**20
    # crude uniformity: every top bit and every low bit occurs
    assert 0.4 < np.mean(values >> 19) < 0.6 and 0.4 < np.mean(values & 1) < 0.6


def test_comb_equals_powmod() -> None:
    m = gmpy2.mpz(2**127 - 1)
    table = FixedBaseTable(3, m, 40, 6)
    d = random_digits(30, 40, 6)
    got = table.pow_digits(d)
    assert got == [gmpy2.powmod(3, digits_to_int(row, 6), m) for row in d]


def test_obfuscators_are_nth_residues_of_hs(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    obf = pk.obfuscator
    h = obf.h
    assert gmpy2.jacobi(h, pk.n) == 1  # -x² with Blum primes lies in J_n
    assert obf.hs == gmpy2.powmod(h, pk.n, pk.nsquare)
    d = random_digits(5, obf.exp_bits, obf.window)
    vals = obf.from_digits(d)
    assert vals == [gmpy2.powmod(obf.hs, digits_to_int(row, obf.window), pk.nsquare) for row in d]
    crt = sk.obfuscator
    assert isinstance(crt, CRTObfuscator) and crt.hs == obf.hs
    assert crt.window >= obf.window  # half-size entries: a wider comb in the same memory
    exps = [digits_to_int(row, obf.window) for row in d]
    n_win = -(-crt.exp_bits // crt.window)
    mask = (1 << crt.window) - 1
    d_crt = np.array([[(a >> (crt.window * j)) & mask for j in range(n_win)] for a in exps], dtype=np.int64)
    assert crt.from_digits(d_crt) == vals  # same distribution: the very same values for the same a


def test_djn_exponent_option(sk: PaillierPrivateKey) -> None:
    pk2 = PaillierPublicKey(int(sk.public_key.n), exponent_bits="djn")
    assert pk2.obfuscator.exp_bits == 512
    assert sk.decrypt(pk2.encrypt(np.array([1.5, -2.0]))).tolist() == [1.5, -2.0]
    pk2.configure_obfuscation(exponent_bits=200, window=5)
    assert isinstance(pk2.obfuscator, Obfuscator) and pk2.obfuscator.window == 5
    assert sk.decrypt(pk2.encrypt(np.array([3]))).tolist() == [3]


def test_pool_values_decrypt_and_are_distinct(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    with ObfuscatorPool(pk, capacity=64, batch=16) as pool:
        assert pool.wait_ready(64, timeout=30)
        ev = pk.encrypt(np.zeros(100), pool=pool)  # 64 from the queue, 36 computed inline
        ev2 = pk.encrypt(np.zeros(10), pool=pool)
        again = pk.encrypt(np.array([2.5, -1.0]), pool=pool).obfuscate(pool)
    cs = ev.ciphertexts + ev2.ciphertexts
    assert len(set(cs)) == 110
    assert sk.decrypt(ev).tolist() == [0.0] * 100
    assert sk.decrypt(again).tolist() == [2.5, -1.0]
    assert pool.produced >= 64


def test_key_owner_pool(sk: PaillierPrivateKey) -> None:
    with ObfuscatorPool(sk, capacity=8, batch=4) as pool:
        assert pool.public_key == sk.public_key
        pool.wait_ready(8, timeout=30)
        ev = sk.encrypt(np.array([1, 2, 3]), pool=pool)
    assert sk.decrypt(ev).tolist() == [1, 2, 3]


def test_pool_of_another_key_refused(pk: PaillierPublicKey, other_keypair: tuple) -> None:
    other_pk, _ = other_keypair
    pool = ObfuscatorPool(other_pk, capacity=2, start=False)
    with pytest.raises(KeyMismatchError):
        pk.encrypt(np.zeros(2), pool=pool)
    with pytest.raises(KeyMismatchError):
        pk.encrypt(np.zeros(2)).obfuscate(pool)
    pool.close()


def test_each_encryptor_picks_its_own_base(sk: PaillierPrivateKey) -> None:
    a = PaillierPublicKey(int(sk.public_key.n))
    b = PaillierPublicKey(int(sk.public_key.n))
    assert a.obfuscator.h != b.obfuscator.h
    assert sk.decrypt(a.encrypt(np.array([4])) + b.encrypt(np.array([5]))).tolist() == [9]
