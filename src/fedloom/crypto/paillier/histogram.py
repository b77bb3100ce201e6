r"""Encrypted histograms of many columns at once: :math:`[\sum_{i: b_{ij} = v} y_i]` per (column, bin).

Given one ciphertext :math:`[y_i]` per row and, per column :math:`j`, a bin index
:math:`b_{ij}` per row, :func:`column_histograms` returns the encrypted sum of every (column,
bin), leaving out one chosen bin per column (the caller derives it from a known total:
:math:`\text{total} - \sum \text{other bins}`). It works for :class:`EncryptedVector` (a sum is a
product mod :math:`n^2`) and for the ``plain`` cipher's :class:`PlainVector` (a sum mod
:math:`n`), and returns the same kind of vector.

The cost is the number of ciphertext additions (one ``mulmod`` of :math:`n^2`-sized numbers,
about a microsecond with a 1024-bit key). Summing each column on its own costs
:math:`\sum_j (\text{rows} - \text{rows in the left-out bin})`: about
:math:`\text{rows} \cdot \text{columns} \cdot (1 - 1/\text{bins})`. Columns are instead
summed in **blocks** that share their additions:

1. the rows are grouped by the tuple of their bins in the block's :math:`k` columns (the
   group's code :math:`\sum_j b_{ij} \cdot \text{stride}_j`, sorted with numpy), and each
   group's ciphertexts are added: :math:`\text{rows} - G` additions for :math:`G` non-empty
   groups (rows whose every bin is a left-out one are never needed, and skipped);
2. each column's bins are sums of group sums (the groups with that bin): about :math:`G`
   additions per column.

A block of :math:`k` columns costs about :math:`\text{rows} + k G` instead of
:math:`k \cdot \text{rows}`; with 10 bins per column and :math:`G \le 10^k`, blocks of 3–4
columns cost about a third of the column-by-column sum. The blocks are chosen greedily: a column
joins the current block when that costs fewer additions than summing it alone (so sparse
columns, whose left-out bin holds most rows, are summed alone over their few other rows).

Each group sum and bin sum is a loop over a contiguous run of a pre-permuted list (the
permutation computed with numpy), so the Python overhead is one loop step per addition.

Parallelism: gmpy2 releases the GIL only in its list functions (``powmod_base_list``), not in
``mpz`` multiplication or ``%``, so threads do not speed these additions up (measured: 2 workers
were no faster than 1); the blocks run in the calling thread.

Security: the result is a deterministic function of the input ciphertexts (and an empty bin is
the trivial encryption ``1``). Before sending it to the key owner call
:meth:`EncryptedVector.rerandomize` (after any packing); before sending it to anyone else,
:meth:`EncryptedVector.obfuscate`.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from gmpy2 import mpz

from fedloom.core.errors import CryptoError
from fedloom.crypto.paillier.plain import PlainVector
from fedloom.crypto.paillier.vector import EncryptedVector

V = TypeVar("V", bound=EncryptedVector | PlainVector)

#: Largest number of tuples (product of the block's bin counts) a block may address.
MAX_BLOCK_CODES = 1 << 24


@dataclass(frozen=True)
class Block:
    """Columns summed together, and the additions they are expected to cost."""

    columns: tuple[int, ...]
    additions: int


def _check(
    bins: np.ndarray, n_bins: Sequence[int] | np.ndarray, skip: Any, n_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = np.asarray(bins)
    if b.ndim == 1:
        b = b.reshape(-1, 1)
    if b.ndim != 2 or b.dtype.kind not in "iu":
        raise CryptoError(f"bin indexes must be a (rows, columns) int matrix. Got {b.dtype} {b.shape}.")
    if b.shape[0] != n_rows:
        raise CryptoError(f"{b.shape[0]} rows of bin indexes for {n_rows} ciphertexts")
    nb = np.asarray(n_bins, dtype=np.int64).reshape(-1)
    if nb.shape != (b.shape[1],) or np.any(nb < 1):
        raise CryptoError(f"n_bins must give a count >= 1 for each of the {b.shape[1]} columns")
    sk = np.full(b.shape[1], -1, dtype=np.int64) if skip is None else np.asarray(skip, dtype=np.int64)
    if sk.shape != (b.shape[1],) or np.any(sk < -1) or np.any(sk >= nb):
        raise CryptoError("skip must give, per column, a bin index or -1 (none)")
    if b.size and (b.min() < 0 or np.any(b.max(axis=0) >= nb)):
        raise CryptoError("a bin index is outside [0, n_bins) of its column")
    return b, nb, sk


def _block_cost(codes: np.ndarray, needed: np.ndarray, k: int, n_codes: int) -> int:
    """Additions of a block: grouping the needed rows, then ``k`` marginals over the groups."""
    rows = int(needed.sum())
    if rows == 0:
        return 0
    groups = int(np.count_nonzero(np.bincount(codes[needed], minlength=n_codes)))
    if k == 1:
        return rows - groups
    return rows - groups + k * groups


def plan_blocks(
    bins: np.ndarray, n_bins: Sequence[int] | np.ndarray, skip: Sequence[int] | np.ndarray | None = None
) -> list[Block]:
    """Group the columns into blocks (greedily, in column order); see the module docstring.

    A column joins the current block when the block's additions with it are fewer than the
    block's without it plus the column's alone, and the block's tuples stay addressable
    (product of bin counts at most the rows and :data:`MAX_BLOCK_CODES`).
    """
    b, nb, sk = _check(bins, n_bins, skip, np.asarray(bins).shape[0])
    n_rows, n_cols = b.shape
    blocks: list[Block] = []
    j = 0
    while j < n_cols:
        codes = b[:, j].astype(np.int64)
        needed = codes != sk[j]
        size = int(nb[j])
        members = [j]
        cost = _block_cost(codes, needed, 1, size)
        j += 1
        while j < n_cols and size * int(nb[j]) <= min(max(n_rows, 1), MAX_BLOCK_CODES):
            alone = int(np.count_nonzero(b[:, j] != sk[j]))
            cand_codes = codes * int(nb[j]) + b[:, j]
            cand_needed = needed | (b[:, j] != sk[j])
            cand = _block_cost(cand_codes, cand_needed, len(members) + 1, size * int(nb[j]))
            if cand >= cost + alone:
                break
            codes, needed, size, cost = cand_codes, cand_needed, size * int(nb[j]), cand
            members.append(j)
            j += 1
        blocks.append(Block(tuple(members), cost))
    return blocks


def _runs(
    values: list[Any], order: np.ndarray, keys: np.ndarray, n_keys: int, paillier: bool, mod: Any
) -> list[Any]:
    """Sum ``values`` per key (``keys[i]`` for ``values[i]``), in ``order`` sorted by key.

    Returns ``n_keys`` sums; an empty key is None.
    """
    out: list[Any] = [None] * n_keys
    if len(order) == 0:
        return out
    sorted_keys = keys[order]
    perm = operator.itemgetter(*order.tolist())(values) if len(order) > 1 else (values[int(order[0])],)
    edges = np.flatnonzero(np.diff(sorted_keys)) + 1
    starts = np.concatenate(([0], edges)).tolist()
    ends = np.concatenate((edges, [len(order)])).tolist()
    run_keys = sorted_keys[starts].tolist()
    for key, a, e in zip(run_keys, starts, ends, strict=True):
        acc = perm[a]
        if paillier:
            for c in perm[a + 1 : e]:
                acc = acc * c % mod
        else:
            for c in perm[a + 1 : e]:
                acc = (acc + c) % mod
        out[key] = acc
    return out


def _block_codes(
    b: np.ndarray, nb: np.ndarray, sk: np.ndarray, cols: list[int]
) -> tuple[np.ndarray, np.ndarray, list[int], int]:
    """Each row's group code over the block's columns, so one sort groups rows sharing all bins.

    Returns the codes, which rows have at least one bin that is not left out (the others are never
    needed), the stride of each column in the code, and the number of possible codes.
    """
    codes = np.zeros(b.shape[0], dtype=np.int64)
    needed = np.zeros(b.shape[0], dtype=bool)
    strides = []
    size = 1
    for j in reversed(cols):
        strides.append(size)
        codes += b[:, j].astype(np.int64) * size
        needed |= b[:, j] != sk[j]
        size *= int(nb[j])
    strides.reverse()
    return codes, needed, strides, size


def _block_histograms(
    values: list[Any],
    b: np.ndarray,
    nb: np.ndarray,
    sk: np.ndarray,
    cols: list[int],
    paillier: bool,
    mod: Any,
) -> dict[int, list[Any]]:
    """One block's bin sums per column: group sums first, so the columns share their additions."""
    codes, needed, strides, size = _block_codes(b, nb, sk, cols)
    rows = np.flatnonzero(needed)
    order = rows[np.argsort(codes[rows], kind="stable")]
    groups = _runs(values, order, codes, size, paillier, mod)
    if len(cols) == 1:
        # A lone column's groups are its bins already.
        return {cols[0]: groups}
    return _bins_from_groups(groups, nb, sk, cols, strides, paillier, mod)


