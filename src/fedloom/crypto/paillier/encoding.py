r"""Fixed-point encoding of real and integer vectors into Paillier plaintexts (Z_n).

A real value :math:`x` with ``frac_bits = f`` becomes the integer :math:`\mathrm{round}(x \cdot 2^f)`
(round half to even, exact: scaling a float by a power of two loses nothing), reduced mod
:math:`n`. One ``f`` per vector, so adding two vectors of the same scale is a plain
ciphertext product with no per-element exponent alignment.

Sign and overflow
-----------------
Let :math:`B = \lfloor n/3 \rfloor`. A plaintext :math:`m \in [0, n)` decodes to

* :math:`m` when :math:`m \le B` (non-negative values),
* :math:`m - n` when :math:`m \ge n - B` (negative values live in the upper third),
* anything in between raises :class:`~fedloom.core.errors.DecryptionOverflowError`.

A homomorphic computation that stays inside :math:`[-B, B]` therefore decodes exactly, and one
that leaves it by less than :math:`B` (the sum of two in-range values, for instance) lands in the
forbidden middle third and is reported, never silently wrapped. Encoding refuses values outside
:math:`[-B, B]` (:class:`~fedloom.core.errors.CryptoError`).

Scales
------
* ``DEFAULT_FRAC_BITS = 32``: float vectors are encoded with 32 fractional bits (absolute
  rounding error at most :math:`2^{-33}`; with 2048-bit keys the range is about :math:`2^{2013}`
  times larger than any float, so products with several multipliers still fit).
* Integer vectors use ``frac_bits = 0`` (exact).
* ``MUL_PRECISION_BITS = 23``: a *float multiplier* (a feature value in :math:`[\,\cdot\,]\cdot x`)
  is encoded with :math:`2^{23}` precision, the low-precision path: the exponent in
  :math:`c^k` has about 23 + log2|x| bits instead of 53+, which halves the cost of a scalar
  multiplication or a dot product; the product's scale is ``f + 23``. Integer multipliers add 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fedloom.core.errors import CryptoError, DecryptionOverflowError

#: Fractional bits of a float vector when the caller does not choose (one scale per vector).
DEFAULT_FRAC_BITS = 32
#: Fractional bits of a float multiplier (low-precision scalar multiply / dot product).
MUL_PRECISION_BITS = 23
#: Upper bound accepted for ``frac_bits`` (also when it arrives from another party).
MAX_FRAC_BITS = 4096

_INT64_MAX = 2**63 - 1


def check_frac_bits(frac_bits: Any) -> int:
    """Return ``frac_bits`` as an int after checking it lies in ``[0, MAX_FRAC_BITS]``."""
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise CryptoError(f"frac_bits must be an int in [0, {MAX_FRAC_BITS}]. Got {frac_bits!r}.")
    f = int(frac_bits)
    if not 0 <= f <= MAX_FRAC_BITS:
        raise CryptoError(f"frac_bits must be an int in [0, {MAX_FRAC_BITS}]. Got {f}.")
    return f


def as_vector(x: Any) -> np.ndarray:
    """``x`` as a 1-D numpy array (a scalar becomes length 1); anything else is refused."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise CryptoError(f"expected a 1-D array of values, got shape {arr.shape}")
    if arr.dtype.kind == "O":
        if all(isinstance(v, int | np.integer) for v in arr.tolist()):
            return arr
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise CryptoError(f"cannot encode values of type {type(arr[0]).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise CryptoError(f"cannot encode an array of dtype {arr.dtype}; expected ints or floats")
    return arr


def is_int_array(arr: np.ndarray) -> bool:
    """True when ``arr`` holds integers (bool, int, uint or Python ints in an object array)."""
    return arr.dtype.kind in "biuO"


def _round_scaled_exact(v: float, f: int) -> int:
    """round(v · 2^f), half to even, exact for any f (slow path for huge scales)."""
    num, den = float(v).as_integer_ratio()
    q, r = divmod(num << f, den)
    twice = 2 * r
    if twice > den or (twice == den and q & 1):
        q += 1
    return q


def to_fixed(arr: np.ndarray, frac_bits: int) -> list[int]:
    """Signed fixed-point integers ``round(x · 2^frac_bits)`` of a 1-D array (exact for ints)."""
    f = frac_bits
    if is_int_array(arr):
        vals = [int(v) for v in arr.tolist()]
        return [v << f for v in vals] if f else vals
    x = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(x)):
        raise CryptoError("cannot encode NaN or infinite values")
    with np.errstate(over="ignore"):
        scaled = np.rint(np.ldexp(x, f))
    if np.all(np.isfinite(scaled)):
        return [int(v) for v in scaled.tolist()]
    return [_round_scaled_exact(v, f) for v in x.tolist()]


def encode_multipliers(arr: np.ndarray, precision_bits: int = MUL_PRECISION_BITS) -> tuple[list[int], int]:
    """Plaintext multipliers and the scale they add: ints exactly (+0), floats at ``2^precision_bits``."""
    if is_int_array(arr):
        return to_fixed(arr, 0), 0
    return to_fixed(arr, precision_bits), precision_bits


def to_residues(signed: Iterable[int], n: int) -> list[int]:
    """Map signed integers into Z_n, refusing any value outside ``[-n//3, n//3]``."""
    bound = n // 3
    out = []
    for v in signed:
        if v > bound or v < -bound:
            raise CryptoError(
                f"a value of {abs(v).bit_length()} bits (after fixed-point scaling) does not fit the "
                f"encodable range [-n/3, n/3] of a {n.bit_length()}-bit key"
            )
        out.append(v % n)
    return out


def centre(residues: Iterable[Any], n: int) -> list[int]:
    """Signed values of plaintexts in [0, n): upper third negative, middle third an overflow."""
    n = int(n)
    bound = n // 3
    low_neg = n - bound
    out = []
    for m in residues:
        m = int(m)
        if m <= bound:
            out.append(m)
        elif m >= low_neg:
            out.append(m - n)
        else:
            raise DecryptionOverflowError(
                "a decrypted value left the encodable range [-n/3, n/3]: the homomorphic "
                "computation overflowed (use fewer fractional bits, smaller values or a larger key)"
            )
    return out


def decode(signed: list[int], frac_bits: int) -> np.ndarray:
    """Decode signed fixed-point integers: floats ``v / 2^f``, or ints when ``frac_bits == 0``.

    Integer results are ``int64`` when they all fit, else an object array of Python ints.
    Float results are correctly rounded (Python's exact int / int division).
    """
    if frac_bits == 0:
        if all(-_INT64_MAX <= v <= _INT64_MAX for v in signed):
            return np.asarray(signed, dtype=np.int64)
        out = np.empty(len(signed), dtype=object)
        out[:] = signed
        return out
    scale = 1 << frac_bits
    try:
        return np.asarray([v / scale for v in signed], dtype=np.float64)
    except OverflowError as exc:
        raise DecryptionOverflowError(
            f"a decrypted value does not fit a float64 at scale 2^-{frac_bits}"
        ) from exc


__all__ = [
    "DEFAULT_FRAC_BITS",
    "MAX_FRAC_BITS",
    "MUL_PRECISION_BITS",
    "as_vector",
    "centre",
    "check_frac_bits",
    "decode",
    "encode_multipliers",
    "is_int_array",
    "to_fixed",
    "to_residues",
]
