r"""One interface for running heavy loops over the machine's cores: :class:`Executor`.

Why processes
-------------
The heavy loops of the crypto layer (ciphertext additions of encrypted histograms, fixed-base
comb products of encryption) are Python loops over gmpy2 ``mpz`` multiplications and ``%``,
which hold the GIL: threads do not speed them up (measured: 1.38 µs per addition with 2 threads,
1.31 µs with 1). They are cut into one piece per core and run in worker **processes**.

Interface
---------
An :class:`Executor` has ``n_partitions`` (how many pieces to cut work into) and

* ``map(fn, items)``: ``[fn(x) for x in items]``, the calls spread over workers, results in
  order. ``fn`` is a module-level function (pickled by reference); items and results are
  pickled. An exception raised by ``fn`` is re-raised in the caller with its type and message
  (the first failing item's; the other pending calls are cancelled).
* ``broadcast(value)``: a :class:`Broadcast` handle to a value that many later tasks read (the
  ciphertexts of one tree, read while every node of the tree is built). The value is sent to the
  workers **once**; the handle itself is a few dozen bytes and travels inside task arguments;
  ``handle.get()`` inside a task returns the value.
* ``release(handle)``: the value is no longer needed (frees the shared copy; workers drop it).
* ``close()``: stop the workers and release every broadcast. A closed executor may be used
  again: the next ``map`` starts a fresh pool.

:func:`share` ``(executor, value, key=None)`` returns the broadcast of a value made by an earlier
call (recognised by identity or by ``key``), so a caller that passes the same ciphertexts for
every node of a tree ships them once.

Pickled values travel only between this party's own processes (gmpy2 ``mpz`` values pickle
fine); never unpickle bytes received from another party.

Broadcast design (and its Ray mapping)
--------------------------------------
:class:`LocalExecutor` pickles a broadcast value once into a POSIX shared-memory segment. The
handle pickles as ``(key, segment name, size)``. A worker process resolving ``handle.get()``
looks the key up in its own cache; on a miss it attaches the segment, unpickles the value and
caches it (an LRU of :data:`WORKER_CACHE_SIZE` values), so each worker materialises each value
at most once however many tasks use it. ``release`` unlinks the segment, and the released keys
ride along with later tasks so workers drop them from their caches. In the calling process
``get()`` returns the original object (no copy).

This is the shape of Ray's object store, so the Ray backend of issue 16 maps one to one:
``broadcast`` → ``ray.put`` (one copy per node, in shared memory), handle → a wrapper around the
``ObjectRef``, ``get`` → ``ray.get`` (plus the same per-process cache for values that are not
zero-copy, like lists of ints), ``release`` → dropping the reference, ``map`` → one remote task
per item.

Worker processes
----------------
Started lazily by the first ``map`` with more than one item, with the ``forkserver`` start method
(``spawn`` where there is no forkserver), **never** ``fork``: a party process runs gRPC threads,
and forking a multi-threaded process can deadlock the child. The forkserver preloads this module
and the crypto helpers, so a worker starts in milliseconds after the first. Workers ignore
SIGINT (Ctrl-C reaches the whole process group): the caller handles it, terminates its workers
and re-raises; the next ``map`` starts a fresh pool. Inside a worker the crypto layer's own
threads are turned off (one process is one core's worth) and :func:`default_executor` is inline,
so work never fans out twice.

``workers=1`` runs everything inline in the calling thread: no process, no pickling.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import pickle
import select
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Hashable, Sequence
from multiprocessing import shared_memory
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from fedloom.core.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Environment variable giving the number of worker processes of :func:`default_executor`.
WORKERS_ENV = "FEDLOOM_WORKERS"
#: Broadcast values a worker keeps materialised (least recently used dropped first).
WORKER_CACHE_SIZE = 8
#: Released broadcast keys sent along with each task so that workers drop them.
RELEASED_MEMORY = 64
#: Broadcasts :func:`share` keeps per executor (least recently used released first).
SHARE_MEMORY = 4


class Broadcast(Generic[T]):
    """A handle to a value sent to an executor's workers once (see the module docstring).

    Attributes
    ----------
    key
        Unique id of the broadcast (its cache key in every worker).
    """

    key: str

    def get(self) -> T:  # pragma: no cover - interface
        """The value (inside a task, or in the process that made the broadcast)."""
        raise NotImplementedError


@runtime_checkable
class Executor(Protocol):
    """Runs a function over items on several cores (see the module docstring)."""

    n_partitions: int

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` computed by the workers, in order."""
        ...

    def broadcast(self, value: T) -> Broadcast[T]:
        """Send ``value`` to the workers once; tasks read it with ``handle.get()``."""
        ...

    def release(self, handle: Broadcast[Any]) -> None:
        """Forget a broadcast value (idempotent)."""
        ...

    def close(self) -> None:
        """Stop the workers and release every broadcast (the executor may be used again)."""
        ...


