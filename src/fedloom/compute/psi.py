r"""PSI's heavy loops spread over an :class:`~fedloom.compute.executor.Executor` (issue 16).

The commutative PSI methods (:mod:`fedloom.protocols.psi.ecdh`, :mod:`fedloom.protocols.psi.dh`)
spend their time in two per-id loops:

* hashing ids into the group, :math:`H(x)` (ECDH: a digest mapped to a curve point; DH: a
  counter-mode digest reduced mod :math:`p` and squared);
* the secret scalar applied to every element, :math:`k \cdot P` (ECDH) or :math:`m^k \bmod p`
  (DH), once on a party's own hashed ids and once on the peer's values.

RSA blind-signature PSI (:mod:`fedloom.protocols.psi.rsa`) has the same two loops: the
full-domain hash into :math:`\mathbb{Z}_n` (:func:`~fedloom.crypto.rsa_blind.hash_to_zn`) and
the key owner's CRT signatures :math:`m^d \bmod n` (:meth:`RsaPrivateKey.sign_ints`, the
heaviest loop of all PSI methods: two half-size exponentiations per id). Blinding and
unblinding stay in the calling process: the blinding factors are drawn there from the OS CSPRNG
by :class:`~fedloom.crypto.rsa_blind.BlindingPool` (routing them would move the draws into the
workers), and applying them is one modular multiplication per id, cheaper than shipping it.

All are pure per-element maps, so they are cut into contiguous **blocks** of at least
:data:`BLOCK_MIN` ids (one block per partition, more when a block would exceed
:data:`BLOCK_MAX`), each block a task. A task carries **bytes in and bytes out**: ids as one
UTF-8 buffer with an offsets array, group elements (and integers mod :math:`n`) as an
``(n, width)`` ``uint8`` matrix (Ray stores numpy arrays zero-copy in its object store); never a
list of Python ints. The secret scalar (RSA: the private key's CRT parameters) is broadcast
**once per call** and released when the call returns.

The result is the same list, element for element, as the single-process computation
(:meth:`~fedloom.crypto.ecdh.EcdhKey.multiply`, RSA signing and friends are deterministic), so a
PSI gives the same intersection on every backend.

Security: the executor's workers are this party's own (its process pool, or its own Ray
cluster, whose object store holds the broadcast until the call releases it, and whose workers
keep a decoded copy in their small LRU cache until a later task tells them it was released).
Nothing here reaches another party. Received values are checked exactly as in one process
(small-order points, non-residues raise :class:`~fedloom.core.errors.MessageError` in the
worker, re-raised in the caller; received RSA values are checked in the caller before any task).

* The ECDH / DH scalar is a fresh per-run secret: once the run is over it protects nothing.
* The RSA private key is the signer's long-lived secret when the intersection is **cached**
  (the host keeps ``p, q`` in its cache artifact and signs every later cached run with them,
  until the cache is remade). Whoever reads it from a worker's memory can sign guessed ids and
  test them against the signatures the guest holds, in that run and in every later one. So it is
  sent only to executors known to be this party's own: ``trusted_local`` ones (the
  :class:`~fedloom.compute.executor.LocalExecutor`'s child processes) and the
  :class:`~fedloom.compute.ray_backend.RayExecutor` of the party's configured cluster, which then
  sits inside the same trust boundary as the party's cache storage. Any other
  :class:`~fedloom.compute.executor.Executor` implementation signs in the calling process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fedloom.compute.executor import Broadcast, Executor, default_executor

#: Below this many elements the loops run in the calling process (task hand-offs cost more).
PARALLEL_MIN_IDS = 8192
#: Fewest elements per task (coarse tasks: scheduling is noise next to the arithmetic).
BLOCK_MIN = 2048
#: Most elements per task (bounds a task's memory; more tasks than partitions beyond it).
BLOCK_MAX = 262_144


def blocks(n: int, partitions: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` blocks covering ``range(n)``: about ``partitions`` of them,
    each of at least :data:`BLOCK_MIN` and at most :data:`BLOCK_MAX` elements (one block when
    ``n`` is small)."""
    if n == 0:
        return []
    parts = max(1, min(partitions, n // BLOCK_MIN), -(-n // BLOCK_MAX))
    step, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + step + (1 if i < extra else 0)
        out.append((start, stop))
        start = stop
    return out


def _route(n: int, executor: Executor | None) -> Executor | None:
    """The executor to use for ``n`` elements, or ``None`` for the single-process path."""
    if n < PARALLEL_MIN_IDS:
        return None
    ex = executor if executor is not None else default_executor()
    return ex if ex.n_partitions > 1 or not _inline(ex) else None


def _own_workers(ex: Executor) -> bool:
    """True when ``ex``'s workers are known to be this party's own (a long-lived private key may
    go there, see the module docstring): a ``trusted_local`` pool or the party's Ray cluster."""
    if getattr(ex, "trusted_local", False):
        return True
    from fedloom.compute.ray_backend import RayExecutor  # imports Ray only when one is made

    return isinstance(ex, RayExecutor)


def _inline(ex: Executor) -> bool:
    from fedloom.compute.executor import LocalExecutor

    return isinstance(ex, LocalExecutor) and ex.workers == 1


# -- bytes <-> values ---------------------------------------------------------------------------------


def ids_to_buffer(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Ids as one ``uint8`` UTF-8 buffer and ``len(ids) + 1`` ``int64`` offsets into it."""
    raw = [x.encode("utf-8") for x in ids]
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in raw], out=offsets[1:])
    return np.frombuffer(b"".join(raw), dtype=np.uint8), offsets


def buffer_to_ids(buf: np.ndarray, offsets: np.ndarray) -> list[str]:
    """Inverse of :func:`ids_to_buffer`."""
    data = buf.tobytes()
    o = offsets.tolist()
    return [data[o[i] : o[i + 1]].decode("utf-8") for i in range(len(o) - 1)]


def _rows(values: list[bytes], width: int) -> np.ndarray:
    if not values:
        return np.zeros((0, width), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, width)


def _split_rows(arr: np.ndarray) -> list[bytes]:
    width = int(arr.shape[1])
    buf = np.ascontiguousarray(arr).tobytes()
    return [buf[i : i + width] for i in range(0, len(buf), width)]


def _ints_rows(values: Sequence[Any], width: int) -> np.ndarray:
    from fedloom.crypto.wire import ints_to_array

    return ints_to_array(list(values), width)


def _rows_ints(arr: np.ndarray) -> list[Any]:
    from gmpy2 import mpz

    return [mpz(int.from_bytes(b, "big")) for b in _split_rows(arr)]


# -- tasks (module level: pickled by reference) ---------------------------------------------------


def _ecdh_hash_task(arg: tuple[str, str, str, np.ndarray, np.ndarray]) -> np.ndarray:
    from fedloom.crypto.ecdh import POINT_BYTES, EcdhKey, hash_ids

    curve, hash_method, salt, buf, offsets = arg
    points = EcdhKey(curve, b"\x01" * 32).hash_to_group(
        hash_ids(buffer_to_ids(buf, offsets), hash_method, salt)
    )
    return _rows(points, POINT_BYTES)


def _ecdh_mul_task(arg: tuple[Broadcast[tuple[str, bytes]], np.ndarray]) -> np.ndarray:
    from fedloom.crypto.ecdh import POINT_BYTES, EcdhKey

    handle, rows = arg
    curve, scalar = handle.get()
    return _rows(EcdhKey(curve, scalar).multiply(_split_rows(rows)), POINT_BYTES)


def _dh_hash_task(arg: tuple[int, str, str, np.ndarray, np.ndarray]) -> np.ndarray:
    from fedloom.crypto.modp import group_for

    bits, hash_method, salt, buf, offsets = arg
    group = group_for(bits)
    return _ints_rows(group.hash_ids(buffer_to_ids(buf, offsets), hash_method, salt), group.nbytes)


def _dh_pow_task(arg: tuple[Broadcast[tuple[int, int]], np.ndarray]) -> np.ndarray:
    import gmpy2

    from fedloom.crypto.modp import group_for

    handle, rows = arg
    bits, k = handle.get()
    group = group_for(bits)
    p, e = group.p, gmpy2.mpz(k)
    return _ints_rows([gmpy2.powmod(m, e, p) for m in _rows_ints(rows)], group.nbytes)


def _rsa_hash_task(arg: tuple[int, int, str, str, np.ndarray, np.ndarray]) -> np.ndarray:
    from fedloom.crypto.rsa_blind import RsaPublicKey, hash_to_zn

    n, e, hash_method, salt, buf, offsets = arg
    public = RsaPublicKey(n, e)
    return _ints_rows(hash_to_zn(buffer_to_ids(buf, offsets), public, hash_method, salt), public.nbytes)


#: The broadcast form of an RSA private key: ``(n, e, p, q, dp, dq, qinv)`` as Python ints.
RsaKeyInts = tuple[int, int, int, int, int, int, int]


def _rsa_sign_task(arg: tuple[Broadcast[RsaKeyInts], np.ndarray]) -> np.ndarray:
    import gmpy2

    from fedloom.crypto.rsa_blind import RsaPrivateKey, RsaPublicKey

    handle, rows = arg
    n, e, *crt = handle.get()
    key = RsaPrivateKey(RsaPublicKey(n, e), *(gmpy2.mpz(v) for v in crt))
    return _ints_rows(key.sign_ints(_rows_ints(rows)), key.public.nbytes)


def _map_rows(ex: Executor, fn: Any, make: Any, n: int) -> list[np.ndarray]:
    return ex.map(fn, [make(a, b) for a, b in blocks(n, ex.n_partitions)])


def _map_ids(ex: Executor, fn: Any, head: tuple[Any, ...], ids: Sequence[str]) -> list[np.ndarray]:
    ids = list(ids)

    def make(a: int, b: int) -> tuple[Any, ...]:
        buf, offsets = ids_to_buffer(ids[a:b])
        return (*head, buf, offsets)

    return _map_rows(ex, fn, make, len(ids))


# -- public API -------------------------------------------------------------------------------------


def ecdh_hash(
    curve: str, ids: Sequence[str], hash_method: str, salt: str, executor: Executor | None = None
) -> list[bytes]:
    """``H(x)`` as encoded curve points for every id (:meth:`EcdhKey.hash_to_group` of
    :func:`~fedloom.crypto.ecdh.hash_ids`), block-wise on the executor for large inputs."""
    from fedloom.crypto.ecdh import EcdhKey, hash_ids

    ex = _route(len(ids), executor)
    if ex is None:
        return EcdhKey(curve, b"\x01" * 32).hash_to_group(hash_ids(ids, hash_method, salt))
    out: list[bytes] = []
    for part in _map_ids(ex, _ecdh_hash_task, (curve, hash_method, salt), ids):
        out.extend(_split_rows(part))
    return out


def _map_secret(ex: Executor, fn: Any, secret: Any, rows: np.ndarray) -> list[np.ndarray]:
    """``fn((handle, block))`` over blocks of ``rows``, the party's ``secret`` broadcast once for
    the call and released when it returns (also on error)."""
    handle = ex.broadcast(secret)
    try:
        return _map_rows(ex, fn, lambda a, b: (handle, rows[a:b]), len(rows))
    finally:
        ex.release(handle)


def ecdh_multiply(key: Any, points: list[bytes], executor: Executor | None = None) -> list[bytes]:
    """``[k·P for P in points]`` (:meth:`EcdhKey.multiply`), block-wise on the executor for
    large inputs; the scalar is broadcast once and released on return."""
    from fedloom.crypto.ecdh import POINT_BYTES

    ex = _route(len(points), executor)
    if ex is None:
        return list(key.multiply(points))
    parts = _map_secret(ex, _ecdh_mul_task, (key.curve, key.scalar), _rows(points, POINT_BYTES))
    return [row for part in parts for row in _split_rows(part)]


def dh_hash(
    group: Any, ids: Sequence[str], hash_method: str, salt: str, executor: Executor | None = None
) -> list[Any]:
    """``H(x)`` in the MODP subgroup for every id (:meth:`ModpGroup.hash_ids`), block-wise."""
    ex = _route(len(ids), executor)
    if ex is None:
        return list(group.hash_ids(ids, hash_method, salt))
    out: list[Any] = []
    for part in _map_ids(ex, _dh_hash_task, (group.bits, hash_method, salt), ids):
        out.extend(_rows_ints(part))
    return out


def dh_power(key: Any, values: list[Any], executor: Executor | None = None) -> list[Any]:
    """``[m^k mod p for m in values]`` (:meth:`DhKey.encrypt`), block-wise on the executor; the
    exponent is broadcast once and released on return."""
    ex = _route(len(values), executor)
    if ex is None:
        return list(key.encrypt(values))
    group = key.group
    parts = _map_secret(ex, _dh_pow_task, (group.bits, int(key._k)), _ints_rows(values, group.nbytes))
    return [v for part in parts for v in _rows_ints(part)]


def rsa_hash(
    public: Any, ids: Sequence[str], hash_method: str, salt: str, executor: Executor | None = None
) -> list[Any]:
    """``H(x)`` in Z_n for every id (:func:`~fedloom.crypto.rsa_blind.hash_to_zn` under the
    :class:`~fedloom.crypto.rsa_blind.RsaPublicKey` ``public``), block-wise on the executor."""
    from fedloom.crypto.rsa_blind import hash_to_zn

    ex = _route(len(ids), executor)
    if ex is None:
        return list(hash_to_zn(ids, public, hash_method, salt))
    head = (int(public.n), int(public.e), hash_method, salt)
    out: list[Any] = []
    for part in _map_ids(ex, _rsa_hash_task, head, ids):
        out.extend(_rows_ints(part))
    return out


def rsa_sign(key: Any, values: list[Any], executor: Executor | None = None) -> list[Any]:
    """``[m^d mod n for m in values]`` (:meth:`RsaPrivateKey.sign_ints`, CRT), block-wise on the
    executor when its workers are this party's own (see the module docstring), else in this
    process; the private key is broadcast once and released on return.

    ``values`` must already be checked (integers in ``[1, n)``, e.g. by
    :func:`~fedloom.crypto.rsa_blind.array_to_ints`): received values are never sent unchecked.
    """
    ex = _route(len(values), executor)
    if ex is None or not _own_workers(ex):
        return list(key.sign_ints(values))
    public = key.public
    rows = _ints_rows(values, public.nbytes)
    secret: RsaKeyInts = (
        int(public.n),
        int(public.e),
        int(key.p),
        int(key.q),
        int(key.dp),
        int(key.dq),
        int(key.qinv),
    )
    return [v for part in _map_secret(ex, _rsa_sign_task, secret, rows) for v in _rows_ints(part)]