def _bins_from_groups(
    groups: list[Any],
    nb: np.ndarray,
    sk: np.ndarray,
    cols: list[int],
    strides: list[int],
    paillier: bool,
    mod: Any,
) -> dict[int, list[Any]]:
    """Each column's bin sums as sums of the non-empty group sums holding that bin."""
    present = np.asarray([g is not None for g in groups])
    group_ids = np.flatnonzero(present)
    group_vals = [groups[g] for g in group_ids.tolist()]
    local = np.arange(len(group_ids))
    per_column: dict[int, list[Any]] = {}
    for j, stride in zip(cols, strides, strict=True):
        gbins = (group_ids // stride) % int(nb[j])
        keep = local[gbins != sk[j]]
        per_column[j] = _runs(
            group_vals, keep[np.argsort(gbins[keep], kind="stable")], gbins, int(nb[j]), paillier, mod
        )
    return per_column


def _flatten_histograms(
    per_column: dict[int, list[Any]], nb: np.ndarray, sk: np.ndarray, one: Any
) -> list[Any]:
    """The sums column by column, bins ascending, left-out bins dropped and empty bins made ``one``."""
    out: list[Any] = []
    for j in range(len(nb)):
        sums = per_column[j]
        out.extend(one if sums[v] is None else sums[v] for v in range(int(nb[j])) if v != sk[j])
    return out


def column_histograms(
    enc: V,
    bins: np.ndarray,
    n_bins: Sequence[int] | np.ndarray,
    skip: Sequence[int] | np.ndarray | None = None,
    blocks: Sequence[Block] | None = None,
) -> V:
    r"""The encrypted sum of ``enc`` per (column, bin), leaving out ``skip[j]`` of each column.

    Parameters
    ----------
    enc
        One ciphertext per row (:class:`EncryptedVector` or :class:`PlainVector`).
    bins
        ``(rows, columns)`` int matrix: the bin of each row in each column (a 1-D array: one
        column).
    n_bins
        Bins per column; every index of column ``j`` lies in ``[0, n_bins[j])``.
    skip
        Per column, the bin left out of the result (``-1``: none); default none.
    blocks
        Column blocks from :func:`plan_blocks` (computed when left out).

    Returns
    -------
    EncryptedVector or PlainVector
        Column by column, bin by bin ascending, without the left-out bins:
        ``sum(n_bins) - (number of columns with a left-out bin)`` sums, same scale as ``enc``.
        An empty bin is an encryption of 0 (the trivial one: re-randomise or obfuscate before
        sending it anywhere).

    Raises
    ------
    CryptoError
        Shapes or indexes that do not fit.
    """
    if not isinstance(enc, EncryptedVector | PlainVector):
        raise CryptoError(
            f"column_histograms takes an EncryptedVector or PlainVector. Got {type(enc).__name__}."
        )
    b, nb, sk = _check(bins, n_bins, skip, len(enc))
    plan = list(blocks) if blocks is not None else plan_blocks(b, nb, sk)
    if sorted(c for blk in plan for c in blk.columns) != list(range(b.shape[1])):
        raise CryptoError("the blocks must cover every column exactly once")
    paillier = isinstance(enc, EncryptedVector)
    pk = enc.public_key
    mod = pk.nsquare if paillier else pk.n
    one: Any = mpz(1) if paillier else 0
    per_column: dict[int, list[Any]] = {}
    for blk in plan:
        per_column.update(_block_histograms(enc.ciphertexts, b, nb, sk, list(blk.columns), paillier, mod))
    out = _flatten_histograms(per_column, nb, sk, one)
    make: Any = type(enc)  # the input's kind: EncryptedVector or PlainVector
    return cast(V, make(pk, out, enc.frac_bits))


def count_additions(blocks: Sequence[Block]) -> int:
    """The additions the planned blocks cost (the planner's estimate, exact for lone columns)."""
    return sum(blk.additions for blk in blocks)
