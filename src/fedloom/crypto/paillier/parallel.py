"""Parallelism inside the crypto layer: a thread pool whose threads let gmpy2 release the GIL.

gmpy2 releases the GIL around GMP calls when the calling thread's context has
``allow_release_gil=True`` (``powmod_base_list`` / ``powmod_exp_list`` always release it).
The pool's threads set that context once, so large vectors are cut into one chunk per worker
and the chunks' modular arithmetic runs on several cores at once, inside one process.

Only work of at least ``min_items`` elements is split (the thresholds sit with each operation:
a decryption costs milliseconds, a ciphertext addition microseconds). A worker thread never
splits again (no nested fan-out), and a forked child starts with a fresh pool.

``set_num_workers(1)`` makes everything sequential (benchmarks do that); the default is
``os.cpu_count()``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import gmpy2

from fedloom.core.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Vectors at least this long are split across workers by cheap operations (additions).
PARALLEL_MIN_ITEMS = 4096

_state_lock = threading.Lock()
_num_workers: int = os.cpu_count() or 1
_executor: ThreadPoolExecutor | None = None
_local = threading.local()


def set_num_workers(k: int | None) -> None:
    """Set how many threads crypto operations may use (``None``: ``os.cpu_count()``).

    Parameters
    ----------
    k
        Number of worker threads, at least 1. ``1`` runs every operation in the calling thread.
    """
    global _num_workers, _executor
    value = (os.cpu_count() or 1) if k is None else k
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"The number of crypto workers must be an int >= 1. Got {k!r}.", field="num_workers"
        )
    with _state_lock:
        if value != _num_workers and _executor is not None:
            _executor.shutdown(wait=False)
            _executor = None
        _num_workers = value


def get_num_workers() -> int:
    """Number of threads crypto operations may use."""
    return _num_workers


def _init_worker() -> None:
    gmpy2.set_context(gmpy2.context(allow_release_gil=True))
    _local.inside = True


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _state_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=_num_workers, thread_name_prefix="fedloom-crypto", initializer=_init_worker
            )
        return _executor


def _reset_after_fork() -> None:  # pragma: no cover - exercised only in forked children
    global _executor, _state_lock
    _executor = None
    _state_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def in_worker() -> bool:
    """True inside a crypto worker thread (work there is never split again)."""
    return bool(getattr(_local, "inside", False))


def split(n_items: int, min_items: int) -> list[tuple[int, int]]:
    """Cut ``range(n_items)`` into contiguous ``(start, stop)`` chunks, one per worker.

    Returns a single chunk when the work is too small, only one worker is configured, or the
    caller already runs inside a worker.
    """
    workers = _num_workers
    if workers <= 1 or n_items < max(min_items, 2) or in_worker():
        return [(0, n_items)]
    parts = min(workers, n_items)
    step, extra = divmod(n_items, parts)
    bounds = []
    start = 0
    for i in range(parts):
        stop = start + step + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def run_chunks(fn: Callable[[int, int], R], bounds: Sequence[tuple[int, int]]) -> list[R]:
    """Run ``fn(start, stop)`` for each chunk (in the pool when there are several) in order."""
    if len(bounds) == 1:
        return [fn(*bounds[0])]
    executor = _get_executor()
    futures = [executor.submit(fn, start, stop) for start, stop in bounds]
    return [f.result() for f in futures]


def map_list(
    fn: Callable[[list[T]], list[R]], items: list[T], min_items: int = PARALLEL_MIN_ITEMS
) -> list[R]:
    """``fn(items)`` computed chunk-wise in parallel; ``fn`` maps a list to a list of equal length."""
    bounds = split(len(items), min_items)
    if len(bounds) == 1:
        return fn(items)
    out: list[R] = []
    for part in run_chunks(lambda a, b: fn(items[a:b]), bounds):
        out.extend(part)
    return out
