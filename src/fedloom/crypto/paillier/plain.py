r"""The ``plain`` cipher: Paillier's interface and plaintext algebra, without encryption.

For debugging protocols and for measuring what cryptography costs. **Never the default, never
secure**: a "ciphertext" is the plaintext residue itself.

Values are kept exactly as the fixed-point residues Paillier would hold, modulo a public
:math:`n = 2^k - 3` (:math:`k` the nominal key size; like any Paillier modulus it is odd and not
a multiple of 3, so the sum of two in-range values never lands back in range unnoticed), with
the same encoding, scales, sign convention and overflow check
(:mod:`fedloom.crypto.paillier.encoding`). So every result equals the Paillier one bit for bit
wherever the Paillier computation does not overflow:
:math:`D(a \oplus b) = a + b \bmod n` holds here by definition.

Serialisation: fixed-width big-endian residues of :math:`\lceil k/8 \rceil` bytes, one buffer.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, TypeGuard

import numpy as np

from fedloom.core.errors import ConfigError, CryptoError, KeyMismatchError
from fedloom.crypto.paillier.encoding import (
    DEFAULT_FRAC_BITS,
    MUL_PRECISION_BITS,
    as_vector,
    centre,
    check_frac_bits,
    decode,
    encode_multipliers,
    is_int_array,
    to_fixed,
    to_residues,
)
from fedloom.crypto.paillier.keys import DEFAULT_KEY_SIZE, MAX_KEY_SIZE, MIN_KEY_SIZE
from fedloom.crypto.paillier.residues import ResidueVector
from fedloom.crypto.paillier.vector import is_sparse_matrix, sparse_columns


def _valid_key_size(key_size: object) -> TypeGuard[int]:
    """An int (not a bool) in the Paillier key range."""
    return (
        isinstance(key_size, int)
        and not isinstance(key_size, bool)
        and MIN_KEY_SIZE <= key_size <= MAX_KEY_SIZE
    )


class PlainPublicKey:
    """Public half of a ``plain`` key pair (no secret at all; an id tells key pairs apart).

    Parameters
    ----------
    key_size
        Nominal size :math:`k`: the modulus is :math:`2^k - 3`.
    key_id
        32 hex chars; random when omitted.
    """

    method = "plain"

    def __init__(self, key_size: int = DEFAULT_KEY_SIZE, key_id: str | None = None) -> None:
        if not _valid_key_size(key_size):
            raise ConfigError(
                f"The 'key_size' parameter of the plain cipher must be an int in "
                f"[{MIN_KEY_SIZE}, {MAX_KEY_SIZE}]. "
                f"Got {key_size!r}.",
                field="key_size",
            )
        self.key_size = key_size
        self.n = (1 << key_size) - 3
        self.nsquare = self.n
        self.max_int = self.n // 3
        self.ciphertext_bytes = (key_size + 7) // 8
        self.key_id = key_id if key_id is not None else secrets.token_hex(16)
        self.fingerprint = hashlib.sha256(f"plain:{key_size}:{self.key_id}".encode()).digest()[:16].hex()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainPublicKey) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(("plain", self.fingerprint))

    def __repr__(self) -> str:
        return f"PlainPublicKey(key_size={self.key_size}, fingerprint={self.fingerprint})"

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "plain", "key_size": k, "id": "<hex>"}``."""
        return {"method": "plain", "key_size": self.key_size, "id": self.key_id}

    @classmethod
    def from_dict(cls, d: Any) -> PlainPublicKey:
        """Rebuild a plain public key received from another party, validating it."""
        if not isinstance(d, dict) or d.get("method") != "plain":
            raise CryptoError("a plain public key must be a dict with method 'plain'")
        key_id, key_size = d.get("id"), d.get("key_size")
        if (
            not isinstance(key_id, str)
            or len(key_id) != 32
            or any(ch not in "0123456789abcdef" for ch in key_id)
        ):
            raise CryptoError("a plain public key's id must be 32 lowercase hex chars")
        if not _valid_key_size(key_size):
            raise CryptoError(
                f"a plain public key's key_size must be an int in [{MIN_KEY_SIZE}, {MAX_KEY_SIZE}]"
            )
        return cls(key_size, key_id)

    def precompute(self) -> None:
        """Nothing to precompute."""

    def encrypt(self, x: Any, frac_bits: int | None = None, *, pool: Any = None) -> PlainVector:
        """Encode like :meth:`PaillierPublicKey.encrypt` (no encryption)."""
        arr = as_vector(x)
        f = (
            (0 if is_int_array(arr) else DEFAULT_FRAC_BITS)
            if frac_bits is None
            else check_frac_bits(frac_bits)
        )
        return PlainVector(self, to_residues(to_fixed(arr, f), self.n), f)

    def encrypt_ints(self, values: Any, *, pool: Any = None) -> PlainVector:
        """Raw residues in ``[0, n)`` with ``frac_bits = 0``."""
        vals = [int(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
        if any(v < 0 or v >= self.n for v in vals):
            raise CryptoError("encrypt_ints takes integers in [0, n)")
        return PlainVector(self, vals, 0)

    def from_bytes(self, buf: bytes | bytearray | memoryview, frac_bits: int) -> PlainVector:
        """Shortcut for :meth:`PlainVector.from_bytes`."""
        return PlainVector.from_bytes(self, buf, frac_bits)


class PlainPrivateKey:
    """Private half of a ``plain`` key pair: decoding with Paillier's overflow check."""

    def __init__(self, public_key: PlainPublicKey) -> None:
        self.public_key = public_key

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return self.public_key.fingerprint

    def __repr__(self) -> str:
        return f"PlainPrivateKey(key_size={self.public_key.key_size}, fingerprint={self.fingerprint})"

    def precompute(self) -> None:
        """Nothing to precompute."""

    def encrypt(self, x: Any, frac_bits: int | None = None, *, pool: Any = None) -> PlainVector:
        """Same as the public key's."""
        return self.public_key.encrypt(x, frac_bits)

    def encrypt_ints(self, values: Any, *, pool: Any = None) -> PlainVector:
        """Same as the public key's."""
        return self.public_key.encrypt_ints(values)

    def _check(self, v: Any) -> PlainVector:
        if not isinstance(v, PlainVector) or v.public_key != self.public_key:
            raise KeyMismatchError(f"this plain key ({self.fingerprint}) cannot decrypt {v!r}")
        return v

    def decrypt_packed_raw(self, v: PlainVector) -> list[int]:
        """Raw residues in ``[0, n)``."""
        return list(self._check(v)._c)

    def decrypt_raw(self, v: PlainVector) -> list[int]:
        """Signed fixed-point integers, overflow checked exactly like Paillier."""
        return centre(self._check(v)._c, self.public_key.n)

    def decrypt(self, v: PlainVector) -> np.ndarray:
        """Decoded values: float64, or ints when ``frac_bits == 0``."""
        return decode(self.decrypt_raw(v), v.frac_bits)


def generate_keypair(key_size: int = DEFAULT_KEY_SIZE) -> tuple[PlainPublicKey, PlainPrivateKey]:
    """A fresh ``plain`` key pair (distinct id, so mixing two pairs raises ``KeyMismatchError``)."""
    pk = PlainPublicKey(key_size)
    return pk, PlainPrivateKey(pk)


class PlainVector(ResidueVector[PlainPublicKey]):
    """Same interface as :class:`EncryptedVector`; holds plaintext residues mod ``n``."""

    __slots__ = ()
    _noun = "a PlainVector"

    def _shifted(self, bits: int) -> list[Any]:
        """Rescaling: the residues times ``2**bits`` mod n (exact)."""
        n = self._pk.n
        return [(v << bits) % n for v in self._c]

    def __add__(self, other: Any) -> PlainVector:
        n = self._pk.n
        if isinstance(other, PlainVector) or hasattr(other, "public_key"):
            self._check_key(other)
            self._check_length(len(other), "add")
            f = max(self._frac, other.frac_bits)
            a, b = self.rescale(f)._c, other.rescale(f)._c
            return self._new([(x + y) % n for x, y in zip(a, b, strict=True)], f)
        me, ms = self._plain_operand(other, "add")
        return me._new([(x + m) % n for x, m in zip(me._c, ms, strict=True)])

    def __neg__(self) -> PlainVector:
        n = self._pk.n
        return self._new([(-v) % n for v in self._c])

    def __sub__(self, other: Any) -> PlainVector:
        if isinstance(other, PlainVector) or hasattr(other, "public_key"):
            self._check_key(other)
            self._check_length(len(other), "subtract")
            return self + (-other)
        arr = as_vector(other)
        me, ms = self._plain_operand(-arr.astype(object) if is_int_array(arr) else -arr, "subtract")
        n = self._pk.n
        return me._new([(x + m) % n for x, m in zip(me._c, ms, strict=True)])

    def __rsub__(self, other: Any) -> PlainVector:
        return (-self).__add__(other)

    def mul(self, other: Any, precision_bits: int = MUL_PRECISION_BITS) -> PlainVector:
        """Multiply by plaintext scalars / arrays (same encoding as Paillier)."""
        if hasattr(other, "public_key"):
            raise CryptoError("Paillier cannot multiply two ciphertexts; multiply by a plaintext")
        ks, extra = encode_multipliers(as_vector(other), precision_bits)
        n = self._pk.n
        if len(ks) == 1:
            k = ks[0]
            return self._new([v * k % n for v in self._c], self._frac + extra)
        self._check_length(len(ks), "multiply")
        return self._new([v * k % n for v, k in zip(self._c, ks, strict=True)], self._frac + extra)

    def dot(self, matrix: Any, precision_bits: int = MUL_PRECISION_BITS) -> PlainVector:
        """``Σ_i v_i · X[i, :]`` mod n (same encoding as Paillier; a ``scipy.sparse`` matrix is
        summed over its non-zeros only)."""
        if is_sparse_matrix(matrix):
            return self._sparse_dot(sparse_columns(matrix, len(self._c)), precision_bits)
        mat = self._plain_matrix(matrix)
        if is_int_array(mat):
            ks, extra = mat.astype(object), 0
        else:
            flat = to_fixed(mat.astype(np.float64).ravel(), precision_bits)
            ks = np.empty(len(flat), dtype=object)
            ks[:] = flat
            ks, extra = ks.reshape(mat.shape), precision_bits
        n = self._pk.n
        vals = np.empty(len(self._c), dtype=object)
        vals[:] = self._c
        out = [int(sum((vals * ks[:, j]).tolist())) % n for j in range(mat.shape[1])]
        return self._new(out, self._frac + extra)

    def _sparse_dot(self, mat: Any, precision_bits: int) -> PlainVector:
        data = np.asarray(mat.data)
        if is_int_array(data):
            ks, extra = [int(v) for v in data.tolist()], 0
        else:
            ks, extra = to_fixed(data.astype(np.float64), precision_bits), precision_bits
        n, cs, indptr, rows = self._pk.n, self._c, mat.indptr, mat.indices.tolist()
        out = [
            sum(cs[rows[p]] * ks[p] for p in range(int(indptr[j]), int(indptr[j + 1]))) % n
            for j in range(mat.shape[1])
        ]
        return self._new(out, self._frac + extra)

    def segment_sum(self, segment_ids: Any, n_segments: int) -> PlainVector:
        """Sums per segment (empty segments are 0)."""
        out = [0] * int(n_segments)
        for v, s in zip(self._c, self._segment_ids(segment_ids, n_segments), strict=True):
            out[s] += v
        n = self._pk.n
        return self._new([v % n for v in out])

    def sum(self) -> PlainVector:
        """Length-1 vector of the total."""
        return self._new([sum(self._c) % self._pk.n])

    def obfuscate(self, pool: Any = None) -> PlainVector:
        """Nothing to re-randomise; returns ``self``."""
        return self

    def rerandomize(self, obfuscator: Any = None) -> PlainVector:
        """Nothing to re-randomise (no randomness); returns ``self``. See
        :meth:`EncryptedVector.rerandomize`."""
        return self

    @classmethod
    def from_bytes(
        cls, public_key: PlainPublicKey, buf: bytes | bytearray | memoryview, frac_bits: int
    ) -> PlainVector:
        """Parse :meth:`to_bytes` output, validating width and range."""
        f = check_frac_bits(frac_bits)
        vals = [int.from_bytes(w, "big") for w in cls._words(buf, public_key.ciphertext_bytes, "plain")]
        if any(v >= public_key.n for v in vals):
            raise CryptoError("a plain value is not below n")
        return cls(public_key, vals, f)
