"""Fixed-point encoding of real vectors into the ring Z_{2^64}, and back.

``encode(x) = round(x · 2^f) mod 2^64`` (two's complement: negative values wrap to the top of the
ring); ``decode(u) = signed(u) / 2^f`` where ``signed`` reads ``u`` as an int64. Sums of encodings
are computed with wrapping ``uint64`` addition, so ``decode(Σ encode(x_i))`` is exactly
``Σ round(x_i · 2^f) / 2^f`` as long as the true integer sum stays in ``[-2^63, 2^63)``. Each
client guarantees that by refusing values with ``|x| · 2^f ≥ 2^62 / k`` for ``k`` clients, so
the sum of ``k`` of them is below ``2^62`` in magnitude: overflow is refused, never wrapped silently.

The error of one encoded value is at most ``2^-(f+1)``; of a sum of ``k``, at most ``k · 2^-(f+1)``
(plus one float64 rounding when the integer sum is converted back).
"""

from __future__ import annotations

import numpy as np

from fedloom.core.errors import CryptoError, DataError

__all__ = ["DEFAULT_SCALE_BITS", "decode_fixed", "encode_fixed", "max_abs_value"]

#: Default fixed-point scale: 2^-24 ≈ 6e-8 resolution, |sum| up to 2^39 ≈ 5.5e11.
DEFAULT_SCALE_BITS = 24


def max_abs_value(scale_bits: int, n_clients: int) -> float:
    """Largest ``|x|`` a client may encode so that the sum of ``n_clients`` encodings cannot overflow."""
    return float(2.0 ** (62 - scale_bits) / max(1, n_clients))


def encode_fixed(x: np.ndarray, scale_bits: int, n_clients: int = 1) -> np.ndarray:
    """``round(x · 2^scale_bits)`` as ``uint64`` (two's complement), shape kept.

    Raises
    ------
    DataError
        ``x`` holds NaN or infinity.
    CryptoError
        Some ``|x|`` is too large for a sum of ``n_clients`` values not to overflow.
    """
    if not 0 <= scale_bits <= 52:
        raise CryptoError(f"scale_bits must be in [0, 52]. Got {scale_bits}.")
    arr = np.asarray(x, dtype=np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        raise DataError(f"cannot aggregate a non-finite value (position {bad}: {arr.reshape(-1)[bad]}).")
    limit = max_abs_value(scale_bits, n_clients)
    peak = float(np.abs(arr).max()) if arr.size else 0.0
    if peak >= limit:
        raise CryptoError(
            f"value {peak:.6g} is too large for fixed-point secure aggregation of {n_clients} client(s) "
            f"at scale 2^{scale_bits} (|x| must stay below {limit:.6g}); lower scale_bits"
        )
    return np.rint(arr * float(2**scale_bits)).astype(np.int64).view(np.uint64)


def decode_fixed(u: np.ndarray, scale_bits: int) -> np.ndarray:
    """``signed(u) / 2^scale_bits`` as float64."""
    return np.asarray(u, dtype=np.uint64).view(np.int64).astype(np.float64) / float(2**scale_bits)
