"""Homomorphic identities of EncryptedVector, checked against numpy / exact integer arithmetic."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedloom.core.errors import CryptoError, DecryptionOverflowError, KeyMismatchError
from fedloom.crypto.paillier import EncryptedVector, PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier.encoding import to_fixed

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
ints = st.integers(min_value=-(2**40), max_value=2**40)
F = 32


def fixed(x: np.ndarray, f: int = F) -> list[int]:
    return to_fixed(np.asarray(x), f)


def vec(draw_len: int = 12) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, st.integers(1, draw_len), elements=floats)


# -- addition family -------------------------------------------------------------------------------
@FAST
@given(st.data())
def test_add_sub_neg_exact_in_fixed_point(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject
) -> None:
    x = data.draw(vec())
    y = data.draw(hnp.arrays(np.float64, len(x), elements=floats))
    ex, ey = pk.encrypt(x), pk.encrypt(y)
    fx, fy = fixed(x), fixed(y)
    assert sk.decrypt_raw(ex + ey) == [a + b for a, b in zip(fx, fy, strict=True)]
    assert sk.decrypt_raw(ex - ey) == [a - b for a, b in zip(fx, fy, strict=True)]
    assert sk.decrypt_raw(-ex) == [-a for a in fx]
    assert sk.decrypt_raw(ex + y) == [a + b for a, b in zip(fx, fy, strict=True)]  # plaintext add
    assert sk.decrypt_raw(y + ex) == [a + b for a, b in zip(fx, fy, strict=True)]  # ndarray + ev
    assert sk.decrypt_raw(ex - y) == [a - b for a, b in zip(fx, fy, strict=True)]
    assert sk.decrypt_raw(y - ex) == [b - a for a, b in zip(fx, fy, strict=True)]


def test_add_scalar_and_broadcast(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.array([1.0, -2.0, 3.5]))
    assert sk.decrypt(ev + 1.5).tolist() == [2.5, -0.5, 5.0]
    assert sk.decrypt(2 + ev).tolist() == [3.0, 0.0, 5.5]
    assert sk.decrypt(np.float64(0.5) + ev).tolist() == [1.5, -1.5, 4.0]


def test_add_aligns_scales(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    a = pk.encrypt(np.array([1.5, -2.25]), frac_bits=8)
    b = pk.encrypt(np.array([0.001, 3.0]), frac_bits=40)
    c = a + b
    assert c.frac_bits == 40
    assert sk.decrypt_raw(c) == [(3 << 39) + fixed([0.001], 40)[0], -(9 << 38) + (3 << 40)]
    i = pk.encrypt(np.array([1, 2]))
    assert sk.decrypt(i + a).tolist() == [2.5, -0.25]
    assert sk.decrypt(i + 0.25).tolist() == [1.25, 2.25]  # an int vector is lifted for real floats
    assert (i + 3).frac_bits == 0


# -- multiplication --------------------------------------------------------------------------------
@FAST
@given(st.data())
def test_scalar_multiply(pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject) -> None:
    x = data.draw(vec())
    k = data.draw(st.integers(-(2**30), 2**30))
    s = data.draw(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False))
    ev = pk.encrypt(x)
    fx = fixed(x)
    assert sk.decrypt_raw(ev * k) == [a * k for a in fx]
    assert sk.decrypt_raw(k * ev) == [a * k for a in fx]
    assert sk.decrypt_raw(ev * np.int32(k % 1000)) == [a * (k % 1000) for a in fx]
    assert sk.decrypt_raw(np.int64(k) * ev) == [a * k for a in fx]
    es = ev * s
    ks = fixed([s], 23)[0]
    assert es.frac_bits == F + 23
    assert sk.decrypt_raw(es) == [a * ks for a in fx]
    assert sk.decrypt_raw(s * ev) == [a * ks for a in fx]


@FAST
@given(st.data())
def test_elementwise_multiply(pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject) -> None:
    x = data.draw(vec())
    m_int = data.draw(hnp.arrays(np.int64, len(x), elements=st.integers(-(2**20), 2**20)))
    m_flt = data.draw(hnp.arrays(np.float64, len(x), elements=st.floats(-100, 100)))
    ev = pk.encrypt(x)
    fx = fixed(x)
    assert sk.decrypt_raw(ev * m_int) == [a * int(b) for a, b in zip(fx, m_int, strict=True)]
    assert sk.decrypt_raw(m_int * ev) == [a * int(b) for a, b in zip(fx, m_int, strict=True)]
    out = ev * m_flt
    assert out.frac_bits == F + 23
    assert sk.decrypt_raw(out) == [a * b for a, b in zip(fx, fixed(m_flt, 23), strict=True)]
    # the low-precision path stays within its stated tolerance of the float product
    tol = np.abs(x) * 2.0**-24 + 2.0**-33 * np.abs(m_flt) + 1e-9
    assert np.all(np.abs(sk.decrypt(out) - x * m_flt) <= tol)


def test_multiply_by_zero_one_and_negative_one(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.array([3, -4]))
    assert sk.decrypt(ev * 0).tolist() == [0, 0]
    assert sk.decrypt(ev * 1).tolist() == [3, -4]
    assert sk.decrypt(ev * -1).tolist() == [-3, 4]
    assert sk.decrypt(ev * np.array([True, False])).tolist() == [3, 0]


def test_two_ciphertexts_cannot_be_multiplied(pk: PaillierPublicKey) -> None:
    ev = pk.encrypt(np.array([1.0]))
    with pytest.raises(CryptoError, match="multiply two ciphertexts"):
        ev * ev


# -- dot, segment sums, sum ------------------------------------------------------------------------
@FAST
@given(st.data())
def test_dot_matches_exact_integer_product(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject
) -> None:
    n_rows = data.draw(st.integers(1, 40))
    n_cols = data.draw(st.integers(1, 4))
    x = data.draw(hnp.arrays(np.float64, n_rows, elements=floats))
    mat = data.draw(hnp.arrays(np.float64, (n_rows, n_cols), elements=st.floats(-50, 50)))
    ev = pk.encrypt(x)
    out = ev.dot(mat)
    fx = fixed(x)
    fm = np.asarray(fixed(mat.ravel(), 23), dtype=object).reshape(mat.shape)
    expect = [sum(a * int(fm[i, j]) for i, a in enumerate(fx)) for j in range(n_cols)]
    assert out.frac_bits == F + 23 and len(out) == n_cols
    assert sk.decrypt_raw(out) == expect


def test_dot_against_numpy_with_stated_tolerance(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    rng = np.random.default_rng(7)
    d = rng.normal(size=300)
    x = rng.normal(size=(300, 5))
    got = sk.decrypt(pk.encrypt(d).dot(x))
    # each entry of x is rounded to 2^-24 at most, each d to 2^-33: |error| <= Σ|d|·2^-24 + Σ|x|·2^-33
    tol = np.abs(d).sum() * 2.0**-24 + np.abs(x).sum(axis=0) * 2.0**-33
    assert np.all(np.abs(got - d @ x) <= tol)
    ints = rng.integers(-1000, 1000, size=(300, 3))
    di = rng.integers(-(10**6), 10**6, size=300)
    assert sk.decrypt(pk.encrypt(di).dot(ints)).tolist() == (di @ ints).tolist()
    assert sk.decrypt(pk.encrypt(di) @ ints[:, 0]).tolist() == [int(di @ ints[:, 0])]


def test_dot_with_large_multipliers_uses_exact_fallback(
    pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:
    x = np.array([1, -2, 3])
    big = np.array([[2**70], [-(2**65)], [5]], dtype=object)
    assert sk.decrypt_raw(pk.encrypt(x).dot(big)) == [2**70 + 2 * 2**65 + 15]
    extreme = np.array([[-(2**63)], [2**63 - 1], [0]], dtype=np.int64)
    assert sk.decrypt_raw(pk.encrypt(x).dot(extreme)) == [-(2**63) - 2 * (2**63 - 1)]
    assert sk.decrypt_raw(pk.encrypt(x).dot(np.array([[4], [5], [6]], dtype=object))) == [12]


@FAST
@given(st.data())
def test_segment_sum_matches_bincount(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject
) -> None:

    x = data.draw(hnp.arrays(np.int64, st.integers(1, 40), elements=ints))
    n_seg = data.draw(st.integers(1, 6))
    seg = data.draw(hnp.arrays(np.int64, len(x), elements=st.integers(0, n_seg - 1)))
    ev = pk.encrypt(x)
    expect = [sum(int(v) for v, s in zip(x, seg, strict=True) if s == j) for j in range(n_seg)]
    got = sk.decrypt_raw(ev.segment_sum(seg, n_seg))
    assert got == expect
    small = (x % 1000).astype(np.int64)
    assert (
        sk.decrypt(pk.encrypt(small).segment_sum(seg, n_seg)).tolist()
        == np.bincount(seg, weights=small, minlength=n_seg).astype(np.int64).tolist()
    )
    assert sk.decrypt_raw(ev.sum()) == [sum(int(v) for v in x)]


def test_segment_sum_validates(pk: PaillierPublicKey) -> None:
    ev = pk.encrypt(np.array([1, 2, 3]))
    with pytest.raises(CryptoError, match="length mismatch"):
        ev.segment_sum(np.array([0, 1]), 2)
    with pytest.raises(CryptoError, match=r"\[0, 2\)"):
        ev.segment_sum(np.array([0, 1, 2]), 2)
    with pytest.raises(CryptoError):
        ev.segment_sum(np.array([0.0, 1.0, 1.0]), 2)


# -- overflow, keys and lengths --------------------------------------------------------------------
def test_overflow_raised_not_wrapped(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    near = int(pk.max_int) - 10
    ev = pk.encrypt(np.array([near], dtype=object))
    assert sk.decrypt_raw(ev) == [near]
    with pytest.raises(DecryptionOverflowError):
        sk.decrypt(ev + ev)
    with pytest.raises(DecryptionOverflowError):
        sk.decrypt(-ev - ev)
    with pytest.raises(DecryptionOverflowError):
        sk.decrypt(ev * 2)


def test_key_mismatch(pk: PaillierPublicKey, other_keypair: tuple) -> None:
    other_pk, _ = other_keypair
    a, b = pk.encrypt(np.array([1.0])), other_pk.encrypt(np.array([1.0]))
    for op in (lambda: a + b, lambda: a - b, lambda: EncryptedVector.concat([a, b])):
        with pytest.raises(KeyMismatchError):
            op()


def test_length_mismatch_names_both_lengths(pk: PaillierPublicKey) -> None:
    a, b = pk.encrypt(np.zeros(3)), pk.encrypt(np.zeros(4))
    with pytest.raises(CryptoError, match="3 and 4"):
        a + b
    with pytest.raises(CryptoError, match="3 and 4"):
        a - b
    with pytest.raises(CryptoError, match="3 and 2"):
        a * np.array([1, 2])
    with pytest.raises(CryptoError, match="3 and 5"):
        a.dot(np.zeros((5, 2)))


# -- indexing, concat, serialisation, obfuscation --------------------------------------------------
def test_indexing_and_concat(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    x = np.array([0.5, 1.5, -2.5, 4.0])
    ev = pk.encrypt(x)
    assert sk.decrypt(ev[1]).tolist() == [1.5]
    assert sk.decrypt(ev[-1]).tolist() == [4.0]
    assert sk.decrypt(ev[1:3]).tolist() == [1.5, -2.5]
    assert sk.decrypt(ev[np.array([3, 0])]).tolist() == [4.0, 0.5]
    assert sk.decrypt(ev[x > 1]).tolist() == [1.5, 4.0]
    with pytest.raises(IndexError):
        ev[4]
    with pytest.raises(IndexError):
        ev[np.array([True])]
    ints = pk.encrypt(np.array([7]))
    both = EncryptedVector.concat([ev, ints])
    assert both.frac_bits == F and sk.decrypt(both).tolist() == [*x.tolist(), 7.0]
    assert len(both) == 5 and both.shape == (5,)


def test_bytes_round_trip(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.array([1.25, -7.0, 0.0]))
    buf = ev.to_bytes()
    assert len(buf) == 3 * pk.ciphertext_bytes
    back = EncryptedVector.from_bytes(pk, memoryview(buf), ev.frac_bits)
    assert back.ciphertexts == ev.ciphertexts
    assert sk.decrypt(pk.from_bytes(bytearray(buf), F)).tolist() == [1.25, -7.0, 0.0]
    assert len(EncryptedVector.from_bytes(pk, b"", 0)) == 0


def test_from_bytes_rejects_bad_buffers(pk: PaillierPublicKey) -> None:
    w = pk.ciphertext_bytes
    with pytest.raises(CryptoError, match="multiple"):
        EncryptedVector.from_bytes(pk, b"\x01" * (w + 1), 0)
    with pytest.raises(CryptoError, match="not in"):
        EncryptedVector.from_bytes(pk, int(pk.nsquare).to_bytes(w, "big"), 0)
    with pytest.raises(CryptoError, match="not in"):
        EncryptedVector.from_bytes(pk, bytes(w), 0)
    with pytest.raises(CryptoError, match="frac_bits"):
        EncryptedVector.from_bytes(pk, (1).to_bytes(w, "big"), -1)


def test_obfuscate_rerandomises_in_place(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    ev = pk.encrypt(np.array([1.0, 2.0])).segment_sum(np.array([0, 0]), 3)  # segment 1, 2 are trivial "1"
    before = ev.ciphertexts
    assert before[1] == 1
    same = ev.obfuscate()
    assert same is ev
    after = ev.ciphertexts
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert sk.decrypt(ev).tolist() == [3.0, 0.0, 0.0]


def test_rerandomize_keeps_plaintexts_and_makes_the_randomness_uniform(
    pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:
    # Prepare: ciphertexts whose randomness is all fixed-base (Jacobi symbol +1, as h = −x²)
    ev = pk.encrypt(np.linspace(-3.0, 3.0, 200))
    n = int(pk.n)
    assert all(gmpy2.jacobi(int(c) % n, n) == 1 for c in ev.ciphertexts)
    # Execute
    fresh = ev.rerandomize()
    # Assert: same plaintexts and scale, a new vector, every ciphertext changed
    assert fresh is not ev and fresh.frac_bits == ev.frac_bits
    np.testing.assert_array_equal(sk.decrypt(fresh), sk.decrypt(ev))
    assert not set(fresh.ciphertexts) & set(ev.ciphertexts)
    # c·rⁿ: the quotient by the old ciphertext is an n-th residue (its n-th root exists mod n²)
    ratio = fresh.ciphertexts[0] * gmpy2.invert(ev.ciphertexts[0], pk.nsquare) % pk.nsquare
    lam = (sk.p - 1) * (sk.q - 1)
    assert gmpy2.powmod(ratio, lam, pk.nsquare) == 1
    # the Jacobi symbol of the randomness (a character the key owner knows) is now a fair coin
    minus = sum(gmpy2.jacobi(int(c) % n, n) == -1 for c in fresh.ciphertexts)
    assert 60 < minus < 140  # Binomial(200, ½): outside has p < 1e-8
    assert len(ev[:0].rerandomize()) == 0


def test_rerandomize_in_parallel_equals_sequential_plaintexts(
    pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:
    from fedloom.crypto.paillier import set_num_workers

    ev = pk.encrypt(np.arange(150, dtype=np.int64))
    set_num_workers(2)
    fresh = ev.rerandomize()
    assert sk.decrypt(fresh).tolist() == list(range(150))


def test_invalid_ciphertext_reported(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    bad = EncryptedVector(pk, [sk.p * 7], 0)  # shares a factor with n: not invertible
    with pytest.raises(CryptoError, match="not invertible"):
        -bad  # noqa: B018
