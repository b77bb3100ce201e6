r"""The Ray backend of :class:`~fedloom.compute.executor.Executor`: a party's heavy loops on its
own Ray cluster (issue 16).

Mapping of the interface
------------------------
* ``map(fn, items)`` → one Ray task per item (``fn`` pickled by reference: the module must be
  importable on every node, i.e. fedloom installed in the cluster's Python). Callers cut work into
  ``n_partitions`` coarse pieces (thousands of ciphertexts per task), so a task's scheduling cost
  (about a millisecond) is noise next to its modular arithmetic. Results come back in order.
* ``broadcast(value)`` → ``ray.put`` once; the handle wraps the ``ObjectRef`` (Ray counts the
  references carried inside task arguments, so the value lives while a task may read it).
  Encrypted vectors are put as a fixed-width big-endian **byte matrix** (``uint8``, one row of
  ``ciphertext_bytes`` per ciphertext) next to their public key: Ray stores numpy arrays
  out-of-band in its shared-memory object store, so every worker of a node maps the same bytes
  without a copy, and never unpickles a list of Python ints. A worker rebuilds the ``mpz`` list
  once and keeps it in a small per-process LRU (the same cache policy as the local backend), so
  the ciphertexts of a tree are decoded once per worker, not once per node of the tree.
* ``release(handle)`` → the driver drops its reference (Ray frees the object when no task holds
  it any more).

Failures
--------
* A task's own exception is re-raised in the caller as itself (type and message), the other
  tasks of the ``map`` cancelled.
* A worker process or a whole node dying is retried by Ray (``max_retries`` per task: the tasks
  are pure functions of their arguments, so a retry computes exactly the same result). When the
  retries are used up, or the stage runs past ``timeout`` seconds (never a hang), the caller gets
  a :class:`~fedloom.core.errors.ComputeError` naming the stage (the task function).

Security
--------
``trusted_local`` is false: a Ray cluster spans hosts and its object store is shared memory,
so the key owner's factors are never sent to it (:func:`~fedloom.compute.crypto.parallel_encrypt`
then uses public-key obfuscators, same distribution). The cluster is one party's own: nothing
sent to it leaves the party, and the pickles it carries are the party's own.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
from gmpy2 import mpz

from fedloom.compute import executor as _executor
from fedloom.compute.executor import Broadcast, _forget_shares
from fedloom.core.errors import ComputeError, ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Seconds a whole ``map`` may take before it is cancelled with a :class:`ComputeError`.
DEFAULT_TIMEOUT = 3600.0
#: Retries of a task whose worker or node died (Ray's ``max_retries``).
DEFAULT_RETRIES = 3

_MISSING = object()


def _ray() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "compute backend 'ray' needs Ray: pip install 'fedloom[ray]'", field="compute.backend"
        ) from None
    return ray


def ray_available() -> bool:
    """True when Ray can be imported here."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


# -- ciphertexts as byte matrices ----------------------------------------------------------------------


@dataclass
class _VectorBlob:
    """An encrypted (or plain debug) vector as Ray stores it: key, scale and a ``uint8`` matrix."""

    kind: type
    public_key: Any
    frac_bits: int
    words: np.ndarray  # (len, ciphertext_bytes) big-endian residues


def to_words(values: Sequence[Any], width: int) -> np.ndarray:
    """Residues as a ``(len(values), width)`` ``uint8`` matrix of big-endian words."""
    raw = b"".join(int(v).to_bytes(width, "big") for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), width)


def from_words(words: np.ndarray, paillier: bool = True) -> list[Any]:
    """Inverse of :func:`to_words` (``mpz`` values for Paillier, ints for the plain cipher)."""
    width = int(words.shape[1]) if words.ndim == 2 else 0
    flat = memoryview(cast(Any, np.ascontiguousarray(words).reshape(-1)))
    ints = [int.from_bytes(flat[i : i + width], "big") for i in range(0, len(flat), width)] if width else []
    return [mpz(v) for v in ints] if paillier else ints


def _encode(value: Any) -> Any:
    """The form ``ray.put`` stores: vectors become :class:`_VectorBlob` (zero-copy bytes)."""
    from fedloom.compute.crypto import _WireVector
    from fedloom.crypto.paillier.plain import PlainVector
    from fedloom.crypto.paillier.vector import EncryptedVector

    vec = value.rows() if isinstance(value, _WireVector) else value
    if isinstance(vec, EncryptedVector | PlainVector):
        width = vec.public_key.ciphertext_bytes
        return _VectorBlob(type(vec), vec.public_key, vec.frac_bits, to_words(vec.ciphertexts, width))
    return value


