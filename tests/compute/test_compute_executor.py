"""LocalExecutor: ordered map over worker processes, inline mode, errors, interrupts, broadcasts."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing import shared_memory
from typing import Any

import pytest

from fedloom.compute import executor as executor_mod
from fedloom.compute.executor import (
    SHARE_MEMORY,
    Broadcast,
    Executor,
    LocalExecutor,
    default_executor,
    share,
    worker_stats,
)
from fedloom.core.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def ex() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as executor:
        yield executor


# -- task functions (module level: pickled by reference) -----------------------------------------------


def square_with_pid(x: int) -> tuple[int, int]:
    time.sleep(0.05)  # long enough for both workers to take tasks
    return x * x, os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise DataError(f"row {x} is bad", field="x", party="guest:9999")
    return x


def raise_value_error(x: int) -> int:
    raise ValueError(f"plain error {x}")


def sleep_long(x: int) -> int:
    time.sleep(30)
    return x


def die(x: int) -> int:
    os._exit(3)


def sum_broadcast(handle: Broadcast[bytes]) -> tuple[int, int]:
    time.sleep(0.02)
    return sum(handle.get()[:1000]), os.getpid()


# -- map ----------------------------------------------------------------------------------------------


def test_map_runs_in_worker_processes_in_order(ex: LocalExecutor) -> None:
    out = ex.map(square_with_pid, list(range(12)))
    assert [v for v, _ in out] == [x * x for x in range(12)]
    pids = {pid for _, pid in out}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    assert isinstance(ex, Executor)
    assert ex.n_partitions == 2
    assert ex.map(square_with_pid, []) == []


def test_workers_1_runs_inline_without_processes() -> None:
    inline = LocalExecutor(1)
    out = inline.map(square_with_pid, [1, 2, 3])
    assert out == [(1, os.getpid()), (4, os.getpid()), (9, os.getpid())]
    value = {"big": list(range(10))}
    handle = inline.broadcast(value)
    assert handle.get() is value  # never copied
    with pytest.raises(TypeError):
        pickle.dumps(handle)
    inline.release(handle)
    inline.close()
    assert inline.stats["pools"] == 0


def test_task_exception_is_reraised_with_type_message_and_field(ex: LocalExecutor) -> None:
    with pytest.raises(DataError) as info:
        ex.map(fail_on_three, list(range(6)))
    assert info.value.message == "row 3 is bad"
    assert info.value.field == "x" and info.value.party == "guest:9999"
    with pytest.raises(ValueError, match="plain error 1"):
        ex.map(raise_value_error, [1, 2])
    assert ex.map(fail_on_three, [0, 1, 2]) == [0, 1, 2]  # the pool is still usable


def test_dead_worker_breaks_the_call_and_the_next_call_gets_a_fresh_pool(ex: LocalExecutor) -> None:
    from concurrent.futures.process import BrokenProcessPool

    pools = ex.stats["pools"]
    with pytest.raises(BrokenProcessPool):
        ex.map(die, [1, 2])
    assert [v for v, _ in ex.map(square_with_pid, [2, 3])] == [4, 9]
    assert ex.stats["pools"] == pools + 1


def test_keyboard_interrupt_stops_workers_and_executor_recovers(ex: LocalExecutor) -> None:
    ex.map(square_with_pid, [1, 2])  # pool up
    processes = list(ex._pool._processes.values())  # type: ignore[union-attr]
    main = threading.get_ident()
    timer = threading.Timer(0.5, lambda: signal.pthread_kill(main, signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        ex.map(sleep_long, [1, 2, 3])
    assert time.perf_counter() - start < 10  # not the 30 s the tasks would take
    assert all(not p.is_alive() for p in processes)
    assert [v for v, _ in ex.map(square_with_pid, [4, 5])] == [16, 25]


def test_close_then_reuse_starts_a_new_pool() -> None:
    executor = LocalExecutor(2)
    assert executor.stats["pools"] == 0  # lazy
    assert [v for v, _ in executor.map(square_with_pid, [1, 2])] == [1, 4]
    executor.close()
    executor.close()  # idempotent
    assert [v for v, _ in executor.map(square_with_pid, [3, 4])] == [9, 16]
    assert executor.stats["pools"] == 2
    executor.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_invalid_worker_counts_are_refused(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        LocalExecutor(bad)
    assert info.value.field == "workers"


# -- broadcasts -----------------------------------------------------------------------------------------


def test_broadcast_is_shipped_once_and_loaded_once_per_worker(ex: LocalExecutor) -> None:
    value = bytes(range(256)) * 4096  # 1 MiB
    before = ex.stats["broadcasts"]
    handle = ex.broadcast(value)
    assert len(pickle.dumps(handle)) < 300  # tasks carry the handle, not the value
    assert handle.get() is value  # the caller reads its own object
    expected = sum(value[:1000])
    for _ in range(3):
        assert {s for s, _ in ex.map(sum_broadcast, [handle] * 6)} == {expected}
    assert ex.stats["broadcasts"] == before + 1
    stats = {s["pid"]: s for s in ex.map(worker_stats, range(8))}
    loads = [s["loads"].get(handle.key, 0) for s in stats.values()]
    assert max(loads) == 1  # 18 tasks, at most one load per worker process

    ex.release(handle)
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=handle.name)  # type: ignore[attr-defined]
    # A task that must read the unlinked segment fails clearly (a fresh key: no worker caches it)...
    stale = executor_mod._SharedBroadcast("0" * 32, handle.name, handle.size)  # type: ignore[attr-defined]
    with pytest.raises(LookupError, match="released"):
        ex.map(sum_broadcast, [stale, stale])
    # ...and later tasks tell the workers to drop the released value.
    for s in ex.map(worker_stats, range(8)):
        assert handle.key not in s["cached"]


def test_share_reuses_a_broadcast_per_object_and_per_key(ex: LocalExecutor) -> None:
    a, b = [1, 2, 3], [1, 2, 3]
    before = ex.stats["broadcasts"]
    h1 = share(ex, a)
    assert share(ex, a) is h1
    h2 = share(ex, b)  # equal but another object: its own broadcast
    assert h2 is not h1
    hk = share(ex, "x", key="k")
    assert share(ex, "y", key="k") is hk
    assert ex.stats["broadcasts"] == before + 3
    for i in range(SHARE_MEMORY):  # push the first ones out: they are released
        share(ex, [i])
    assert share(ex, a) is not h1
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=h1.name)  # type: ignore[attr-defined]


# -- default executor --------------------------------------------------------------------------------------


def test_default_executor_reads_fedloom_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor_mod, "_default", None)
    monkeypatch.setenv("FEDLOOM_WORKERS", "3")
    first = default_executor()
    assert first.n_partitions == 3 and default_executor() is first
    assert isinstance(first, LocalExecutor) and first.stats["pools"] == 0  # nothing started
    for bad in ["0", "two"]:
        monkeypatch.setattr(executor_mod, "_default", None)
        monkeypatch.setenv("FEDLOOM_WORKERS", bad)
        with pytest.raises(ConfigError) as info:
            default_executor()
        assert info.value.field == "FEDLOOM_WORKERS"
    monkeypatch.setattr(executor_mod, "_default", None)
    monkeypatch.delenv("FEDLOOM_WORKERS")
    assert default_executor().n_partitions == (os.cpu_count() or 1)


def test_workers_exit_when_their_party_process_dies_without_closing(tmp_path: Any) -> None:
    """A party process killed mid-job (SIGKILL, ``os._exit``) must not leave pool workers behind:
    they would hold its stdout pipe open, so whoever reads the party's output waits forever."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from fedloom.compute.executor import LocalExecutor\n"
        "from tests.compute.test_compute_executor import _worker_pid\n"
        "ex = LocalExecutor(2)\n"
        "print('PIDS', ' '.join(str(p) for p in sorted(set(ex.map(_worker_pid, range(16))))), flush=True)\n"
        "os._exit(0)  # no close(): what a killed party leaves\n"
    )
    log = tmp_path / "party.out"
    with open(log, "w") as stdout:  # a file, not a pipe: the test itself must not hang on the bug
        done = subprocess.run(
            [sys.executable, "-c", script],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            timeout=60,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
    assert done.returncode == 0, log.read_text()
    line = next(x for x in log.read_text().splitlines() if x.startswith("PIDS"))
    pids = [int(p) for p in line.split()[1:]]
    assert len(pids) == 2, log.read_text()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived their party process"


def _worker_pid(_: int) -> int:
    time.sleep(0.05)  # let both workers take tasks
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