# -- broadcast handles ---------------------------------------------------------------------------


class _InlineBroadcast(Broadcast[T]):
    """A broadcast of an inline executor: the value itself, never copied or pickled."""

    def __init__(self, value: T) -> None:
        self.key = uuid.uuid4().hex
        self._value = value

    def get(self) -> T:
        return self._value

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("an inline broadcast lives in its own process only")


#: Worker side: broadcast values materialised in this process, most recently used last.
_CACHE: collections.OrderedDict[str, Any] = collections.OrderedDict()
#: Worker side: how many times each broadcast key was loaded from shared memory here.
_LOADS: collections.Counter[str] = collections.Counter()
_CACHE_LOCK = threading.Lock()
_MISSING = object()


class _SharedBroadcast(Broadcast[T]):
    """A broadcast of :class:`LocalExecutor`: pickled once into a shared-memory segment."""

    def __init__(self, key: str, name: str, size: int, value: Any = _MISSING) -> None:
        self.key = key
        self.name = name
        self.size = size
        self._value = value  # the original object, in the process that made the broadcast

    def __reduce__(self) -> tuple[Any, ...]:
        return (_SharedBroadcast, (self.key, self.name, self.size))

    def get(self) -> T:
        if self._value is not _MISSING:
            return cast(T, self._value)
        with _CACHE_LOCK:
            if self.key in _CACHE:
                _CACHE.move_to_end(self.key)
                return cast(T, _CACHE[self.key])
            try:
                segment = shared_memory.SharedMemory(name=self.name)
            except FileNotFoundError:
                raise LookupError(f"broadcast {self.key} was released before this task read it") from None
            try:
                view = _buffer(segment)[: self.size]
                try:
                    value = pickle.loads(view)
                finally:
                    view.release()
            finally:
                segment.close()
            _LOADS[self.key] += 1
            _CACHE[self.key] = value
            while len(_CACHE) > WORKER_CACHE_SIZE:
                _CACHE.popitem(last=False)
            return cast(T, value)


def _buffer(segment: shared_memory.SharedMemory) -> memoryview:
    buf = segment.buf
    if buf is None:  # pragma: no cover - only after close()
        raise LookupError(f"shared memory {segment.name} is closed")
    return buf


def _drop(keys: Sequence[str]) -> None:
    with _CACHE_LOCK:
        for key in keys:
            _CACHE.pop(key, None)


def worker_stats(_: object = None) -> dict[str, Any]:
    """This process' broadcast cache: ``{"pid", "loads": {key: count}, "cached": [keys]}``.

    Map it over an executor (``ex.map(worker_stats, range(k))``) to see what its workers
    loaded; tests use it to check that a broadcast is loaded once per worker.
    """
    with _CACHE_LOCK:
        return {"pid": os.getpid(), "loads": dict(_LOADS), "cached": list(_CACHE)}


# -- worker processes ------------------------------------------------------------------------------

_IN_WORKER = False


def _init_worker(owner: int) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    _exit_with(owner)
    # The caller handles Ctrl-C (it reaches the whole process group) and terminates us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # One process is one core's worth of work: no crypto threads on top.
    from fedloom.crypto.paillier import parallel

    parallel.set_num_workers(1)