def _decode(stored: Any) -> Any:
    if isinstance(stored, _VectorBlob):
        from fedloom.crypto.paillier.vector import EncryptedVector

        ints = from_words(stored.words, stored.kind is EncryptedVector)
        return stored.kind(stored.public_key, ints, stored.frac_bits)
    return stored


#: Worker side: decoded broadcast values, most recently used last.
_CACHE: collections.OrderedDict[str, Any] = collections.OrderedDict()
_LOADS: collections.Counter[str] = collections.Counter()
_CACHE_LOCK = threading.Lock()


class RayBroadcast(Broadcast[T]):
    """A broadcast of :class:`RayExecutor`: an ``ObjectRef`` plus a per-process decoded cache."""

    def __init__(self, key: str, ref: Any, value: Any = _MISSING) -> None:
        self.key = key
        self.ref = ref
        self._value = value  # the original object, in the driver

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayBroadcast, (self.key, self.ref))

    def get(self) -> T:
        if self._value is not _MISSING:
            return cast(T, self._value)
        with _CACHE_LOCK:
            if self.key in _CACHE:
                _CACHE.move_to_end(self.key)
                return cast(T, _CACHE[self.key])
        value = _decode(_ray().get(self.ref))
        with _CACHE_LOCK:
            _LOADS[self.key] += 1
            _CACHE[self.key] = value
            while len(_CACHE) > _executor.WORKER_CACHE_SIZE:
                _CACHE.popitem(last=False)
        return cast(T, value)


def ray_worker_stats(_: object = None) -> dict[str, Any]:
    """This Ray worker's broadcast cache: ``{"pid", "node", "loads", "cached"}`` (tests, debugging)."""
    import os

    node = _ray().get_runtime_context().get_node_id()
    with _CACHE_LOCK:
        return {"pid": os.getpid(), "node": node, "loads": dict(_LOADS), "cached": list(_CACHE)}


# -- tasks -------------------------------------------------------------------------------------------


def _run_in_ray(fn: Callable[[Any], Any], item: Any, released: tuple[str, ...]) -> tuple[Any, float]:
    """``fn(item)`` in a Ray worker, and its CPU seconds.

    One Ray worker is one CPU's worth: no crypto threads on top, and a nested
    :func:`~fedloom.compute.executor.default_executor` is inline (work never fans out twice).
    """
    if not _executor._IN_WORKER:
        _executor._IN_WORKER = True
        from fedloom.crypto.paillier import parallel

        parallel.set_num_workers(1)
    if released:
        with _CACHE_LOCK:
            for key in released:
                _CACHE.pop(key, None)
    start = time.process_time()
    return fn(item), time.process_time() - start


_remote_cache: dict[int, Any] = {}


def _remote(retries: int) -> Any:
    fn = _remote_cache.get(retries)
    if fn is None:
        fn = _ray().remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(_run_in_ray)
        _remote_cache[retries] = fn
    return fn


