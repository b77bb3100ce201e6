r"""The crypto layer's heavy loops spread over an :class:`~fedloom.compute.executor.Executor`.

:func:`parallel_encrypt`
    Paillier encryption of many raw plaintexts: one contiguous chunk per partition, each
    encrypted in a worker with a fresh obfuscator per ciphertext,
    :math:`c_i = (1 + m_i n)\, h_s^{a_i} \bmod n^2`. Every worker process keeps the key it
    rebuilt (and so its fixed-base comb table, built once) in a small cache keyed by the key's
    pickled form (modulus, exponent length, window), so later calls reuse the table. A worker
    picks its own DJN base :math:`h` the first time, exactly as any encryptor does
    (:mod:`fedloom.crypto.paillier.obfuscation`: the base is public and carries no secret), and
    draws each exponent :math:`a_i` from its own OS CSPRNG: the ciphertexts have the same
    distribution as ``key.encrypt_ints(values)`` and decrypt to the same values.

    With the key owner's :class:`PaillierPrivateKey`, workers use CRT obfuscators (same
    :math:`h_s^{a}`, computed mod :math:`p^2` and :math:`q^2`): the factors are sent to the
    workers, which is allowed only for an executor whose ``trusted_local`` is true (this party's
    own child processes on this machine, over pipes; never shared memory, never another host).
    Any other executor gets the public key only (public-key obfuscators, same distribution).

:func:`parallel_pack`
    Packing many slot-sized sums into few ciphertexts (Horner's rule) and re-randomising them,
    in blocks of whole slot groups: what a host does to every tree level's split candidates and
    to binning's bin sums before sending them to the key owner.

:func:`parallel_histograms`
    :func:`~fedloom.crypto.paillier.histogram.column_histograms` of a tree node's rows, its
    column blocks (:func:`~fedloom.crypto.paillier.histogram.plan_blocks`) divided between the
    partitions by their planned additions (largest first, onto the least loaded partition).
    Each partition's columns are summed in a worker; the parent places each column's sums in
    ``column_histograms``' layout. Sums mod :math:`n^2` do not depend on the order of the
    additions, so the result is **identical** to the single-thread computation, ciphertext for
    ciphertext.

    The ciphertexts (fixed for a whole tree) and the bin matrix (fixed for the whole training)
    go to the workers as broadcasts (:func:`~fedloom.compute.executor.share`): once per tree,
    then every node's tasks carry only the node's row indexes and its column lists. The
    ciphertexts are recognised by identity (pass the same vector object for every node of a
    tree), the bins by a digest of their bytes. Past :data:`MAX_TASK_ROWS` rows both are cut
    into row blocks, broadcast block by block, and a task sums one block's rows for one column
    group: no worker holds the whole table; the blocks' partial sums are added in the caller
    (products mod :math:`n^2`, so the result is still identical).

Every other kernel also cuts its input into at least ``len / MAX_TASK_ROWS`` tasks.

The plain debug cipher runs inline (no encryption work to spread); small work runs inline too
(process hand-offs cost more than they save).

Security: nothing here leaves the party. Results are deterministic functions of the inputs, as
with the single-thread functions: re-randomise or obfuscate before sending (see
:mod:`fedloom.crypto.paillier.histogram`).
"""

from __future__ import annotations

import hashlib
import heapq
import pickle
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, TypeVar, cast

import numpy as np
from gmpy2 import mpz

from fedloom.compute.executor import Broadcast, Executor, default_executor, share
from fedloom.core.errors import CryptoError
from fedloom.crypto.paillier.histogram import Block, column_histograms, count_additions, plan_blocks
from fedloom.crypto.paillier.keys import PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier.packing import Packer
from fedloom.crypto.paillier.plain import PlainPrivateKey, PlainPublicKey, PlainVector
from fedloom.crypto.paillier.vector import EncryptedVector

V = TypeVar("V", bound=EncryptedVector | PlainVector)
D = TypeVar("D")

#: Below this many plaintexts encryption runs inline.
PARALLEL_MIN_ENCRYPT = 1024
#: Below this many planned ciphertext additions histograms run inline.
PARALLEL_MIN_ADDITIONS = 20_000
#: Keys (with their comb tables) a worker process keeps.
WORKER_KEYS = 4

# -- encryption ------------------------------------------------------------------------------------------

