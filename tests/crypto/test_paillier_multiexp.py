"""Kernels: batch inversion and bucket multi-exponentiation against the naive computation."""

from __future__ import annotations

import gmpy2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedloom.crypto.paillier.multiexp import (
    batch_invert,
    best_window,
    multi_exp,
    signed_digit_multi_exp,
    signed_multi_exp,
    signed_window,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

M = gmpy2.mpz(2**127 - 1) * gmpy2.mpz(2**89 - 1)


@FAST
@given(st.lists(st.integers(1, 2**200), min_size=1, max_size=30))
def test_batch_invert(values: list[int]) -> None:
    vals = [gmpy2.mpz(v) % M or gmpy2.mpz(1) for v in values]
    vals = [v if gmpy2.gcd(v, M) == 1 else gmpy2.mpz(3) for v in vals]
    assert batch_invert(vals, M) == [gmpy2.invert(v, M) for v in vals]


@FAST
@given(st.lists(st.tuples(st.integers(2, 2**100), st.integers(-(2**40), 2**40)), min_size=1, max_size=60))
def test_signed_multi_exp(terms: list[tuple[int, int]]) -> None:
    bases = [gmpy2.mpz(b) for b, _ in terms]
    ks = np.array([k for _, k in terms], dtype=np.int64)
    invs = batch_invert(bases, M)
    expect = gmpy2.mpz(1)
    for b, k in zip(bases, ks.tolist(), strict=True):
        expect = expect * gmpy2.powmod(b, k, M) % M
    assert signed_multi_exp(bases, invs, ks, M) == expect
    if (ks >= 0).all():
        assert multi_exp(bases, np.arange(len(bases)), ks, M) == expect


def test_best_window_grows_with_terms() -> None:
    assert best_window(1, 24) <= best_window(100, 24) <= best_window(50_000, 24)
    # the [d]ᵀX gradient: 50k rows, ~27-bit multipliers -> about 3 modmuls per term, not ~28
    w = best_window(50_000, 27)
    assert -(-27 // w) * (50_000 + 2 ** (w + 1)) / 50_000 < 3.1
    assert multi_exp([gmpy2.mpz(5)], np.array([0]), np.array([0]), M) == 1


@FAST
@given(st.lists(st.tuples(st.integers(2, 2**100), st.integers(-(2**61), 2**61)), min_size=1, max_size=60))
def test_signed_digit_multi_exp(terms: list[tuple[int, int]]) -> None:
    bases = [gmpy2.mpz(b) for b, _ in terms]
    ks = np.array([k for _, k in terms], dtype=np.int64)
    expect = gmpy2.mpz(1)
    for b, k in zip(bases, ks.tolist(), strict=True):
        expect = expect * gmpy2.powmod(b, k, M) % M
    assert signed_digit_multi_exp(bases + batch_invert(bases, M), ks, M) == expect


def test_signed_window_fits_the_gradient() -> None:
    # [d]ᵀX: 35k rows, standardised features at 2^23 -> two 13-bit signed windows, < 2.6 modmuls/term
    k = np.rint(np.ldexp(np.random.default_rng(0).standard_normal(35_000), 23)).astype(np.int64)
    assert signed_window(k) in (12, 13, 14)
    assert signed_window(np.zeros(3, dtype=np.int64)) == 1
    assert signed_digit_multi_exp([gmpy2.mpz(5), gmpy2.mpz(3)], np.array([0]), M) == 1