def _exit_with(owner: int) -> None:
    """Exit this worker as soon as the party process ``owner`` is gone.

    Pool workers are children of the forkserver, not of the party process, and they block on a
    queue whose write end they hold themselves: a party killed without ``close()`` (SIGKILL, a
    launcher stopping a peer) would leave them alive forever, holding its stdout and stderr, so
    whoever reads the party's output would wait forever. A daemon thread waits on the owner's
    pidfd (no polling, immune to pid reuse) or, where there is none, checks the owner each second.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(owner)
        except (AttributeError, OSError):  # not Linux >= 5.3: poll
            while True:
                try:
                    os.kill(owner, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(1.0)
        else:
            select.select([fd], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="fedloom-owner-watch", daemon=True).start()


def _run_task(fn: Callable[[T], R], item: T, released: tuple[str, ...]) -> tuple[R, float]:
    """``fn(item)`` and the CPU seconds it took in this worker (benchmarks on shared machines)."""
    start = time.process_time()
    if released:
        _drop(released)
    return fn(item), time.process_time() - start


def in_worker() -> bool:
    """True inside a worker process of a :class:`LocalExecutor`."""
    return _IN_WORKER


def _mp_context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # Workers fork from a server that imported these already (fast starts after the first).
        ctx.set_forkserver_preload(["fedloom.compute.executor", "fedloom.compute.crypto"])
        return ctx
    return mp.get_context("spawn")


def _release_segments(segments: dict[str, shared_memory.SharedMemory]) -> None:
    for segment in list(segments.values()):
        segment.close()
        with contextlib.suppress(FileNotFoundError):  # already gone
            segment.unlink()
    segments.clear()


def _check_workers(workers: Any, field: str) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"The number of compute workers must be an int >= 1. Got {workers!r}.", field=field)
    return workers


class LocalExecutor:
    """A process pool over this machine's cores (inline when ``workers == 1``).

    Parameters
    ----------
    workers
        Worker processes; ``None``: ``os.cpu_count()``. ``1`` runs every task inline in the
        calling thread.

    Attributes
    ----------
    n_partitions
        ``workers``: the number of pieces callers cut their work into.
    trusted_local
        True: the workers are this party's own child processes on this machine (a key owner's
        factors may be sent to them; see :func:`fedloom.compute.crypto.parallel_encrypt`).
    stats
        Counters: ``tasks`` run, ``broadcasts`` made and their ``broadcast_bytes``, ``pools``
        started.
    last_task_cpu
        CPU seconds of each task of the last ``map`` run by workers (wall time on a shared
        machine says little; the slowest task's CPU time is the parallel critical path).

    Examples
    --------
    >>> with LocalExecutor(2) as ex:          # doctest: +SKIP
    ...     ex.map(abs, [-1, 2, -3])
    [1, 2, 3]
    """

    trusted_local = True

    def __init__(self, workers: int | None = None) -> None:
        self.workers = _check_workers((os.cpu_count() or 1) if workers is None else workers, "workers")
        self.n_partitions = self.workers
        self.stats: collections.Counter[str] = collections.Counter()
        self.last_task_cpu: list[float] = []
        self._pool: cf.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._segments: dict[str, shared_memory.SharedMemory] = {}
        self._released: collections.deque[str] = collections.deque(maxlen=RELEASED_MEMORY)
        # Unlink shared memory even when close() is never called (also at interpreter exit).
        self._finalizer = weakref.finalize(self, _release_segments, self._segments)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pool ---------------------------------------------------------------------------------------
    def _get_pool(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=_mp_context(),
                    initializer=_init_worker,
                    initargs=(os.getpid(),),
                )
                self.stats["pools"] += 1
            return self._pool

    def _kill_pool(self) -> None:
        """Stop the pool now: cancel queued tasks and terminate the workers (interrupts, crashes)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # the pool's own children, started by this executor
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(timeout=5)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, spread over the workers; results in order.

        A single item (or ``workers == 1``) runs inline in the calling thread.

        Raises
        ------
        Exception
            The first exception a call raised (same type and message), after cancelling the calls
            not yet started.
        concurrent.futures.process.BrokenProcessPool
            A worker died (killed, out of memory); the next call starts a fresh pool.
        """
        items = list(items)
        self.stats["tasks"] += len(items)
        if self.workers == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        pool = self._get_pool()
        released = tuple(self._released)
        futures = [pool.submit(_run_task, fn, x, released) for x in items]
        try:
            done = [f.result() for f in futures]
            self.last_task_cpu = [cpu for _, cpu in done]
            return [result for result, _ in done]
        except cf.process.BrokenProcessPool:
            self._kill_pool()
            raise
        except Exception:
            # A task's own exception: cancel the calls not started; the pool stays healthy.
            for f in futures:
                f.cancel()
            raise
        except BaseException:
            # KeyboardInterrupt (or SystemExit): workers may be deep in long tasks; stop them now.
            for f in futures:
                f.cancel()
            self._kill_pool()
            raise

    # -- broadcasts -----------------------------------------------------------------------------------
    def broadcast(self, value: T) -> Broadcast[T]:
        """Make ``value`` readable by every task through the returned handle (pickled once)."""
        self.stats["broadcasts"] += 1
        if self.workers == 1:
            return _InlineBroadcast(value)
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        segment = shared_memory.SharedMemory(create=True, size=max(len(payload), 1))
        _buffer(segment)[: len(payload)] = payload
        key = uuid.uuid4().hex
        self._segments[key] = segment
        self.stats["broadcast_bytes"] += len(payload)
        return _SharedBroadcast(key, segment.name, len(payload), value)

    def release(self, handle: Broadcast[Any]) -> None:
        """Unlink the handle's shared copy; workers drop it from their caches with later tasks."""
        segment = self._segments.pop(handle.key, None)
        if segment is not None:
            segment.close()
            segment.unlink()
            self._released.append(handle.key)

    def close(self) -> None:
        """Stop the workers (waiting for running tasks) and release every broadcast."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._released.extend(self._segments)
        _release_segments(self._segments)
        _forget_shares(self)


# -- one executor per process ----------------------------------------------------------------------

_default: tuple[int, Executor] | None = None
_default_lock = threading.Lock()


def default_executor() -> Executor:
    """This process' executor: ``FEDLOOM_WORKERS`` workers (default ``os.cpu_count()``), or the
    backend configured in ``FEDLOOM_COMPUTE`` (:mod:`fedloom.compute.select`).

    Inline inside a worker process (no nested pools). Made on first use; a forked child makes
    its own.

    Raises
    ------
    ConfigError
        ``FEDLOOM_WORKERS`` is not an int >= 1.
    """
    global _default
    with _default_lock:
        if _default is not None and _default[0] == os.getpid():
            return _default[1]
        if _IN_WORKER:
            workers = 1
        elif os.environ.get("FEDLOOM_COMPUTE", "").strip():
            # A configured backend (job_parameters.common.compute; see fedloom.compute.select).
            from fedloom.compute.select import from_env

            configured = from_env(os.environ["FEDLOOM_COMPUTE"])
            _default = (os.getpid(), configured)
            return configured
        else:
            text = os.environ.get(WORKERS_ENV, "").strip()
            try:
                workers = int(text) if text else (os.cpu_count() or 1)
            except ValueError:
                raise ConfigError(
                    f"{WORKERS_ENV} must be an int >= 1. Got {text!r}.", field=WORKERS_ENV
                ) from None
            _check_workers(workers, WORKERS_ENV)
        executor = LocalExecutor(workers)
        _default = (os.getpid(), executor)
        return executor


# -- broadcasts reused across calls ------------------------------------------------------------------

_shares: weakref.WeakKeyDictionary[
    Any, collections.OrderedDict[Hashable, tuple[Any, Broadcast[Any], Hashable]]
] = weakref.WeakKeyDictionary()
_shares_lock = threading.Lock()


def share(
    executor: Executor, value: Any, key: Hashable | None = None, group: Hashable | None = None
) -> Broadcast[Any]:
    """The executor's broadcast of ``value``, made on first use and reused by later calls.

    Parameters
    ----------
    executor
        Where the broadcast lives.
    value
        The value. Without ``key`` it is recognised by identity (the entry holds a reference, so
        the identity cannot be reused by another object while it is remembered): pass the same
        object again to reuse its broadcast. Do not mutate a shared value.
    key
        Recognise the value by this key instead (e.g. a digest of an array's bytes).
    group
        Broadcasts that belong together (the row blocks of one vector): remembered and released
        as one; default: the value's own key.

    Notes
    -----
    The last :data:`SHARE_MEMORY` values (groups) are remembered per executor; older ones are
    released.
    """
    memo_key: Hashable = ("id", id(value)) if key is None else ("key", key)
    with _shares_lock:
        memo = _shares.setdefault(executor, collections.OrderedDict())
        hit = memo.get(memo_key)
        if hit is not None and (key is not None or hit[0] is value):
            memo.move_to_end(memo_key)
            return hit[1]
        handle = executor.broadcast(value)
        memo[memo_key] = (value, handle, memo_key if group is None else ("group", group))
        evicted = []
        while len({entry[2] for entry in memo.values()}) > SHARE_MEMORY:
            oldest = next(iter(memo.values()))[2]
            for k in [k for k, entry in memo.items() if entry[2] == oldest]:
                evicted.append(memo.pop(k)[1])
    for old in evicted:
        executor.release(old)
    return handle


def _forget_shares(executor: Any) -> None:
    with _shares_lock:
        _shares.pop(executor, None)
