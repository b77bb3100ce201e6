"""The pieces both Hetero NN roles use: packed fixed-point layout, masks, encrypted products, batches.

Every encrypted value of the interactive layer travels **packed**: ``slots`` fixed-point integers
side by side in one Paillier plaintext, ``Σ_s v_s·2^(B·s)``. Exponentiating a packed ciphertext
by one integer multiplies every slot; multiplying packed ciphertexts adds slot by slot; so the
guest computes on many rows at once and the host decrypts a fraction of the values (see
:class:`Layout` for the slot widths and :mod:`fedloom.ml.hetero.nn` for the protocol).

Scales: ``P = floating_point_precision`` fractional bits for everything (``α̃_A``, ``ε_acc``,
``W'_A``, ``δ``), so every product has scale ``S = 2P``. Masks are uniform integers below
``2^(S + 20 + 40)`` plus an offset ``2^(S + 20)`` that makes every masked slot non-negative: the
products' values are assumed below ``2^20`` in magnitude (:data:`VALUE_BITS`), and 40 more bits
(:data:`SIGMA`) make a masked value statistically independent of the product (distance
``≤ 2^-40``) under that assumption. Integers in clear travel as fixed-width signed big-endian
bytes (:func:`ints_to_wire`).
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from gmpy2 import mpz

from fedloom.compute import Executor, parallel_encrypt
from fedloom.core.errors import ConfigError, MessageError
from fedloom.crypto.paillier.encoding import to_fixed
from fedloom.crypto.paillier.multiexp import batch_invert
from fedloom.crypto.paillier.plain import PlainVector

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Bits of the magnitude bound assumed for masked products (|value| < 2^20).
VALUE_BITS = 20
#: Statistical security of the integer masks.
SIGMA = 40
#: Rows per forward exchange when predicting or validating.
PREDICT_BATCH = 4096
#: Messages a forward or input-gradient exchange is cut into, so that the host decrypts one part
#: while the guest computes the next.
PARTS = 4
#: Bases per simultaneous-exponentiation table (2^4 products each).
STRAUS_BASES = 4
#: Range of the host's backward noise η (uniform in [-NOISE, NOISE] per weight).
NOISE = 1.0

_SEEDED_BUILD = threading.Lock()


# -- work counters ---------------------------------------------------------------------------------
@dataclass
class Work:
    """Counts of the cryptographic work of one party (stored in the model's ``work``)."""

    encryptions: int = 0
    decryptions: int = 0
    scalar_products: int = 0
    dot_rows: int = 0
    rerandomized: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "encryptions": self.encryptions,
            "decryptions": self.decryptions,
            "encrypted_scalar_products": self.scalar_products,
            "encrypted_dot_rows": self.dot_rows,
            "rerandomized": self.rerandomized,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }

    def record(self, epoch_seconds: list[float], ctx: Any, sent0: int, recv0: int) -> dict[str, Any]:
        """:meth:`to_dict` with the fit's seconds per epoch and the bytes its context sent and
        received since ``sent0`` / ``recv0`` (the model's ``work``)."""
        return {
            **self.to_dict(),
            "seconds_per_epoch": [round(s, 4) for s in epoch_seconds],
            "bytes_sent": ctx.stats.total_sent - sent0,
            "bytes_received": ctx.stats.total_received - recv0,
        }