_worker_keys: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_worker_keys_lock = threading.Lock()


def _cached_key(spec: tuple[Any, ...]) -> Any:
    """The encryption key of ``spec`` in this process, rebuilt once (its comb table with it)."""
    kind, pk = spec[0], spec[1]
    # A public key pickles as (n, exponent length, window): the identity of its encryptor setup.
    ident = (kind, pickle.dumps(pk))
    with _worker_keys_lock:
        key = _worker_keys.get(ident)
        if key is None:
            key = pk if kind == "public" else PaillierPrivateKey(pk, spec[2], spec[3])
            _worker_keys[ident] = key
            while len(_worker_keys) > WORKER_KEYS:
                _worker_keys.popitem(last=False)
        else:
            _worker_keys.move_to_end(ident)
    return key


def _to_wire(values: Sequence[Any], width: int) -> bytes:
    """Residues as fixed-width big-endian words (about 3× faster than pickling ``mpz`` values)."""
    return b"".join(int(v).to_bytes(width, "big") for v in values)


def _from_wire(raw: bytes, width: int, paillier: bool) -> list[Any]:
    view = memoryview(raw)
    ints = [int.from_bytes(view[i : i + width], "big") for i in range(0, len(view), width)]
    return [mpz(v) for v in ints] if paillier else ints


class _WireVector:
    """A vector (or its rows ``[start, stop)``) that pickles as ``(kind, key, scale, words)`` and
    unpickles as the vector (or those rows) itself. It holds the whole vector, so a broadcast
    remembered by the vector's ``id`` keeps that id unique."""

    def __init__(
        self, vector: EncryptedVector | PlainVector, start: int = 0, stop: int | None = None
    ) -> None:
        self.vector = vector
        self.bounds = (start, len(vector) if stop is None else stop)

    def rows(self) -> EncryptedVector | PlainVector:
        """The wrapped rows, in the process that made the wrapper."""
        a, b = self.bounds
        return self.vector if (a, b) == (0, len(self.vector)) else self.vector[a:b]

    def __reduce__(self) -> tuple[Any, ...]:
        v = self.rows()
        raw = _to_wire(v.ciphertexts, v.public_key.ciphertext_bytes)
        return (_vector_from_wire, (type(v), v.public_key, v.frac_bits, raw))


def _vector_from_wire(kind: Any, pk: Any, frac_bits: int, raw: bytes) -> Any:
    return kind(pk, _from_wire(raw, pk.ciphertext_bytes, kind is EncryptedVector), frac_bits)


def _inline(ex: Executor, parts: int) -> bool:
    """Run in the calling process: no work to cut, or one piece on this machine. A cluster
    executor with one partition still gets one task (the work runs on the cluster, and a
    1-worker cluster is timed like a 2-worker one by ``fedloom bench scale``)."""
    return parts <= 0 or (parts == 1 and bool(getattr(ex, "trusted_local", False)))


def _encrypt_chunk(task: tuple[Broadcast[tuple[Any, ...]], list[int]]) -> bytes:
    handle, values = task
    spec = handle.get()
    key = _cached_key(spec)
    return _to_wire(key.encrypt_ints(values).ciphertexts, spec[1].ciphertext_bytes)


#: Most rows (ciphertexts, values) one task holds: a Parquet row group's worth. Work on a longer
#: vector is cut into more tasks than partitions, so a worker never needs the whole table.
MAX_TASK_ROWS = 65_536


