r"""Fixed-point packing of a row's gradients, hessians and count into Paillier plaintexts.

Per tree the guest turns each row's :math:`(g_{i1}, h_{i1}, \dots, g_{iK}, h_{iK})` into
non-negative integers and packs them into as few plaintexts as the key allows (one for binary,
regression and one-tree-per-class multi-class; :math:`\lceil\cdot\rceil` for many-class
multi-output trees):

- **encoding**: each field :math:`v` (a gradient or hessian column of the sampled rows) gets an
  offset :math:`v_{\min}` (its minimum) and a scale :math:`2^{P}` with
  :math:`P = 53 - e`, :math:`2^{e-1} \le v_{\max} - v_{\min} < 2^{e}`, and
  :math:`q_i = \mathrm{round}((v_i - v_{\min})\,2^{P}) \in [0, 2^{53}]`. A sum over a set
  :math:`S` decodes as :math:`\sum_S v \approx \sum_S q / 2^P + |S|\,v_{\min}` with an absolute
  error at most :math:`|S| \cdot 2^{-P}` — about :math:`|S| \cdot 10^{-16}` times the field's
  range, the order of float64's own rounding of the same sum. Row counts are not encrypted: the
  host knows them (its bins, the node membership) and sends them in clear with the sums, which
  tells the guest nothing more than decrypting them would.
- **widths**: a field's slot holds the sum over *all* rows without carrying:
  :math:`\mathrm{bitlen}(2^{53} \cdot n)` bits, so any
  histogram, subtraction (parent − child: slot-wise non-negative) or cumulative sum of these
  rows stays inside its slot.
- **chunks**: fields, in order, are cut into chunks whose total width fits the key's capacity
  (:func:`~fedloom.crypto.paillier.packing.capacity_bits`); chunk :math:`c` of row :math:`i` is
  the plaintext :math:`\sum_f q_{if}\,2^{o_f}` (first field most significant). One ciphertext
  per chunk per row, encrypted once per tree.

Split candidates (sums of chunks) travel back packed again, ``capacity // width`` per
ciphertext (:meth:`~fedloom.crypto.paillier.Packer.pack_encrypted` with the chunk's total width
as the slot width); :meth:`Layout.decode` turns the decrypted chunk sums back into
:math:`(G, H, N)`.

The hosts learn only the chunk widths (a function of the row count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import ConfigError

#: Significant bits of an encoded gradient / hessian (float64's mantissa and one).
VALUE_BITS = 53


@dataclass(frozen=True)
class Field:
    """One packed field: its offset and scale exponent (the guest's secret) and its width."""

    offset: float
    scale_bits: int
    width: int


@dataclass(frozen=True)
class Layout:
    """How the guest packs the ``2K`` fields of a row (``K`` outputs) into chunks.

    Attributes
    ----------
    fields
        ``g_0, h_0, ..., g_{K-1}, h_{K-1}``.
    chunks
        Per chunk, the indices of its fields (most significant first).
    """

    fields: tuple[Field, ...]
    chunks: tuple[tuple[int, ...], ...]

    @property
    def n_outputs(self) -> int:
        """K."""
        return len(self.fields) // 2

    @property
    def widths(self) -> list[int]:
        """Total bits of each chunk (what the hosts need to pack candidates)."""
        return [sum(self.fields[f].width for f in chunk) for chunk in self.chunks]

    @classmethod
    def for_rows(cls, g: np.ndarray, h: np.ndarray, n_rows: int, capacity: int) -> Layout:
        """The layout of ``g``, ``h`` (``(n, K)``) for sums over at most ``n_rows`` rows.

        Raises
        ------
        ConfigError
            A gradient or hessian that is not finite, or one field wider than the key's capacity.
        """
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
            raise ConfigError("gradients or hessians are not finite", field="objective_param")
        fields: list[Field] = []
        total_bits = (max(n_rows, 1) << VALUE_BITS).bit_length()
        for k in range(g.shape[1]):
            for col in (g[:, k], h[:, k]):
                lo = float(col.min()) if len(col) else 0.0
                span = float(col.max()) - lo if len(col) else 0.0
                e = math.frexp(span)[1] if span > 0 else 0
                fields.append(Field(lo, VALUE_BITS - e, total_bits))
        chunks: list[tuple[int, ...]] = []
        current: list[int] = []
        used = 0
        for i, f in enumerate(fields):
            if f.width > capacity:
                raise ConfigError(
                    f"a packed field of {f.width} bits does not fit the key ({capacity} usable bits)",
                    field="encrypt_param.key_length",
                )
            if used + f.width > capacity:
                chunks.append(tuple(current))
                current, used = [], 0
            current.append(i)
            used += f.width
        chunks.append(tuple(current))
        return cls(tuple(fields), tuple(chunks))

    def encode(self, g: np.ndarray, h: np.ndarray) -> list[list[int]]:
        """Per chunk, one packed plaintext per row (Python ints)."""
        n = g.shape[0]
        columns: list[np.ndarray] = []
        for k in range(g.shape[1]):
            for j, col in enumerate((g[:, k], h[:, k])):
                f = self.fields[2 * k + j]
                q = np.rint(np.ldexp(col - f.offset, f.scale_bits))
                columns.append(np.clip(q, 0, float(1 << VALUE_BITS)).astype(np.int64))
        out: list[list[int]] = []
        for chunk in self.chunks:
            acc = [0] * n
            for fi in chunk:
                w = self.fields[fi].width
                vals = columns[fi].tolist()
                acc = [(a << w) | v for a, v in zip(acc, vals, strict=True)]
            out.append(acc)
        return out

    def split_chunk(self, chunk: int, values: list[int]) -> list[list[int]]:
        """The field sums of decrypted chunk sums: per field of the chunk, one int per value."""
        fields = self.chunks[chunk]
        out: list[list[int]] = [[] for _ in fields]
        widths = [self.fields[f].width for f in fields]
        for v in values:
            rest = int(v)
            for pos in range(len(fields) - 1, -1, -1):
                w = widths[pos]
                out[pos].append(rest & ((1 << w) - 1))
                rest >>= w
            if rest:
                raise ValueError("a chunk sum exceeds its fields' widths")
        return out

    def decode(self, per_chunk: list[list[int]], counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(G, H)`` ``(m, K)`` float64 from field sums: per chunk the decrypted sums of ``m`` row
        sets, whose sizes are ``counts``."""
        sums: dict[int, list[int]] = {}
        for c, values in enumerate(per_chunk):
            for fi, col in zip(self.chunks[c], self.split_chunk(c, values), strict=True):
                sums[fi] = col
        m, k_out = len(counts), self.n_outputs
        g = np.zeros((m, k_out))
        h = np.zeros((m, k_out))
        for k in range(k_out):
            for j, target in enumerate((g, h)):
                f = self.fields[2 * k + j]
                q = np.asarray([float(v) for v in sums[2 * k + j]], dtype=np.float64) if m else np.zeros(0)
                # Exact to float64 rounding: q < 2^53 · n is converted once, then scaled by a power of 2.
                target[:, k] = np.ldexp(q, -f.scale_bits) + counts * f.offset
        return g, h
