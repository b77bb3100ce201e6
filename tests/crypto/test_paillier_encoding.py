"""Fixed-point encoding: round trips, scales, sign convention, overflow detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedloom.core.errors import CryptoError, DecryptionOverflowError
from fedloom.crypto.paillier import DEFAULT_FRAC_BITS
from fedloom.crypto.paillier.encoding import (
    as_vector,
    centre,
    check_frac_bits,
    decode,
    encode_multipliers,
    to_fixed,
    to_residues,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
N = 2**1023 + 12345  # an odd stand-in modulus (encoding never needs the factors)


@FAST
@given(st.lists(finite, min_size=1, max_size=20), st.integers(1, 60))
def test_float_round_trip_within_half_step(xs: list[float], f: int) -> None:
    # Prepare
    arr = np.asarray(xs, dtype=np.float64)
    # Execute
    back = decode(centre(to_residues(to_fixed(arr, f), N), N), f)
    # Assert: rounding to the grid costs at most half a step 2^-f; the final division is
    # correctly rounded (at most half an ulp of the result).
    assert back.dtype == np.float64
    assert np.all(np.abs(back - arr) <= 2.0 ** -(f + 1) + np.abs(arr) * 2.0**-53)


@FAST
@given(st.lists(st.integers(-(2**200), 2**200), min_size=1, max_size=20), st.integers(0, 40))
def test_int_round_trip_is_exact(xs: list[int], f: int) -> None:
    signed = to_fixed(as_vector(np.asarray(xs, dtype=object)), f)
    assert signed == [v << f for v in xs]
    assert centre(to_residues(signed, N), N) == signed


def test_negatives_live_in_upper_third() -> None:
    res = to_residues([-1, 5, -(N // 3)], N)
    assert res == [N - 1, 5, N - N // 3]
    assert centre(res, N) == [-1, 5, -(N // 3)]


def test_middle_third_raises_overflow() -> None:
    with pytest.raises(DecryptionOverflowError):
        centre([N // 3 + 1], N)
    with pytest.raises(DecryptionOverflowError):
        centre([N - N // 3 - 1], N)


def test_encoding_out_of_range_refused() -> None:
    with pytest.raises(CryptoError, match="encodable range"):
        to_residues([N // 3 + 1], N)


def test_defaults_floats_32_bits_ints_0() -> None:
    assert DEFAULT_FRAC_BITS == 32
    assert to_fixed(as_vector(np.array([1.5])), 32) == [3 << 31]
    assert to_fixed(as_vector(np.array([7])), 0) == [7]


def test_round_half_to_even_and_huge_scale_exact() -> None:
    assert to_fixed(np.array([0.5, 1.5, 2.5, -0.5]), 0) == [0, 2, 2, 0]
    # 2^1100 overflows float64 scaling: the exact path takes over
    assert to_fixed(np.array([0.75]), 1100) == [3 << 1098]


def test_decode_ints_and_objects() -> None:
    assert decode([1, -2], 0).dtype == np.int64
    big = decode([2**70, -1], 0)
    assert big.dtype == object and big[0] == 2**70
    assert decode([3 << 31], 32).tolist() == [1.5]


def test_multiplier_encoding() -> None:
    ks, extra = encode_multipliers(np.array([0.5, -0.25]))
    assert (ks, extra) == ([2**22, -(2**21)], 23)
    assert encode_multipliers(np.array([3, -4])) == ([3, -4], 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_refused(bad: float) -> None:
    with pytest.raises(CryptoError, match="NaN or infinite"):
        to_fixed(np.array([1.0, bad]), 8)


@pytest.mark.parametrize("bad", [-1, 5000, 1.5, True, "3"])
def test_frac_bits_validated(bad: object) -> None:
    with pytest.raises(CryptoError, match="frac_bits"):
        check_frac_bits(bad)


def test_as_vector_shapes() -> None:
    assert as_vector(3.0).shape == (1,)
    with pytest.raises(CryptoError, match="1-D"):
        as_vector(np.zeros((2, 2)))
    with pytest.raises(CryptoError, match="dtype"):
        as_vector(np.array(["a"]))
