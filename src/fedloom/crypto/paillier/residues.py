"""The container half shared by :class:`EncryptedVector` and :class:`PlainVector`.

Both hold one residue per element, one public key and one fixed-point scale; they differ only in
the arithmetic (ciphertexts multiply where plaintext residues add). Storage, indexing,
concatenation, rescaling, encoding of plaintext operands, key, length and segment checks,
serialisation and the reflected operators live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar

import numpy as np

from fedloom.core.errors import CryptoError, KeyMismatchError
from fedloom.crypto.paillier.encoding import (
    DEFAULT_FRAC_BITS,
    as_vector,
    check_frac_bits,
    is_int_array,
    to_fixed,
    to_residues,
)

K = TypeVar("K")


class ResidueVector(Generic[K]):
    """A 1-D vector of residues under one key ``K`` with one fixed-point scale.

    Parameters
    ----------
    public_key
        The key every element is under.
    values
        The residues (ciphertexts, or plaintext residues for the plain cipher).
    frac_bits
        The scale :math:`f`: element :math:`i` decodes to its plaintext divided by :math:`2^f`.
    """

    __slots__ = ("_c", "_frac", "_pk")
    #: The class as messages name it ("an EncryptedVector").
    _noun = "a vector"
    #: Make ``ndarray + v`` / ``ndarray * v`` defer to this class instead of broadcasting.
    __array_ufunc__ = None

    def __init__(self, public_key: K, values: list[Any], frac_bits: int) -> None:
        self._pk = public_key
        self._c = values
        self._frac = int(frac_bits)

    @property
    def public_key(self) -> K:
        """The key of every element."""
        return self._pk

    @property
    def frac_bits(self) -> int:
        """Fixed-point scale: values are plaintexts divided by ``2**frac_bits``."""
        return self._frac

    @property
    def ciphertexts(self) -> list[Any]:
        """The raw residues (a new list)."""
        return list(self._c)

    @property
    def shape(self) -> tuple[int]:
        """``(len(self),)``."""
        return (len(self._c),)

    def __len__(self) -> int:
        return len(self._c)

    def __repr__(self) -> str:
        fingerprint = getattr(self._pk, "fingerprint", "")[:8]
        return f"{type(self).__name__}(len={len(self._c)}, frac_bits={self._frac}, key={fingerprint})"

    def _new(self, values: list[Any], frac_bits: int | None = None) -> Self:
        return type(self)(self._pk, values, self._frac if frac_bits is None else frac_bits)

    def __getitem__(self, idx: Any) -> Self:
        """Select elements: an int (a length-1 vector), a slice, an int array or a bool mask."""
        cs, name = self._c, type(self).__name__
        if isinstance(idx, int | np.integer) and not isinstance(idx, bool | np.bool_):
            i = int(idx)
            if not -len(cs) <= i < len(cs):
                raise IndexError(f"index {i} out of range for a {name} of length {len(cs)}")
            return self._new([cs[i]])
        if isinstance(idx, slice):
            return self._new(cs[idx])
        arr = np.asarray(idx)
        if arr.dtype == np.bool_:
            if arr.shape != (len(cs),):
                raise IndexError(f"boolean mask of shape {arr.shape} for a {name} of length {len(cs)}")
            return self._new([cs[i] for i in np.flatnonzero(arr).tolist()])
        if arr.dtype.kind in "iu" and arr.ndim <= 1:
            picked = np.arange(len(cs))[arr.reshape(-1)]  # bounds-checked, negatives allowed
            return self._new([cs[i] for i in picked.tolist()])
        raise IndexError(f"cannot index a {name} with {type(idx).__name__} of dtype {arr.dtype}")

    @classmethod
    def concat(cls, vectors: Sequence[Self]) -> Self:
        """Concatenate vectors under one key; scales are aligned to the largest."""
        if not vectors:
            raise CryptoError(f"{cls.__name__}.concat needs at least one vector")
        first = vectors[0]
        for v in vectors[1:]:
            first._check_key(v)
        f = max(v.frac_bits for v in vectors)
        values: list[Any] = []
        for v in vectors:
            values.extend(v.rescale(f)._c)
        return first._new(values, f)

    def rescale(self, frac_bits: int) -> Self:
        """The same values at a larger scale ``frac_bits`` (exact); a lower scale is refused."""
        f = check_frac_bits(frac_bits)
        if f < self._frac:
            raise CryptoError(f"cannot lower the scale of {self._noun} from {self._frac} to {f} bits")
        if f == self._frac:
            return self
        return self._new(self._shifted(f - self._frac), f)

    def _plain_operand(self, other: Any, op: str) -> tuple[Self, list[int]]:
        """Encode a plaintext operand at this vector's scale (lifting an int vector for real floats)."""
        arr = as_vector(other)
        if len(arr) == 1 and len(self._c) != 1:
            arr = np.repeat(arr, len(self._c))
        self._check_length(len(arr), op)
        me = self
        if me._frac == 0 and not is_int_array(arr) and not np.all(arr == np.rint(arr)):
            me = self.rescale(DEFAULT_FRAC_BITS)
        return me, to_residues(to_fixed(arr, me._frac), int(self._pk.n))  # type: ignore[attr-defined]

    # -- serialisation ----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Fixed-width big-endian residues in one buffer (width ``public_key.ciphertext_bytes``)."""
        width = self._pk.ciphertext_bytes  # type: ignore[attr-defined]
        return b"".join(c.to_bytes(width, "big") for c in self._c)

    @staticmethod
    def _words(buf: bytes | bytearray | memoryview, width: int, what: str) -> list[memoryview]:
        """``buf`` cut into ``width``-byte words; a length that is not a multiple is refused."""
        view = memoryview(buf).cast("B")
        if len(view) % width:
            raise CryptoError(
                f"{what} buffer of {len(view)} bytes is not a multiple of the {width}-byte width"
            )
        return [view[i : i + width] for i in range(0, len(view), width)]

    # -- the arithmetic each cipher defines --------------------------------------------------------
    def _shifted(self, bits: int) -> list[Any]:  # pragma: no cover
        """The residues of the values times ``2**bits``."""
        raise NotImplementedError

    def __add__(self, other: Any) -> Self:  # pragma: no cover
        raise NotImplementedError

    def mul(self, other: Any, precision_bits: int = 23) -> Self:  # pragma: no cover
        raise NotImplementedError

    def dot(self, matrix: Any, precision_bits: int = 23) -> Self:  # pragma: no cover
        raise NotImplementedError

    # -- checks -----------------------------------------------------------------------------------
    def _check_key(self, other: Any) -> None:
        if not isinstance(other, type(self)):
            raise KeyMismatchError(f"cannot combine a {type(self).__name__} with a {type(other).__name__}")
        if other._pk is not self._pk and other._pk != self._pk:
            fp = (getattr(self._pk, "fingerprint", "?"), getattr(other._pk, "fingerprint", "?"))
            raise KeyMismatchError(f"values under different keys ({fp[0]} and {fp[1]}) cannot be combined")

    def _check_length(self, other_len: int, op: str) -> None:
        if other_len != len(self._c):
            raise CryptoError(f"length mismatch in {op}: {len(self._c)} and {other_len}")

    def _plain_matrix(self, matrix: Any) -> np.ndarray:
        """The plaintext matrix of :meth:`dot`: 2-D (a vector is one column), one row per element."""
        mat = np.asarray(matrix)
        if mat.ndim == 1:
            mat = mat.reshape(-1, 1)
        if mat.ndim != 2:
            raise CryptoError(f"dot takes a 2-D plaintext matrix, got shape {mat.shape}")
        self._check_length(mat.shape[0], "dot")
        return mat

    def _segment_ids(self, segment_ids: Any, n_segments: int) -> list[int]:
        """The segment of each element for :meth:`segment_sum`, checked: ints in ``[0, n_segments)``."""
        seg = np.asarray(segment_ids)
        if seg.shape != (len(self._c),):
            raise CryptoError(
                f"length mismatch in segment_sum: {len(self._c)} and segment ids of shape {seg.shape}"
            )
        if isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer) or n_segments < 0:
            raise CryptoError(f"n_segments must be a non-negative int. Got {n_segments!r}.")
        if len(seg) and (seg.dtype.kind not in "iu" or seg.min() < 0 or seg.max() >= n_segments):
            raise CryptoError(f"segment ids must be ints in [0, {n_segments})")
        return seg.tolist()

    # -- reflected operators ----------------------------------------------------------------------
    def __radd__(self, other: Any) -> Self:
        return self.__add__(other)

    def __mul__(self, other: Any) -> Self:
        return self.mul(other)

    def __rmul__(self, other: Any) -> Self:
        return self.mul(other)

    def __matmul__(self, matrix: Any) -> Self:
        return self.dot(matrix)