def _stage(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class RayExecutor:
    """An :class:`~fedloom.compute.executor.Executor` on a Ray cluster.

    Parameters
    ----------
    address
        The cluster to join (``"auto"``, ``"10.0.0.5:6379"``, ``"ray://head:10001"``); ``None``
        starts a private single-node Ray in this process (``workers`` CPUs).
    workers
        Tasks to cut work into (``n_partitions``); ``None``: the cluster's CPUs.
    timeout
        Seconds one ``map`` may take (then :class:`ComputeError`, the tasks cancelled).
    max_retries
        Retries of a task whose worker or node died.
    namespace
        Ray namespace of this party's jobs.

    Attributes
    ----------
    n_partitions, stats, last_task_cpu
        As :class:`~fedloom.compute.executor.LocalExecutor`.

    Raises
    ------
    ConfigError
        Ray is not installed, or a parameter is invalid.
    """

    trusted_local = False

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_RETRIES,
        namespace: str | None = "fedloom",
    ) -> None:
        if workers is not None:
            _executor._check_workers(workers, "compute.workers")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(
                f"compute.timeout must be a number > 0. Got {timeout!r}.", field="compute.timeout"
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(
                f"compute.max_retries must be an int >= 0. Got {max_retries!r}.", field="compute.max_retries"
            )
        self.address = address
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.namespace = namespace
        self._workers = workers
        self.stats: collections.Counter[str] = collections.Counter()
        self.last_task_cpu: list[float] = []
        self._refs: dict[str, Any] = {}
        self._released: collections.deque[str] = collections.deque(maxlen=_executor.RELEASED_MEMORY)
        self._started_ray = False
        self._lock = threading.Lock()
        self.n_partitions = workers if workers is not None else 1
        if workers is None:
            self._connect()
            cpus = int(_ray().cluster_resources().get("CPU", 1))
            self.n_partitions = max(1, cpus)

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.n_partitions})"

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> Any:
        ray = _ray()
        with self._lock:
            if not ray.is_initialized():
                kwargs: dict[str, Any] = {"namespace": self.namespace, "log_to_driver": False}
                if self.address is None:
                    kwargs["num_cpus"] = self._workers or None
                    kwargs["include_dashboard"] = False
                else:
                    kwargs["address"] = self.address
                try:
                    ray.init(**kwargs)
                except ConnectionError as exc:
                    raise ConfigError(
                        f"cannot reach the Ray cluster at {self.address!r}: {exc}", field="compute.address"
                    ) from None
                self._started_ray = True
                self.stats["connects"] += 1
        return ray

    # -- map --------------------------------------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` as Ray tasks; results in order (see the module docstring).

        Raises
        ------
        Exception
            The first exception a task raised (same type and message).
        ComputeError
            A task was lost for good (its worker or node died more than ``max_retries`` times)
            or the stage ran past ``timeout``; ``field`` names the stage.
        """
        items = list(items)
        self.stats["tasks"] += len(items)
        if not items:
            return []
        ray = self._connect()
        remote = _remote(self.max_retries)
        released = tuple(self._released)
        refs = [remote.remote(fn, x, released) for x in items]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list[Any] = [None] * len(refs)
        pending = list(refs)
        stage = _stage(fn)
        deadline = time.monotonic() + self.timeout
        try:
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ComputeError(
                        f"stage {stage}: {len(pending)} of {len(refs)} tasks unfinished after "
                        f"{self.timeout:g} s on the Ray cluster",
                        field=stage,
                    )
                done, pending = ray.wait(pending, num_returns=1, timeout=min(left, 5.0))
                for ref in done:
                    out[index[ref]] = self._result(ray, ref, stage)
        except BaseException:
            for ref in pending:
                with contextlib.suppress(Exception):  # best effort: the error raised matters
                    ray.cancel(ref, force=True)
            raise
        self.last_task_cpu = [cpu for _, cpu in out]
        return [result for result, _ in out]

    @staticmethod
    def _result(ray: Any, ref: Any, stage: str) -> Any:
        exc_mod = ray.exceptions
        try:
            return ray.get(ref)
        except exc_mod.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise ComputeError(f"stage {stage}: a task failed: {exc}", field=stage) from None
        except (
            exc_mod.WorkerCrashedError,
            exc_mod.NodeDiedError,
            exc_mod.ObjectLostError,
            exc_mod.TaskCancelledError,
            exc_mod.RaySystemError,
        ) as exc:
            raise ComputeError(
                f"stage {stage}: a task was lost on the Ray cluster after its retries "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                field=stage,
            ) from None

    # -- broadcasts -------------------------------------------------------------------------------------
    def broadcast(self, value: T) -> Broadcast[T]:
        """``ray.put`` the value once (vectors as zero-copy byte matrices); tasks ``get()`` it."""
        ray = self._connect()
        stored = _encode(value)
        ref = ray.put(stored)
        key = uuid.uuid4().hex
        self._refs[key] = ref
        self.stats["broadcasts"] += 1
        if isinstance(stored, _VectorBlob):
            self.stats["broadcast_bytes"] += int(stored.words.nbytes)
        return RayBroadcast(key, ref, value)

    def release(self, handle: Broadcast[Any]) -> None:
        """Drop the driver's reference; workers drop their decoded copy with later tasks."""
        if self._refs.pop(handle.key, None) is not None:
            self._released.append(handle.key)

    def close(self) -> None:
        """Release every broadcast; disconnect from Ray if this executor connected."""
        self._released.extend(self._refs)
        self._refs.clear()
        _forget_shares(self)
        ray = _ray() if self._started_ray else None
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False