def _chunks(count: int, parts: int, rows_per_item: int = 1) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` bounds over ``count`` items: ``parts`` of them, more where a
    chunk would hold over :data:`MAX_TASK_ROWS` rows (``rows_per_item`` rows per item)."""
    parts = max(parts, -(-count * rows_per_item // MAX_TASK_ROWS))
    parts = min(parts, count) if count else 1
    step, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + step + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def parallel_encrypt(
    key: PaillierPublicKey | PaillierPrivateKey | PlainPublicKey | PlainPrivateKey,
    values: Sequence[int] | np.ndarray,
    executor: Executor | None = None,
) -> EncryptedVector | PlainVector:
    r"""``key.encrypt_ints(values)`` computed over the executor's workers.

    Parameters
    ----------
    key
        A Paillier public key, the key owner's private key (CRT obfuscators, faster), or a key of
        the ``plain`` debug cipher (inline).
    values
        Raw plaintexts in :math:`[0, n)` (packed values; see :class:`~fedloom.crypto.paillier.Packer`).
    executor
        Where to run; default :func:`~fedloom.compute.executor.default_executor`.

    Returns
    -------
    EncryptedVector or PlainVector
        One fresh ciphertext per value, in order, ``frac_bits = 0``, under the public key.

    Raises
    ------
    CryptoError
        A value outside :math:`[0, n)`.
    """
    if isinstance(key, PlainPublicKey | PlainPrivateKey):
        return key.encrypt_ints(values)
    if not isinstance(key, PaillierPublicKey | PaillierPrivateKey):
        raise CryptoError(f"parallel_encrypt takes a Paillier or plain key. Got {type(key).__name__}.")
    vals = [int(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
    pk = key.public_key if isinstance(key, PaillierPrivateKey) else key
    n = int(pk.n)
    if any(v < 0 or v >= n for v in vals):
        raise CryptoError("parallel_encrypt takes integers in [0, n)", field="values")
    ex = default_executor() if executor is None else executor
    parts = min(ex.n_partitions, len(vals))
    if _inline(ex, parts) or len(vals) < PARALLEL_MIN_ENCRYPT:
        return key.encrypt_ints(vals)
    spec: tuple[Any, ...]
    if isinstance(key, PaillierPrivateKey) and getattr(ex, "trusted_local", False):
        spec = ("crt", pk, int(key.p), int(key.q))
    else:
        spec = ("public", pk)
    handle = ex.broadcast(spec)  # the key once per call, not once per task
    try:
        results = ex.map(_encrypt_chunk, [(handle, vals[a:b]) for a, b in _chunks(len(vals), parts)])
    finally:
        ex.release(handle)
    return EncryptedVector(pk, _from_wire(b"".join(results), pk.ciphertext_bytes, True), 0)


# -- histograms ------------------------------------------------------------------------------------------


def _words_out(vec: EncryptedVector | PlainVector) -> np.ndarray | list[Any]:
    """A task's ciphertexts as fixed-width ``uint8`` words (the plain debug cipher's ints as they are)."""
    if isinstance(vec, EncryptedVector):
        return np.frombuffer(_to_wire(vec.ciphertexts, vec.public_key.ciphertext_bytes), dtype=np.uint8)
    return list(vec.ciphertexts)


def _words_in(part: np.ndarray | list[Any], pk: Any) -> list[Any]:
    """Inverse of :func:`_words_out`, in the caller."""
    if isinstance(part, np.ndarray):
        return _from_wire(part.tobytes(), pk.ciphertext_bytes, True)
    return part


def _histogram_task(task: tuple[Any, ...]) -> np.ndarray | list[Any]:
    enc_handle, bins_handle, rows, cols, n_bins, skip, blocks = task
    enc = enc_handle.get()
    if isinstance(enc, _WireVector):  # read in the process that made the broadcast
        enc = enc.rows()
    bins = bins_handle.get()
    sub = enc if rows is None else enc[rows]
    b = bins[:, cols] if rows is None else bins[np.ix_(rows, cols)]
    return _words_out(column_histograms(sub, b, n_bins, skip, blocks=blocks))


def _digest(a: np.ndarray) -> tuple[Any, ...]:
    data = np.ascontiguousarray(a)
    return (a.shape, a.dtype.str, hashlib.blake2b(data.tobytes(), digest_size=16).digest())


def _rows(rows: Any, n_rows: int) -> np.ndarray | None:
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.dtype == np.bool_:
        if arr.shape != (n_rows,):
            raise CryptoError(f"a row mask must have shape ({n_rows},). Got {arr.shape}.", field="rows")
        return np.flatnonzero(arr)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise CryptoError(
            f"rows must be 1-D int indexes or a bool mask. Got {arr.dtype} {arr.shape}.", field="rows"
        )
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n_rows):
        raise CryptoError(f"a row index is outside [0, {n_rows})", field="rows")
    return arr


def _divide(plan: Sequence[Block], parts: int) -> list[list[Block]]:
    """Blocks onto ``parts`` partitions, largest first onto the least loaded (LPT)."""
    heap = [(0, i) for i in range(parts)]
    groups: list[list[Block]] = [[] for _ in range(parts)]
    for blk in sorted(plan, key=lambda b: (-b.additions, b.columns)):
        load, i = heapq.heappop(heap)
        groups[i].append(blk)
        heapq.heappush(heap, (load + blk.additions, i))
    return [g for g in groups if g]


def parallel_histograms(
    enc: V,
    bins: np.ndarray,
    n_bins: Sequence[int] | np.ndarray,
    rows: np.ndarray | None = None,
    executor: Executor | None = None,
    *,
    skip: Sequence[int] | np.ndarray | None = None,
) -> V:
    r"""``column_histograms(enc[rows], bins[rows], n_bins, skip)`` over the executor's workers.

    Parameters
    ----------
    enc
        One ciphertext per row of the whole data set (:class:`EncryptedVector` or
        :class:`PlainVector`). Pass the same object for every node of a tree: it is shipped to
        the workers once.
    bins
        ``(rows, columns)`` int bin indexes of the whole data set (fixed for the training).
    n_bins
        Bins per column.
    rows
        The node's rows: int indexes or a bool mask over ``enc``; ``None``: all rows.
    executor
        Where to run; default :func:`~fedloom.compute.executor.default_executor`.
    skip
        Per column, the bin left out of the result (``-1``: none); default none.

    Returns
    -------
    EncryptedVector or PlainVector
        Exactly what :func:`~fedloom.crypto.paillier.histogram.column_histograms` returns on the
        node's rows: column by column, bins ascending, left-out bins omitted.

    Raises
    ------
    CryptoError
        Shapes, indexes or rows that do not fit.
    """
    b = _check_histogram_inputs(enc, bins)
    idx = _rows(rows, len(enc))
    b_node = b if idx is None else b[idx]
    plan = plan_blocks(b_node, n_bins, skip)  # validates n_bins, skip and the node's bins
    ex = default_executor() if executor is None else executor
    parts = min(ex.n_partitions, len(plan))
    if _inline(ex, parts) or count_additions(plan) < PARALLEL_MIN_ADDITIONS:
        sub = enc if idx is None else enc[idx]
        return cast(V, column_histograms(sub, b_node, n_bins, skip, blocks=plan))
    nb = np.asarray(n_bins, dtype=np.int64).reshape(-1)
    sk = np.full(len(nb), -1, dtype=np.int64) if skip is None else np.asarray(skip, dtype=np.int64)
    groups = _divide(plan, parts)
    make: Any = type(enc)
    tasks, layouts = _row_block_tasks(ex, enc, b, idx, groups, nb, sk)
    if not tasks:  # a node without rows: every sum is an encryption of 0, made in one place
        return cast(V, column_histograms(enc if idx is None else enc[idx], b_node, n_bins, skip, blocks=plan))
    results = ex.map(_histogram_task, tasks)
    # Block-major results: each block's partial sums for every column group, added across blocks.
    per_group: list[Any] = [None] * len(groups)
    for i, sums in enumerate(results):
        part = make(enc.public_key, _words_in(sums, enc.public_key), enc.frac_bits)
        g = i % len(groups)
        per_group[g] = part if per_group[g] is None else per_group[g] + part
    out = _merge_histograms(layouts, [list(v.ciphertexts) for v in per_group], nb, sk)
    return cast(V, make(enc.public_key, out, enc.frac_bits))


def _row_block_tasks(
    ex: Executor,
    enc: Any,
    b: np.ndarray,
    idx: np.ndarray | None,
    groups: list[list[Block]],
    nb: np.ndarray,
    sk: np.ndarray,
) -> tuple[list[tuple[Any, ...]], list[list[int]]]:
    """Tasks for every (row block, column group) pair, block-major, and the groups' columns.

    The rows are cut into blocks of at most :data:`MAX_TASK_ROWS` (one block up to that size);
    each block's ciphertexts and bins are broadcast on their own, remembered for the tree / the
    training as one group (:func:`~fedloom.compute.executor.share`), so a task holds one block,
    never the whole table. A block without rows of the node gets no task. Sums of ciphertexts are
    products mod :math:`n^2`: adding the blocks' partial sums gives the one-pass result exactly.
    """
    # Sums do not depend on the order of the rows: sorted, each block's rows are one slice.
    rows = np.arange(len(enc), dtype=np.int64) if idx is None else np.sort(idx)
    digest = _digest(b)
    tasks: list[tuple[Any, ...]] = []
    layouts: list[list[int]] = []
    for a, z in _chunks(len(enc), 1):
        lo, hi = np.searchsorted(rows, (a, z))
        mine = rows[lo:hi] - a
        if not mine.size:
            continue
        whole = (a, z) == (0, len(enc))
        # Recognised by identity: the wrapper holds the vector, so the id stays unique.
        enc_handle: Broadcast[Any] = share(
            ex, _WireVector(enc, a, z), key=("vector", id(enc), a), group=("vector", id(enc))
        )
        bins_handle: Broadcast[Any] = share(ex, b if whole else b[a:z], key=("bins", digest, a), group=digest)
        block_rows = None if whole and idx is None else mine
        block_tasks, layouts = _histogram_tasks(groups, enc_handle, bins_handle, block_rows, nb, sk)
        tasks.extend(block_tasks)
    return tasks, layouts


def _check_histogram_inputs(enc: Any, bins: np.ndarray) -> np.ndarray:
    """The bins as a ``(rows, columns)`` matrix, refusing a vector or row count that cannot match."""
    if not isinstance(enc, EncryptedVector | PlainVector):
        raise CryptoError(
            f"parallel_histograms takes an EncryptedVector or PlainVector. Got {type(enc).__name__}.",
            field="enc",
        )
    b = np.asarray(bins)
    if b.ndim == 1:
        b = b.reshape(-1, 1)
    if b.ndim != 2 or b.shape[0] != len(enc):
        raise CryptoError(
            f"{b.shape[0] if b.ndim else 0} rows of bin indexes for {len(enc)} ciphertexts", field="bins"
        )
    return b


def _histogram_tasks(
    groups: list[list[Block]],
    enc_handle: Broadcast[Any],
    bins_handle: Broadcast[Any],
    idx: np.ndarray | None,
    nb: np.ndarray,
    sk: np.ndarray,
) -> tuple[list[tuple[Any, ...]], list[list[int]]]:
    """One task per partition, its blocks renumbered onto its own columns so workers stay independent.

    Returns the tasks and, per task, the global columns it sums (in the order it returns them).
    """
    tasks, layout = [], []
    for group in groups:
        cols = sorted(c for blk in group for c in blk.columns)
        local = {c: i for i, c in enumerate(cols)}
        blocks = [Block(tuple(local[c] for c in blk.columns), blk.additions) for blk in group]
        tasks.append((enc_handle, bins_handle, idx, cols, nb[cols], sk[cols], blocks))
        layout.append(cols)
    return tasks, layout


def _merge_histograms(
    layout: list[list[int]], results: Sequence[list[Any]], nb: np.ndarray, sk: np.ndarray
) -> list[Any]:
    """The workers' sums put back in column order, as :func:`column_histograms` would return them."""
    per_column: dict[int, list[Any]] = {}
    for cols, sums in zip(layout, results, strict=True):
        start = 0
        for c in cols:
            width = int(nb[c]) - (1 if sk[c] >= 0 else 0)
            per_column[c] = sums[start : start + width]
            start += width
    return [s for c in range(len(nb)) for s in per_column[c]]


# -- encrypted dot products --------------------------------------------------------------------------------

#: Below this many rows a dot product runs inline.
PARALLEL_MIN_DOT_ROWS = 2048


def _dot_task(task: tuple[Any, ...]) -> np.ndarray | list[Any]:
    enc, ks = task
    if isinstance(enc, _WireVector):  # read in the process that made the task
        enc = enc.rows()
    return _words_out(enc.dot(ks))


def parallel_dot(
    enc: D,
    matrix: Any,
    precision_bits: int | None = None,
    executor: Executor | None = None,
) -> D:
    r"""``enc.dot(matrix, precision_bits)`` with its rows spread over a cluster executor.

    :math:`[y_j] = \prod_i [a_i]^{X_{ij}} \bmod n^2` is a product over rows, so the rows are cut
    into ``n_partitions`` contiguous chunks, each chunk's partial products computed in a task
    (the chunk's ciphertexts travel as fixed-width words), and the partials multiplied in the
    caller: the result is **identical**, ciphertext for ciphertext, to ``enc.dot``. The plaintext
    matrix is encoded once in the caller (fixed point with ``precision_bits``), so every chunk
    uses the same scale.

    A :class:`~fedloom.compute.executor.LocalExecutor` (``trusted_local``) keeps the inline
    ``enc.dot``: on one machine the crypto layer's own threads already spread the
    exponentiations over the cores without copying the ciphertexts. Sparse matrices, the plain
    debug cipher and fewer than :data:`PARALLEL_MIN_DOT_ROWS` rows run inline too.

    Parameters
    ----------
    enc
        ``[a]``, one ciphertext per row.
    matrix
        ``(len(enc), k)`` plaintext matrix (1-D: one column).
    precision_bits
        Fixed-point bits of float entries (default: :meth:`EncryptedVector.dot`'s).
    executor
        Where to run; default :func:`~fedloom.compute.executor.default_executor`.
    """
    from fedloom.crypto.paillier.vector import _matrix_to_ints, is_sparse_matrix

    vec: Any = enc
    kw = {} if precision_bits is None else {"precision_bits": precision_bits}
    ex = default_executor() if executor is None else executor
    if (
        not isinstance(vec, EncryptedVector)
        or is_sparse_matrix(matrix)
        or getattr(ex, "trusted_local", False)
        or len(vec) < PARALLEL_MIN_DOT_ROWS
    ):
        return cast(D, vec.dot(matrix, **kw))
    mat = np.asarray(matrix)
    if mat.ndim == 1:
        mat = mat.reshape(-1, 1)
    if mat.ndim != 2 or mat.shape[0] != len(vec) or mat.dtype.kind not in "biufO":
        return cast(D, vec.dot(matrix, **kw))  # let the vector raise its own error
    ks, extra = _matrix_to_ints(mat, precision_bits if precision_bits is not None else _dot_bits())
    parts = min(ex.n_partitions, len(vec))
    tasks = [(_WireVector(vec[a:b]), ks[a:b]) for a, b in _chunks(len(vec), parts) if b > a]
    partials = ex.map(_dot_task, tasks)
    n2 = vec.public_key.nsquare
    out = [mpz(1)] * ks.shape[1]
    for part in partials:
        out = [x * mpz(y) % n2 for x, y in zip(out, _words_in(part, vec.public_key), strict=True)]
    return cast(D, EncryptedVector(vec.public_key, out, vec.frac_bits + extra))


def _dot_bits() -> int:
    from fedloom.crypto.paillier.encoding import MUL_PRECISION_BITS

    return int(MUL_PRECISION_BITS)


# -- re-randomisation ---------------------------------------------------------------------------------

#: Below this many ciphertexts re-randomisation stays in the calling process.
PARALLEL_MIN_RERANDOMIZE = 4096


def _rerandomize_task(task: tuple[Broadcast[Any], np.ndarray]) -> np.ndarray:
    handle, words = task
    pk = handle.get()
    width = pk.ciphertext_bytes
    block = EncryptedVector(pk, _from_wire(words.tobytes(), width, True), 0)
    # The worker draws its own r_i (OS CSPRNG of its host): fresh and uniform, as in one process.
    return np.frombuffer(_to_wire(block.rerandomize().ciphertexts, width), dtype=np.uint8)


def parallel_rerandomize(vec: EncryptedVector, executor: Executor | None = None) -> EncryptedVector:
    r""":meth:`EncryptedVector.rerandomize` (:math:`c_i \cdot r_i^n \bmod n^2`, :math:`r_i`
    uniform in :math:`\mathbb{Z}_n^*`) with the vector cut into ``n_partitions`` contiguous blocks,
    one task each.

    The public key is broadcast once; each block travels as fixed-width big-endian words
    (``uint8``) and comes back the same way. Each worker draws its own :math:`r_i` from its
    host's OS CSPRNG, so the result has exactly the distribution of the single-process call
    (a fresh uniform :math:`n`-th residue per ciphertext) and decrypts to the same values. Short
    vectors (below :data:`PARALLEL_MIN_RERANDOMIZE`) and an inline executor run in the calling
    process.
    """
    ex = default_executor() if executor is None else executor
    if len(vec) < max(PARALLEL_MIN_RERANDOMIZE, 2) or (
        ex.n_partitions <= 1 and getattr(ex, "trusted_local", False)
    ):
        return vec.rerandomize()
    pk = vec.public_key
    width = pk.ciphertext_bytes
    words = np.frombuffer(_to_wire(vec.ciphertexts, width), dtype=np.uint8)
    handle = ex.broadcast(pk)
    try:
        parts = ex.map(
            _rerandomize_task,
            [
                (handle, words[a * width : b * width])
                for a, b in _chunks(len(vec), min(ex.n_partitions, len(vec)))
            ],
        )
    finally:
        ex.release(handle)
    out: list[Any] = []
    for part in parts:
        out.extend(_from_wire(part.tobytes(), width, True))
    return EncryptedVector(pk, out, vec.frac_bits)


# -- packing -------------------------------------------------------------------------------------------

#: Below this many ciphertexts packing stays in the calling process.
PARALLEL_MIN_PACK = 1024


def _pack_task(task: tuple[Broadcast[Any], int, int, np.ndarray]) -> np.ndarray:
    handle, slot_bits, n_slots, words = task
    pk = handle.get()
    width = pk.ciphertext_bytes
    block = EncryptedVector(pk, _from_wire(words.tobytes(), width, True), 0)
    packed = Packer(slot_bits, n_slots).pack_encrypted(block).rerandomize()
    return np.frombuffer(_to_wire(packed.ciphertexts, width), dtype=np.uint8)


def parallel_pack(packer: Packer, vec: V, executor: Executor | None = None) -> V:
    r"""``packer.pack_encrypted(vec).rerandomize()``: ``n_slots`` values per ciphertext by Horner's
    rule, then fresh randomness on every packed ciphertext, with the vector cut into blocks of
    whole slot groups, one task each.

    Both halves are per-group work: Horner's rule costs ``n_slots − 1`` exponentiations by
    :math:`2^b` and multiplications per packed ciphertext (GIL-bound ``mpz`` arithmetic), the
    re-randomisation one full exponentiation. Blocks end on a group boundary, so every packed
    ciphertext holds the same slots as in one process (only the last group is zero-padded) and
    decrypts to the same value; each worker draws its own :math:`r_i` (see
    :func:`parallel_rerandomize`). The public key is broadcast once; ciphertexts travel as
    fixed-width words. Short vectors (below :data:`PARALLEL_MIN_PACK`), the plain cipher and an
    inline executor run in the calling process.
    """
    ex = default_executor() if executor is None else executor
    s = packer.n_slots
    groups = -(-len(vec) // s)
    parts = min(ex.n_partitions, groups)
    if not isinstance(vec, EncryptedVector) or len(vec) < PARALLEL_MIN_PACK or _inline(ex, parts):
        return cast(V, packer.pack_encrypted(vec).rerandomize())
    if vec.frac_bits != 0:
        raise CryptoError("pack_encrypted needs integer (frac_bits == 0) ciphertexts")
    pk = vec.public_key
    width = pk.ciphertext_bytes
    words = np.frombuffer(_to_wire(vec.ciphertexts, width), dtype=np.uint8)
    handle = ex.broadcast(pk)
    try:
        tasks = [
            (handle, packer.slot_bits, s, words[a * s * width : min(b * s, len(vec)) * width])
            for a, b in _chunks(groups, parts, s)
        ]
        packed = ex.map(_pack_task, tasks)
    finally:
        ex.release(handle)
    out: list[Any] = []
    for part in packed:
        out.extend(_from_wire(part.tobytes(), width, True))
    return cast(V, EncryptedVector(pk, out, 0))


def _offload_rerandomize(vec: EncryptedVector) -> EncryptedVector | None:
    """The crypto layer's hook (:data:`fedloom.crypto.paillier.vector.rerandomize_offload`):
    long vectors go to a **cluster** executor; on one machine the crypto layer's own threads
    already spread the exponentiations (GIL released) without copying ciphertexts, so a
    :class:`~fedloom.compute.executor.LocalExecutor` keeps the in-process path (``None``)."""
    if len(vec) < PARALLEL_MIN_RERANDOMIZE:
        return None
    ex = default_executor()
    if getattr(ex, "trusted_local", False):
        return None
    return parallel_rerandomize(vec, ex)


def _install_hooks() -> None:
    from fedloom.crypto.paillier import vector as _vector

    _vector.rerandomize_offload = _offload_rerandomize


_install_hooks()