# -- packed layout ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Slot widths and packing counts of one host's exchanges (both parties compute it).

    Parameters
    ----------
    key_bits
        Bits of the host's modulus ``n``; packed plaintexts stay below ``2^(key_bits − 2) < n``.
    precision
        ``P``: fractional bits of every fixed-point value; products have scale ``S = 2P``.
    host_dim, out_dim
        ``K`` (width of the host's bottom output) and ``O`` (interactive output width).

    Notes
    -----
    * Masked slots (forward ``z``, weight gradient): ``B = S + 20 + 40 + 1`` bits, ``rows_per_ct =
      ⌊(key_bits − 2) / B⌋`` rows of one feature per ciphertext (9 at 1024 bits, P = 23).
    * Input-gradient slots (not masked: the host is meant to learn its input gradient):
      ``B_in = S + 20 + 2`` bits; ``in_chunk`` features of ``in_rows`` rows per ciphertext.
    """

    key_bits: int
    precision: int
    host_dim: int
    out_dim: int

    @property
    def usable(self) -> int:
        return self.key_bits - 2

    @property
    def scale(self) -> int:
        return 2 * self.precision

    @property
    def value_offset(self) -> int:
        return 1 << (self.scale + VALUE_BITS)

    @property
    def mask_bits(self) -> int:
        return self.scale + VALUE_BITS + SIGMA

    @property
    def slot(self) -> int:
        return self.mask_bits + 1

    @property
    def rows_per_ct(self) -> int:
        return self.usable // self.slot

    @property
    def in_slot(self) -> int:
        return self.scale + VALUE_BITS + 2

    @property
    def in_chunk(self) -> int:
        return min(self.host_dim, self.usable // self.in_slot)

    @property
    def in_chunks(self) -> int:
        return -(-self.host_dim // self.in_chunk)

    @property
    def in_rows(self) -> int:
        return self.usable // (self.in_slot * self.in_chunk)

    def groups(self, rows: int) -> int:
        """Packed ciphertexts per feature for ``rows`` rows."""
        return -(-rows // self.rows_per_ct)

    def in_groups(self, rows: int) -> int:
        """Input-gradient ciphertexts per feature chunk for ``rows`` rows."""
        return -(-rows // self.in_rows)

    def check(self, party: str) -> Layout:
        """Refuse (ConfigError) a key too small for the precision."""
        if self.rows_per_ct < 1 or self.in_chunk < 1:
            raise ConfigError(
                f"a {self.key_bits}-bit key cannot hold one {self.slot}-bit slot: lower "
                "floating_point_precision or use a longer key",
                field="floating_point_precision",
            )
        return self


def fixed(x: np.ndarray, bits: int) -> np.ndarray:
    """``round(x·2^bits)`` as Python ints (object array, same shape)."""
    flat = to_fixed(np.ascontiguousarray(np.asarray(x, dtype=np.float64)).ravel(), bits)
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(np.shape(x))


def pack(values: np.ndarray, per: int, width: int) -> list[int]:
    """Rows of ``values`` (rows × cols ints) packed ``per`` to an integer, column by column:
    ``[Σ_r values[g·per + r, c]·2^(width·r)]`` for ``c``, then ``g`` (missing rows are 0)."""
    rows, cols = values.shape
    groups = -(-rows // per)
    out = []
    for c in range(cols):
        col = values[:, c].tolist()
        for g in range(groups):
            acc = 0
            for r, v in enumerate(col[g * per : (g + 1) * per]):
                acc += int(v) << (width * r)
            out.append(acc)
    return out


def unpack(value: int, per: int, width: int) -> list[int]:
    """The ``per`` non-negative ``width``-bit slots of ``value``, lowest first."""
    mask = (1 << width) - 1
    return [(value >> (width * r)) & mask for r in range(per)]


def encrypt_ints(key: Any, ints: Sequence[int], executor: Executor | None, work: Work) -> Any:
    """Fresh ciphertexts of signed packed integers (raw, ``frac_bits = 0``), over ``executor``."""
    pk = key.public_key if hasattr(key, "public_key") else key
    n = int(pk.n)
    work.encryptions += len(ints)
    return parallel_encrypt(key, [v % n for v in ints], executor)


def add_ints(v: Any, ints: Sequence[int]) -> Any:
    """``v`` plus plaintext integers of any size below ``n`` (``c·(1 + m·n)``; plain: ``c + m``)."""
    pk = v.public_key
    n = pk.n
    if isinstance(v, PlainVector):
        cs = [(c + m) % n for c, m in zip(v.ciphertexts, ints, strict=True)]
    else:
        n2 = pk.nsquare
        cs = [(c + n * (m * c % n)) % n2 if m else c for c, m in zip(v.ciphertexts, ints, strict=True)]
    return type(v)(pk, cs, v.frac_bits)


def draw_slots(count: int, lay: Layout) -> list[int]:
    """``count`` masked-slot offsets ``2^(S+20) + m``, ``m`` uniform below ``2^(S+60)`` (CSPRNG)."""
    off = lay.value_offset
    return [off + secrets.randbits(lay.mask_bits) for _ in range(count)]


def join_slots(slots: Sequence[int], per: int, width: int) -> list[int]:
    """Consecutive runs of ``per`` slot values as packed integers."""
    return [
        sum(v << (width * r) for r, v in enumerate(slots[i : i + per])) for i in range(0, len(slots), per)
    ]


# -- the guest's encrypted products --------------------------------------------------------------------
def forward_product(
    enc: Any, groups: int, w_int: np.ndarray, work: Work, inverse: dict[int, Any] | None = None
) -> Any:
    """``[Σ_k α̃[:, k]·W[k, j]]`` packed like ``[α̃]`` (one block of ``groups`` per column of
    ``w_int``), from ``[α̃]`` (K blocks of ``groups``) and the integer weights:
    ``Π_k P_{g,k}^{W_kj}`` per group. ``inverse`` caches ``[−α̃[:, k]]`` across calls."""
    k_dim, out = w_int.shape
    work.scalar_products += groups * k_dim * out
    if not isinstance(enc, PlainVector):
        return _straus_forward(enc, groups, w_int, {} if inverse is None else inverse)
    cols = [enc[k * groups : (k + 1) * groups] for k in range(k_dim)]
    inverse = {} if inverse is None else inverse
    blocks = []
    for j in range(out):
        acc = None
        for k in range(k_dim):
            w = int(w_int[k, j])
            if w == 0:
                continue
            base = cols[k] if w > 0 else inverse.setdefault(k, -cols[k])
            term = base if abs(w) == 1 else base.mul(abs(w))
            acc = term if acc is None else acc + term
        blocks.append(cols[0].mul(0) if acc is None else acc)
    return type(enc).concat(blocks)


def _straus_forward(enc: Any, groups: int, w_int: np.ndarray, inverse: dict[int, Any]) -> Any:
    """Paillier :func:`forward_product` by simultaneous exponentiation: the exponents are the
    same for every group, so per output ``j`` one table of the ``2^K`` products of the signed
    bases (``P_k`` or ``P_k^{-1}``), then one squaring per bit and one multiplication per bit
    pattern, for all groups at once: ``~2^K + 2b`` multiplications per group and output instead
    of ``K`` exponentiations of ``b`` bits."""
    pk = enc.public_key
    n2 = pk.nsquare
    k_dim, out = w_int.shape
    cs = enc.ciphertexts
    cols = [cs[k * groups : (k + 1) * groups] for k in range(k_dim)]
    blocks: list[Any] = []
    for j in range(out):
        terms = [(k, int(w_int[k, j])) for k in range(k_dim) if int(w_int[k, j])]
        if not terms:
            blocks.extend([mpz(1)] * groups)
            continue
        bases = []
        for k, w in terms:
            if w < 0 and k not in inverse:
                inverse[k] = batch_invert(cols[k], n2)
            bases.append(cols[k] if w > 0 else inverse[k])
        exps = [abs(w) for _, w in terms]
        # Tables of at most 2^STRAUS_BASES products (a wide host_dim uses several tables).
        tables = []
        for lo in range(0, len(terms), STRAUS_BASES):
            part = bases[lo : lo + STRAUS_BASES]
            table: list[Any] = [None] * (1 << len(part))
            for mask in range(1, len(table)):
                low = mask & -mask
                i = low.bit_length() - 1
                rest = table[mask ^ low]
                table[mask] = (
                    part[i] if rest is None else [a * b % n2 for a, b in zip(rest, part[i], strict=True)]
                )
            tables.append((lo, table))
        acc: list[Any] | None = None
        for bit in range(max(e.bit_length() for e in exps) - 1, -1, -1):
            if acc is not None:
                acc = [a * a % n2 for a in acc]
            for lo, table in tables:
                pattern = sum(((e >> bit) & 1) << i for i, e in enumerate(exps[lo : lo + STRAUS_BASES]))
                if pattern:
                    row = table[pattern]
                    acc = list(row) if acc is None else [a * b % n2 for a, b in zip(acc, row, strict=True)]
        assert acc is not None
        blocks.extend(acc)
    return type(enc)(pk, blocks, 0)


def weight_gradient(enc: Any, lay: Layout, groups: int, d_int: np.ndarray, work: Work) -> Any:
    """Per feature ``k``, output ``j`` and slot ``r``: ``Π_g P_{g,k}^{δ[g·R + r, j]}``, whose slot ``r``
    holds ``Σ_g α̃[g·R + r, k]·δ[g·R + r, j]`` (K blocks of O·R; the other slots hold cross terms).

    ``d_int`` is the integer ``δ`` of every row of the batch (rows × O; zero for rows SelectiveBP
    dropped)."""
    per = lay.rows_per_ct
    rows, out = d_int.shape
    pad = np.zeros((groups * per, out), dtype=np.int64)
    pad[:rows] = d_int
    mat = np.ascontiguousarray(pad.reshape(groups, per, out).transpose(0, 2, 1).reshape(groups, out * per))
    k_dim = len(enc) // groups
    parts = [enc[k * groups : (k + 1) * groups].dot(mat) for k in range(k_dim)]
    work.dot_rows += rows * k_dim * out
    return type(enc).concat(parts)


def input_parts(rows: int, lay: Layout, parts: int = PARTS) -> list[tuple[int, int]]:
    """Row ranges of the input-gradient messages: whole ciphertexts, at most ``parts``."""
    groups = lay.in_groups(rows)
    step = max(1, -(-groups // parts)) * lay.in_rows
    return [(a, min(rows, a + step)) for a in range(0, rows, step)]


def decode_input(raw: Sequence[int], lay: Layout, rows: int) -> np.ndarray:
    """The input gradients (rows × K, float) of one :func:`input_gradient` result, decrypted:
    slot ``r·chunk + k`` of ciphertext ``(c, q)`` is row ``q·R_in + r``, feature ``c·chunk + k``."""
    chunk, per, groups = lay.in_chunk, lay.in_rows, lay.in_groups(rows)
    out = np.zeros((groups * per, lay.in_chunks * chunk))
    offset = lay.value_offset
    for idx, u in enumerate(raw):
        c, q = divmod(idx, groups)
        vals = [float(v - offset) for v in unpack(u, per * chunk, lay.in_slot)]
        out[q * per : (q + 1) * per, c * chunk : (c + 1) * chunk] = np.reshape(vals, (per, chunk))
    return np.ldexp(out[:rows, : lay.host_dim], -lay.scale)


def _comb_window(count: int, n_bases: int, bits: int) -> int:
    best, cost = 1, float("inf")
    for w in range(1, 13):
        c = math.ceil(bits / w) * (count * n_bases + 2 * n_bases * (1 << w))
        if c < cost:
            best, cost = w, c
    return best


def fixed_base_products(bases: Any, exps: np.ndarray, work: Work) -> Any:
    """``[Π_t bases[t]^{exps[i, t]}]`` for each row ``i`` (signed int64 exponents), by fixed-base
    comb tables of each base and of its inverse (built once per call, window from the sizes)."""
    count, m = exps.shape
    pk = bases.public_key
    cs = list(bases.ciphertexts)
    if isinstance(bases, PlainVector):
        n = int(pk.n)
        out = [sum(int(e) * int(c) for e, c in zip(row, cs, strict=True)) % n for row in exps.tolist()]
        return type(bases)(pk, out, 0)
    n2 = pk.nsquare
    mags = np.abs(exps)
    bits = max(1, int(mags.max()).bit_length()) if count else 1
    w = _comb_window(count, m, bits)
    n_pos = math.ceil(bits / w)
    size = 1 << w
    invs = batch_invert(cs, n2)
    acc: list[Any] = [mpz(1)] * count
    for t in range(m):
        for sign, base in ((1, cs[t]), (-1, invs[t])):
            rows = np.flatnonzero(exps[:, t] > 0) if sign > 0 else np.flatnonzero(exps[:, t] < 0)
            if len(rows) == 0:
                continue
            e = mags[rows, t]
            g = base
            for pos in range(n_pos):
                digits = ((e >> (w * pos)) & (size - 1)).tolist()
                table = [mpz(1), g]
                for _ in range(size - 2):
                    table.append(table[-1] * g % n2)
                g = table[-1] * g % n2  # g^(2^w): the next digit position's base
                for i, d in zip(rows.tolist(), digits, strict=True):
                    if d:
                        acc[i] = acc[i] * table[d] % n2
    work.scalar_products += count * m
    return type(bases)(pk, acc, 0)


def input_gradient(enc_acc: Any, lay: Layout, d_sel: np.ndarray, plain: np.ndarray, work: Work) -> Any:
    """The selected rows' input gradients ``δ·(W' + ε_acc)ᵀ`` packed (``in_chunks`` blocks of
    ``in_groups`` ciphertexts), from the host's packed ``[ε_acc]`` bases, the integer ``δ`` of the
    selected rows (``d_sel``, m × O) and the guest's plain part ``round(δ·W'ᵀ·2^S)`` (m × K)."""
    m, out = d_sel.shape
    per, chunk, width = lay.in_rows, lay.in_chunk, lay.in_slot
    groups = lay.in_groups(m)
    pad = np.zeros((groups * per, out), dtype=np.int64)
    pad[:m] = d_sel
    # exps[q, j·per + r] = δ[q·per + r, j]: base (j, c, r) carries row r's slots of chunk c.
    exps = np.ascontiguousarray(pad.reshape(groups, per, out).transpose(0, 2, 1).reshape(groups, out * per))
    blocks = []
    for c in range(lay.in_chunks):
        idx = np.array([(j * lay.in_chunks + c) * per + r for j in range(out) for r in range(per)])
        prod = fixed_base_products(enc_acc[idx], exps, work)
        k0, k1 = c * chunk, min((c + 1) * chunk, lay.host_dim)
        part = np.zeros((groups * per, chunk), dtype=object)
        part[:] = 0
        part[:m, : k1 - k0] = plain[:, k0:k1] + lay.value_offset
        # Slot t = r·chunk + k of ciphertext q: row q·per + r, feature k0 + k.
        packed = [
            sum(int(v) << (width * t) for t, v in enumerate(row))
            for row in part.reshape(groups, per * chunk).tolist()
        ]
        blocks.append(add_ints(prod, packed))
    return type(enc_acc).concat(blocks)


def check_vector(v: Any, key: Any, length: int, frac_bits: int, what: str, party: str) -> Any:
    """Refuse (MessageError) a received vector of another key, length or scale, before decryption."""
    if not (hasattr(v, "public_key") and hasattr(v, "frac_bits")):
        raise MessageError(
            f"{what}: expected a ciphertext vector, got {type(v).__name__}", party=party, field=what
        )
    if v.public_key != key:
        raise MessageError(f"{what}: not under this party's key", party=party, field=what)
    if len(v) != length:
        raise MessageError(f"{what}: expected {length} ciphertexts, got {len(v)}", party=party, field=what)
    if v.frac_bits != frac_bits:
        raise MessageError(
            f"{what}: expected scale 2^{frac_bits}, got 2^{v.frac_bits}", party=party, field=what
        )
    return v


# -- integers on the wire ----------------------------------------------------------------------------
def ints_to_wire(values: Sequence[int]) -> dict[str, Any]:
    """Signed integers as fixed-width two's-complement big-endian bytes."""
    width = max(1, max((int(v).bit_length() for v in values), default=0) // 8 + 1)
    data = b"".join(int(v).to_bytes(width, "big", signed=True) for v in values)
    return {"width": width, "count": len(values), "data": data}


def ints_from_wire(msg: Any, count: int, what: str, party: str, max_width: int = 1024) -> list[int]:
    """Inverse of :func:`ints_to_wire`, refusing (MessageError) another count or a malformed buffer."""
    if not isinstance(msg, dict) or not isinstance(msg.get("data"), bytes | bytearray | memoryview):
        raise MessageError(f"{what}: malformed integer message", party=party, field=what)
    width, n, data = msg.get("width"), msg.get("count"), bytes(msg["data"])
    if not isinstance(width, int) or not 1 <= width <= max_width or n != count or len(data) != width * count:
        raise MessageError(
            f"{what}: expected {count} integers in a well-formed buffer", party=party, field=what
        )
    return [int.from_bytes(data[i : i + width], "big", signed=True) for i in range(0, len(data), width)]


def to_float(ints: Sequence[int], frac_bits: int, shape: tuple[int, int]) -> np.ndarray:
    """Fixed-point integers (column-major blocks) as a float64 matrix of ``shape``."""
    scale = 2.0**-frac_bits
    flat = np.array([float(v) for v in ints], dtype=np.float64) * scale if ints else np.zeros(0)
    return flat.reshape(shape[1], shape[0]).T.copy()


def to_ints(x: np.ndarray, frac_bits: int) -> list[int]:
    """A float matrix as fixed-point integers ``round(x·2^f)``, column-major."""
    return [
        int(v) for v in to_fixed(np.ascontiguousarray(np.asarray(x, dtype=np.float64).T).ravel(), frac_bits)
    ]


# -- training schedule and networks -----------------------------------------------------------------
def batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's mini-batches: a permutation seeded by ``(seed, epoch)`` cut into pieces.

    Both parties compute it from the shared seed and the aligned row count; no message needed.
    """
    if batch_size == -1 or batch_size >= n:
        return [np.arange(n)]
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def init_interactive(
    seed: int, guest_dim: int, host_dims: Sequence[int], out_dim: int, bias: bool
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Initial interactive weights ``(W_B, [W_A per host], b)``: uniform in ``±1/√fan_in`` (torch's
    Linear default), ``fan_in = guest_dim + Σ host_dims``; drawn by the guest."""
    fan_in = guest_dim + sum(host_dims)
    bound = 1.0 / np.sqrt(fan_in)
    rng = np.random.default_rng([seed, 7])
    w = rng.uniform(-bound, bound, size=(fan_in, out_dim))
    b = rng.uniform(-bound, bound, size=out_dim) if bias else np.zeros(out_dim)
    parts, start = [], guest_dim
    for d in host_dims:
        parts.append(w[start : start + d].copy())
        start += d
    return w[:guest_dim].copy(), parts, b


def build_module(layers: Sequence[dict[str, Any]], seed: int) -> nn.Module:
    """The float64 ``torch.nn.Sequential`` of ``layers``, initialised under ``torch.manual_seed(seed)``."""
    import torch

    from fedloom.ml.torch_layers import build_sequential

    with _SEEDED_BUILD, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_sequential(layers).double()


def dropout_mask(gen: torch.Generator, shape: tuple[int, int], p: float | None) -> torch.Tensor | None:
    """Inverted-dropout mask (kept entries ``1/(1-p)``), or None without dropout."""
    import torch

    if not p:
        return None
    keep = torch.rand(shape, generator=gen, dtype=torch.float64) >= p
    return keep.to(torch.float64) / (1.0 - p)
