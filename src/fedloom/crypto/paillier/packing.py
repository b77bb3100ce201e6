r"""Packing several small non-negative integers into one Paillier plaintext.

A row :math:`(s_1, \dots, s_k)` with :math:`k \le` ``n_slots`` becomes
:math:`((s_1 \cdot 2^b + s_2) \cdot 2^b + \dots) \cdot 2^b + s_k` (first column in the most
significant slot). Adding packed plaintexts adds slot by slot,
:math:`D(E(P(s)) \cdot E(P(t))) = P(s + t)`, as long as no slot carries into the next one — so
the slot width :math:`b` is chosen from the largest possible *sum*: with at most ``n_terms``
values each ≤ ``max_value``, :math:`b = \mathrm{bitlen}(\text{max\_value} \cdot \text{n\_terms})`.
Rows with more than ``n_slots`` columns take ``ceil(k / n_slots)`` plaintexts each.

Capacity: ``n_slots · b`` bits must stay below :math:`\lfloor n/3 \rfloor` (the packed value is
then also a valid *positive* fixed-point plaintext), i.e. ``n_slots ≤ floor(T / b)`` with
:math:`T` the largest :math:`t` such that :math:`2^t \le \lfloor n/3 \rfloor` (``key_size − 3``
for keys from :func:`generate_keypair`, whose :math:`n` has its top two bits set).

Uses: label sums per bin in binning (one slot per class), (g, h) pairs and histogram bins in
SecureBoost. Fewer encryptions, fewer bytes and fewer decryptions, by a factor ``n_slots``.
What a party learns is unchanged: the decryptor sees exactly the slot sums it would have seen
unpacked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedloom.core.errors import ConfigError, CryptoError, DecryptionOverflowError


def capacity_bits(public_key: Any) -> int:
    """Largest ``t`` with ``2**t <= n // 3``: the bits available to packed slots."""
    return int(int(public_key.n) // 3).bit_length() - 1


class Packer:
    """Pack rows of small non-negative integers into plaintexts, ``n_slots`` slots of ``slot_bits``.

    Parameters
    ----------
    slot_bits
        Width of one slot (≥ 1).
    n_slots
        Slots per plaintext (≥ 1).

    Examples
    --------
    >>> packer = Packer.for_sums(max_value=1, n_terms=10_000, n_slots=None, pk=pk)  # doctest: +SKIP
    >>> ev = pk.encrypt_ints(packer.pack(onehot_labels))            # one ciphertext per row
    >>> sums = packer.unpack(sk.decrypt_packed_raw(ev.segment_sum(bins, n_bins)), n_cols=n_classes)
    """

    def __init__(self, slot_bits: int, n_slots: int) -> None:
        for name, value in (("slot_bits", slot_bits), ("n_slots", n_slots)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(
                    f"The '{name}' parameter of Packer must be an int >= 1. Got {value!r}.", field=name
                )
        self.slot_bits = int(slot_bits)
        self.n_slots = int(n_slots)
        self.total_bits = self.slot_bits * self.n_slots
        self.slot_max = (1 << self.slot_bits) - 1

    def __repr__(self) -> str:
        return f"Packer(slot_bits={self.slot_bits}, n_slots={self.n_slots})"

    @classmethod
    def for_sums(cls, max_value: int, n_terms: int, n_slots: int | None = None, pk: Any = None) -> Packer:
        """A packer whose slots hold any sum of ``n_terms`` values in ``[0, max_value]``.

        Parameters
        ----------
        max_value
            Largest single value (≥ 0).
        n_terms
            Most values that will ever be added into one slot (≥ 1).
        n_slots
            Slots per plaintext; ``None`` takes as many as the key allows.
        pk
            The public key (Paillier or plain) bounding the capacity; required when ``n_slots`` is None.

        Raises
        ------
        ConfigError
            Bad arguments, or the slots do not fit the key.
        """
        if isinstance(max_value, bool) or not isinstance(max_value, int | np.integer) or max_value < 0:
            raise ConfigError(
                f"The 'max_value' parameter of Packer must be an int >= 0. Got {max_value!r}.",
                field="max_value",
            )
        if isinstance(n_terms, bool) or not isinstance(n_terms, int | np.integer) or n_terms < 1:
            raise ConfigError(
                f"The 'n_terms' parameter of Packer must be an int >= 1. Got {n_terms!r}.", field="n_terms"
            )
        slot_bits = max(1, (int(max_value) * int(n_terms)).bit_length())
        if pk is None:
            if n_slots is None:
                raise ConfigError("Packer.for_sums needs a public key or an explicit n_slots", field="pk")
            return cls(slot_bits, n_slots)
        cap = capacity_bits(pk)
        most = cap // slot_bits
        if most < 1:
            raise ConfigError(
                f"a slot of {slot_bits} bits does not fit a {pk.key_size}-bit key ({cap} usable bits)",
                field="max_value",
            )
        if n_slots is None:
            return cls(slot_bits, most)
        if isinstance(n_slots, bool) or not isinstance(n_slots, int | np.integer) or n_slots < 1:
            raise ConfigError(
                f"The 'n_slots' parameter of Packer must be an int >= 1. Got {n_slots!r}.", field="n_slots"
            )
        if n_slots > most:
            raise ConfigError(
                f"{n_slots} slots of {slot_bits} bits exceed the {cap} usable bits "
                f"of a {pk.key_size}-bit key "
                f"(at most {most} slots)",
                field="n_slots",
            )
        return cls(slot_bits, int(n_slots))

    def plaintexts_per_row(self, n_cols: int) -> int:
        """Plaintexts one row of ``n_cols`` values occupies."""
        return max(1, math.ceil(n_cols / self.n_slots))

    def pack(self, matrix: Any) -> list[int]:
        """Pack each row of a non-negative int matrix ``(m, k)`` (1-D: one row) into plaintexts.

        Returns ``m · ceil(k / n_slots)`` Python ints, row by row.
        """
        arr = np.asarray(matrix)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise CryptoError(f"Packer.pack takes a 1-D or 2-D int array, got shape {arr.shape}")
        if arr.dtype.kind not in "biuO":
            raise CryptoError(f"Packer.pack takes integers, got dtype {arr.dtype}")
        rows = [[int(v) for v in row] for row in arr.tolist()]
        for row in rows:
            for v in row:
                if v < 0 or v > self.slot_max:
                    raise CryptoError(f"packed values must be ints in [0, {self.slot_max}]. Got {v}.")
        b, s = self.slot_bits, self.n_slots
        out = []
        for row in rows:
            for start in range(0, max(len(row), 1), s):
                acc = 0
                for v in row[start : start + s]:
                    acc = (acc << b) | v
                acc <<= b * (s - len(row[start : start + s]))  # unused trailing slots stay zero
                out.append(acc)
        return out

    def unpack(self, raw: Any, n_cols: int) -> np.ndarray:
        """Inverse of :meth:`pack` (also for slot-wise sums of packed rows).

        Parameters
        ----------
        raw
            Plaintexts (e.g. :meth:`PaillierPrivateKey.decrypt_packed_raw`).
        n_cols
            Values per row, ``k`` in :meth:`pack`.

        Returns
        -------
        numpy.ndarray
            ``(len(raw) / ceil(k / n_slots), k)``; int64 when the slots fit, else Python ints.

        Raises
        ------
        DecryptionOverflowError
            A plaintext exceeds the packed capacity (a sum overflowed, or the value is not packed).
        """
        vals = [int(v) for v in (raw.tolist() if isinstance(raw, np.ndarray) else raw)]
        per_row = self.plaintexts_per_row(n_cols)
        if len(vals) % per_row:
            raise CryptoError(f"{len(vals)} packed plaintexts are not a multiple of {per_row} per row")
        limit = 1 << self.total_bits
        b, s, mask = self.slot_bits, self.n_slots, self.slot_max
        rows = []
        for r in range(0, len(vals), per_row):
            row: list[int] = []
            for v in vals[r : r + per_row]:
                if not 0 <= v < limit:
                    raise DecryptionOverflowError(
                        f"a packed plaintext exceeds {self.total_bits} bits: a slot sum overflowed"
                    )
                row.extend((v >> (b * (s - 1 - i))) & mask for i in range(s))
            rows.append(row[:n_cols])
        if b <= 62:
            return np.asarray(rows, dtype=np.int64).reshape(len(rows), n_cols)
        out = np.empty((len(rows), n_cols), dtype=object)
        for i, row in enumerate(rows):
            out[i, :] = row
        return out

    def pack_encrypted(self, ev: Any) -> Any:
        r"""Pack an encrypted vector of slot-sized values, ``n_slots`` per ciphertext (Horner).

        :math:`[\,(s_1 2^b + s_2) 2^b + \dots\,] = (([s_1]^{2^b} [s_2])^{2^b} \cdots)`: one
        ciphertext per group of ``n_slots`` values, to shrink results before sending them back
        (e.g. bin sums, split candidates). Values must be non-negative ints below ``2**slot_bits``
        with ``frac_bits == 0``. Unpack with ``unpack(raw, n_cols=n_slots)``; the last group is
        zero-padded. Obfuscate before sending.
        """
        if ev.frac_bits != 0:
            raise CryptoError("pack_encrypted needs integer (frac_bits == 0) ciphertexts")
        n = len(ev)
        if n == 0:
            return ev
        s = self.n_slots
        pad = (-n) % s
        padded = type(ev).concat([ev] + [ev[:1] * 0] * pad) if pad else ev  # ev[:1] * 0 is [0]
        shift = 1 << self.slot_bits
        acc = padded[0::s]
        for i in range(1, s):
            acc = acc * shift + padded[i::s]
        return acc
