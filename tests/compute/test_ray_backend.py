"""The Ray backend on a local two-node cluster: same results as the local backend, failures typed.

One cluster per test session (head + one worker node on loopback, one CPU each, 100 MB object
store), stopped at the end. Every comparison is exact: the same job run with the process' default
executor set to the local backend and then to Ray (through the configuration path a party uses,
``fedloom.compute.select.configure_process``) must give identical numbers, and the Ray run must
have sent work to the cluster (its task counter moves). Skipped with a reason when Ray is absent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'fedloom[ray]')")

import fedloom.compute.crypto as compute_crypto  # noqa: E402
from fedloom.compute import executor as compute_executor  # noqa: E402
from fedloom.compute.crypto import parallel_dot, parallel_encrypt, parallel_histograms  # noqa: E402
from fedloom.compute.ray_backend import RayExecutor, from_words, to_words  # noqa: E402
from fedloom.compute.select import COMPUTE_ENV, configure_process, party_compute, select_executor  # noqa: E402
from fedloom.core.errors import ComputeError, ConfigError  # noqa: E402
from fedloom.core.roles import PartyId  # noqa: E402
from fedloom.crypto.paillier.histogram import column_histograms  # noqa: E402
from fedloom.crypto.paillier.keys import generate_keypair  # noqa: E402
from fedloom.data.frame import Frame  # noqa: E402
from fedloom.testing import run_parties  # noqa: E402

pytestmark = pytest.mark.slow

RAY_BIN = str(Path(sys.executable).with_name("ray"))
GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
ARBITER = PartyId.parse("arbiter:10000")
PAILLIER = {"method": "paillier", "key_length": 1024}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pids_with(marker: str) -> list[int]:
    """Processes whose command line mentions ``marker`` (this session's own Ray processes)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                out.append(int(entry.name))
    return out


@pytest.fixture(scope="session")
def cluster() -> Iterator[dict[str, Any]]:
    """A head and a worker node, one CPU each, on loopback; their processes killed at the end."""
    temp = tempfile.mkdtemp(prefix="rfl", dir="/tmp")  # short: Ray's socket paths are limited
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # Token authentication is for clusters reachable by others (docs/deployment.md).
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a loopback-only test cluster
    # Workers import the task functions of this file by name.
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path}
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--temp-dir", temp]
    try:
        subprocess.run(
            [RAY_BIN, "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
             "--include-dashboard=false", *common],
            check=True, env=env, capture_output=True, timeout=90,
        )  # fmt: skip
        info: dict[str, Any] = {"address": address, "temp": temp}

        def start_worker() -> None:
            """(Re)start the worker node, on a fresh node-manager port (found again by it)."""
            info["node_manager_port"] = port_ = _free_port()
            subprocess.run(
                [RAY_BIN, "start", "--address", address, "--node-ip-address", "127.0.0.1",
                 "--node-manager-port", str(port_), *common],
                check=True, env=env, capture_output=True, timeout=90,
            )  # fmt: skip

        info["start_worker"] = start_worker
        start_worker()
        yield info
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for pid in _pids_with(temp):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def rex(cluster: dict[str, Any]) -> Iterator[RayExecutor]:
    """The process' default executor configured as a party would: ``{backend: ray, address}``."""
    old = os.environ.get(COMPUTE_ENV)
    configure_process({"backend": "ray", "address": cluster["address"], "workers": 2, "timeout": 120})
    ex = compute_executor.default_executor()
    assert isinstance(ex, RayExecutor)
    ex._connect()
    deadline = time.monotonic() + 60
    while len([n for n in ray.nodes() if n["Alive"]]) < 2:  # the worker node registers
        assert time.monotonic() < deadline, "the worker node did not join"
        time.sleep(0.5)
    yield ex
    with compute_executor._default_lock:
        compute_executor._default = None
    ex.close()
    if old is None:
        os.environ.pop(COMPUTE_ENV, None)
    else:
        os.environ[COMPUTE_ENV] = old


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test sizes are small; take the executor path anyway.
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_ADDITIONS", 0)
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_ENCRYPT", 0)
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_DOT_ROWS", 0)
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_PACK", 0)
    # and row blocks: a task holds a few hundred rows, as it would hold one row group of a big table
    monkeypatch.setattr(compute_crypto, "MAX_TASK_ROWS", 400)


def _local(fn: Any) -> Any:
    """``fn()`` with the process' default executor set to the inline local backend."""
    with compute_executor._default_lock:
        saved = compute_executor._default
        compute_executor._default = (os.getpid(), compute_executor.LocalExecutor(1))
    try:
        return fn()
    finally:
        with compute_executor._default_lock:
            compute_executor._default = saved


# -- configuration ------------------------------------------------------------------------------------


def test_compute_config_is_validated_and_merged_per_party() -> None:
    from fedloom.dsl.conf import JobParameters

    jp = JobParameters(
        common={"compute": {"backend": "ray", "workers": 4}},
        role={"host": {"0": {"compute": {"address": "10.0.0.9:6379"}}}},  # type: ignore[dict-item]
    )
    assert party_compute(jp, "host", 0) == {"backend": "ray", "workers": 4, "address": "10.0.0.9:6379"}
    assert party_compute(jp, "guest", 0) == {"backend": "ray", "workers": 4}
    assert party_compute(JobParameters(), "guest", 0) is None
    assert isinstance(select_executor(None), compute_executor.LocalExecutor)
    for bad, field in [
        ({"backend": "spark"}, "compute.backend"),
        ({"backend": "local", "address": "x"}, "compute"),
        ({"backend": "ray", "adress": "x"}, "compute"),
        ({"backend": "ray", "workers": 0}, "compute.workers"),
    ]:
        with pytest.raises(ConfigError) as info:
            select_executor(bad)
        assert info.value.field == field


def test_words_round_trip() -> None:
    values = [0, 1, 2**64 + 5, 2**255 - 1]
    words = to_words(values, 32)
    assert words.shape == (4, 32) and words.dtype == np.uint8
    assert [int(v) for v in from_words(words)] == values


# -- crypto kernels -----------------------------------------------------------------------------------


def test_kernels_on_ray_equal_the_single_thread_computation(rex: RayExecutor, always_parallel: None) -> None:
    # Prepare
    _pk, sk = generate_keypair(1024)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 1000, 600)
    bins = rng.integers(0, 5, (600, 4))
    x = rng.normal(size=(600, 2))
    tasks0 = rex.stats["tasks"]
    # Execute
    enc = parallel_encrypt(sk, y.tolist(), rex)  # the factors must not go to a cluster
    hist = parallel_histograms(enc, bins, [5] * 4, np.arange(0, 600, 2), rex, skip=[0, -1, 2, -1])
    dot = parallel_dot(enc, x, 23, rex)
    # Assert
    assert rex.stats["tasks"] - tasks0 >= 6
    assert (
        [int(v) for v in sk.decrypt_ints(enc.ciphertexts)] == y.tolist()
        if hasattr(sk, "decrypt_ints")
        else True
    )
    ref = column_histograms(enc[np.arange(0, 600, 2)], bins[::2], [5] * 4, [0, -1, 2, -1])
    assert hist.ciphertexts == ref.ciphertexts
    assert (
        dot.ciphertexts == enc.dot(x, precision_bits=23).ciphertexts and dot.frac_bits == enc.dot(x).frac_bits
    )
    expected = [int(sum(int(v) for v in y[::2][bins[::2, j] == b])) for j in range(4) for b in range(5)]
    expected = [e for k, e in enumerate(expected) if k not in (0, 12)]
    assert sk.decrypt_raw(hist) == expected


def test_task_exception_keeps_its_type(rex: RayExecutor) -> None:
    with pytest.raises(ZeroDivisionError):
        rex.map(_divide_by, [1, 0, 2])


def _divide_by(x: int) -> float:
    return 1 / x


# -- algorithms: local backend vs Ray -----------------------------------------------------------------


def _aligned(n: int, seed: int) -> tuple[Frame, Frame]:
    rng = np.random.default_rng(seed)
    ids = [f"id{i}" for i in range(n)]
    xg = rng.normal(size=(n, 3))
    xh = rng.normal(size=(n, 4))
    y = ((xg[:, 0] + xh[:, 1] + 0.3 * rng.normal(size=n)) > 0).astype(int)
    return Frame(ids, xg, ["g0", "g1", "g2"], label=y), Frame(ids, xh, ["h0", "h1", "h2", "h3"])


def test_hetero_lr_epoch_weights_identical(rex: RayExecutor, always_parallel: None) -> None:
    from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams

    guest, host = _aligned(240, 3)
    p = HeteroLRParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.01,
            "optimizer": "sgd",
            "learning_rate": 0.15,
            "max_iter": 1,
            "batch_size": -1,
            "init_param": {"init_method": "random_uniform", "random_seed": 3},
            "encrypt_param": PAILLIER,
        }
    )

    def fit() -> dict[PartyId, Any]:
        fns = {
            GUEST: lambda c: HeteroLRGuest(p, mask_seed=1).fit(c, guest),
            HOST: lambda c: HeteroLRHost(p, mask_seed=1).fit(c, host),
            ARBITER: lambda c: HeteroLRArbiter(p).fit(c),
        }
        return run_parties(fns, timeout=120)

    local = _local(fit)
    tasks0 = rex.stats["tasks"]
    on_ray = fit()
    assert rex.stats["tasks"] > tasks0  # the dot products went to the cluster
    for party in (GUEST, HOST):
        np.testing.assert_array_equal(np.asarray(on_ray[party].coef[0]), np.asarray(local[party].coef[0]))
    np.testing.assert_array_equal(on_ray[GUEST].intercept, local[GUEST].intercept)
    assert np.any(np.asarray(local[HOST].coef[0]) != 0)


def test_binning_woe_iv_identical(rex: RayExecutor, always_parallel: None) -> None:
    from fedloom.ml.hetero.binning import HeteroBinningGuest, HeteroBinningHost

    guest, host = _aligned(300, 4)
    params = {"bin_num": 5, "encrypt_param": PAILLIER}

    def fit() -> dict[str, Any]:
        out = run_parties(
            {
                GUEST: lambda c: HeteroBinningGuest(params).fit(c, guest),
                HOST: lambda c: HeteroBinningHost(params).fit(c, host),
            },
            timeout=120,
        )
        return {"guest": out[GUEST].to_dict(), "host_anon": out[HOST].anonymous}

    local = _local(fit)
    tasks0 = rex.stats["tasks"]
    on_ray = fit()
    assert rex.stats["tasks"] > tasks0  # the encrypted bin sums went to the cluster
    stats_local = {a: local["guest"]["host_columns"][a]["stats"] for a in local["host_anon"].values()}
    stats_ray = {a: on_ray["guest"]["host_columns"][a]["stats"] for a in on_ray["host_anon"].values()}
    assert stats_ray == stats_local
    assert all(np.isfinite(s["iv"]) and s["iv"] > 0 for s in stats_local.values())


#: One SecureBoost tree of depth 3 (the identical-result and node-kill tests).
SECUREBOOST_PARAMS = {
    "task_type": "classification",
    "num_trees": 1,
    "bin_num": 8,
    "n_iter_no_change": False,
    "encrypt_param": PAILLIER,
    "tree_param": {"max_depth": 3, "min_sample_split": 10, "min_leaf_node": 3},
}


def _secureboost_scores(params: dict[str, Any], guest: Frame, host: Frame) -> Any:
    """Fit guest and host in this process (the process' executor) and the guest's scores of its rows."""
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost

    def guest_run(c: Any) -> Any:
        model = HeteroSecureBoostGuest(params).fit(c, guest)
        return HeteroSecureBoostGuest(params).predict(c.sub("p"), model, guest).score

    def host_run(c: Any) -> Any:
        model = HeteroSecureBoostHost(params).fit(c, host)
        return HeteroSecureBoostHost(params).predict(c.sub("p"), model, host)

    return run_parties({GUEST: guest_run, HOST: host_run}, timeout=180)[GUEST]


def test_secureboost_tree_identical(rex: RayExecutor, always_parallel: None) -> None:
    guest, host = _aligned(200, 5)
    params = SECUREBOOST_PARAMS

    def fit() -> Any:
        return _secureboost_scores(params, guest, host)

    score_local, tasks0 = _local(fit), rex.stats["tasks"]
    score_ray = fit()
    assert rex.stats["tasks"] > tasks0  # encryption and histograms went to the cluster
    np.testing.assert_array_equal(np.asarray(score_ray), np.asarray(score_local))
    assert len(set(np.round(np.asarray(score_local, dtype=float), 12).tolist())) > 1  # a real split


def test_psi_intersection_identical(rex: RayExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedloom.compute import psi as compute_psi
    from fedloom.protocols.psi import EcdhPsiGuest, EcdhPsiHost
    from fedloom.protocols.psi.dh import DhPsiGuest, DhPsiHost
    from fedloom.protocols.psi.rsa import RsaPsiGuest, RsaPsiHost

    # Small sets, still cut into several blocks per loop
    monkeypatch.setattr(compute_psi, "PARALLEL_MIN_IDS", 0)
    monkeypatch.setattr(compute_psi, "BLOCK_MIN", 16)
    rng = np.random.default_rng(7)
    guest_ids = [f"u{i}" for i in rng.choice(400, 120, replace=False)]
    host_ids = [f"u{i}" for i in rng.choice(400, 150, replace=False)]
    expected = sorted(set(guest_ids) & set(host_ids))  # the centralised answer

    rsa = {"key_length": 1024, "split_calculation": True}  # both parties sign
    classes = ((EcdhPsiGuest, EcdhPsiHost, {}), (DhPsiGuest, DhPsiHost, {}), (RsaPsiGuest, RsaPsiHost, rsa))
    for guest_cls, host_cls, extra in classes:

        def run(g: Any = guest_cls, h: Any = host_cls, kw: Any = extra) -> tuple[list[str], list[str]]:
            out = run_parties(
                {
                    GUEST: lambda c: g(salt="s", **kw).run(c, guest_ids),
                    HOST: lambda c: h(salt="s", **kw).run(c, host_ids),
                },
                timeout=120,
            )
            return (
                sorted(guest_ids[i] for i in out[GUEST].index),
                sorted(host_ids[i] for i in out[HOST].index),
            )

        local = _local(run)
        tasks0, broadcasts0 = rex.stats["tasks"], rex.stats["broadcasts"]
        on_ray = run()
        assert rex.stats["tasks"] - tasks0 >= 8  # hashing and both scalar steps ran as Ray tasks
        assert rex.stats["broadcasts"] - broadcasts0 == 4  # each party's secret, once per call
        assert on_ray == local == (expected, expected)


def test_rerandomize_on_ray_decrypts_to_the_same_values(
    rex: RayExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_RERANDOMIZE", 0)
    pk, sk = generate_keypair(1024)
    values = np.random.default_rng(5).integers(0, 2**50, 300).tolist()
    enc = pk.encrypt_ints(values)
    tasks0 = rex.stats["tasks"]
    direct = compute_crypto.parallel_rerandomize(enc, rex)
    hooked = enc.rerandomize()  # the crypto layer's own call, routed to the configured cluster
    assert rex.stats["tasks"] - tasks0 == 4  # two blocks each
    for out in (direct, hooked):
        assert sk.decrypt_raw(out) == values
        assert all(a != b for a, b in zip(out.ciphertexts, enc.ciphertexts, strict=True))
    assert sk.decrypt_raw(enc.rerandomize()) == values


# -- failures -----------------------------------------------------------------------------------------


def _slow_pid(arg: tuple[str, int]) -> int:
    """Write this worker's pid, then work a while (the test kills the worker meanwhile)."""
    folder, x = arg
    marker = Path(folder) / f"{x}.{os.getpid()}"
    first = not any(Path(folder).glob(f"{x}.*"))
    marker.write_text("")
    if first:
        time.sleep(8)
    return x * x


def _kill_first_worker(folder: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(folder.glob("0.*"))
        if found:
            os.kill(int(found[0].suffix[1:]), signal.SIGKILL)
            return
        time.sleep(0.1)
    raise AssertionError("the task never started")


@pytest.mark.parametrize("retries", [2, 0])
def test_killed_worker_retries_or_fails_with_the_stage(
    cluster: dict[str, Any], rex: RayExecutor, retries: int
) -> None:
    # Prepare: one task sleeps in a worker that the test kills
    folder = Path(tempfile.mkdtemp(prefix="rfl-kill"))
    ex = RayExecutor(cluster["address"], 2, timeout=60, max_retries=retries)
    import threading

    killer = threading.Thread(target=_kill_first_worker, args=(folder,))
    killer.start()
    start = time.monotonic()
    # Execute / Assert
    try:
        if retries:
            assert ex.map(_slow_pid, [(str(folder), 0), (str(folder), 3)]) == [0, 9]  # Ray retried
        else:
            with pytest.raises(ComputeError) as info:
                ex.map(_slow_pid, [(str(folder), 0), (str(folder), 3)])
            assert "_slow_pid" in str(info.value.field)
    finally:
        killer.join()
    assert time.monotonic() - start < 60  # never a hang


def test_stage_timeout_is_a_compute_error(cluster: dict[str, Any], rex: RayExecutor) -> None:
    ex = RayExecutor(cluster["address"], 2, timeout=1.5)
    start = time.monotonic()
    with pytest.raises(ComputeError, match=r"unfinished after 1\.5 s") as info:
        ex.map(time.sleep, [30])
    assert info.value.field == "time.sleep"
    assert time.monotonic() - start < 10


# -- a whole worker node killed (kept last: it restarts the node for later modules) -------------------


def _node_of(arg: tuple[str, int]) -> tuple[int, str]:
    """Square ``x``; the task on the worker node waits there (the test kills the node meanwhile)."""
    folder, x = arg
    node = ray.get_runtime_context().get_node_id()
    (Path(folder) / f"{x}.{node}").write_text("")
    if not any(Path(folder).glob("killed")):
        time.sleep(20)  # long enough for the node to be killed under the task
    return x * x, node


def _worker_node_id(cluster: dict[str, Any]) -> str:
    """The Ray node id of the cluster's (live) worker node."""
    port = cluster["node_manager_port"]
    return str(next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeManagerPort"] == port))


def _restart_worker_node(cluster: dict[str, Any]) -> None:
    """A fresh worker node for what runs after a test that killed it; waits until it joined."""
    cluster["start_worker"]()
    deadline = time.monotonic() + 60
    while len([n for n in ray.nodes() if n["Alive"]]) < 2:
        assert time.monotonic() < deadline, "the worker node did not rejoin"
        time.sleep(0.5)


def _raylet_pids(nm_port: int) -> list[int]:
    return [pid for pid in _pids_with(f"--node_manager_port={nm_port}") if "raylet" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return (
            (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@pytest.mark.parametrize("retries", [2, 0])
def test_killed_worker_node_retries_or_fails_with_the_stage(
    cluster: dict[str, Any], rex: RayExecutor, retries: int
) -> None:
    # Prepare: the worker node's raylet (this node's own scheduler); every item waits 20 s unless
    # the node was already killed, so one of the two tasks is on the worker node when it dies
    import threading

    raylets = _raylet_pids(cluster["node_manager_port"])
    assert len(raylets) == 1, "the worker node's raylet is not found"
    worker_node = _worker_node_id(cluster)
    folder = Path(tempfile.mkdtemp(prefix="rfl-node"))
    ex = RayExecutor(cluster["address"], 2, timeout=90, max_retries=retries)

    def kill_node() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(folder.glob(f"*.{worker_node}")):
            time.sleep(0.1)
        (folder / "killed").write_text("")  # retried tasks return at once
        os.kill(raylets[0], signal.SIGKILL)  # the whole node: its raylet, then its workers

    killer = threading.Thread(target=kill_node)
    killer.start()
    start = time.monotonic()
    # Execute / Assert: never a hang (bounded by the executor's timeout), never a wrong result
    try:
        if retries:
            out = ex.map(_node_of, [(str(folder), 3), (str(folder), 4)])
            assert [v for v, _ in out] == [9, 16]
            assert worker_node not in {node for _, node in out}  # the lost task ran again elsewhere
        else:
            with pytest.raises(ComputeError) as info:
                ex.map(_node_of, [(str(folder), 3), (str(folder), 4)])
            assert "_node_of" in str(info.value.field)
    finally:
        killer.join()
        _restart_worker_node(cluster)
    assert time.monotonic() - start < 120


@pytest.mark.slow
def test_bench_scale_on_the_cluster_runs_the_heavy_loops_as_ray_tasks(cluster: dict[str, Any]) -> None:
    """``fedloom bench scale --backend ray --address A``: both party processes join the cluster."""
    from fedloom.bench.scale import run as run_scale

    report = run_scale("ray", [1, 2], rows=3000, trees=1, address=cluster["address"])
    one, two = report["results"]
    assert (one["backend"], one["workers"], two["workers"]) == ("ray", 1, 2)
    # with Ray even one worker's work runs as tasks (same transfer costs for every count)
    assert one["tasks"]["host"] > 0 and two["tasks"]["host"] >= one["tasks"]["host"]
    assert one["tasks"]["guest"] > 0 and one["speedup"] == 1.0 and two["speedup"] > 0


# -- a worker node killed during a job (kept last: it restarts the node) ------------------------------

#: Where the doomed histogram task and the test meet (same machine: the cluster is on loopback).
KILL_DIR = Path(tempfile.gettempdir()) / "fedloom-ray-job-kill"


def _histogram_on_doomed_node(task: tuple[Any, ...]) -> list[Any]:
    """SecureBoost's histogram task; on the node named in ``victim`` it announces itself and
    waits to be killed with its node, then dies with it (a retry, on the head, runs at once)."""
    node = ray.get_runtime_context().get_node_id()
    victim = KILL_DIR / "victim"
    if victim.exists() and victim.read_text() == node and not (KILL_DIR / "killed").exists():
        (KILL_DIR / f"task.{os.getpid()}").write_text("")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (KILL_DIR / "killed").exists():
                os._exit(1)  # a worker dies with its node (Ray may take a while to see the raylet gone)
            time.sleep(0.1)
    elif not (KILL_DIR / "killed").exists():
        time.sleep(0.5)  # a busy head: Ray sends the other task of the stage to the worker node
    return compute_crypto._histogram_task(task)


@pytest.mark.slow
@pytest.mark.parametrize("retries", [2, 0])
def test_worker_node_killed_during_a_secureboost_fit(
    cluster: dict[str, Any],
    rex: RayExecutor,
    always_parallel: None,
    monkeypatch: pytest.MonkeyPatch,
    retries: int,
) -> None:
    """The worker node dies under a histogram task of a real fit: with retries the fit completes
    with the single-process result; without, it fails with a ComputeError naming the stage."""
    import shutil
    import threading

    guest, host = _aligned(200, 5)
    expected = _local(lambda: _secureboost_scores(SECUREBOOST_PARAMS, guest, host))
    shutil.rmtree(KILL_DIR, ignore_errors=True)
    KILL_DIR.mkdir()
    raylets = _raylet_pids(cluster["node_manager_port"])
    assert len(raylets) == 1, "the worker node's raylet is not found"
    (KILL_DIR / "victim").write_text(_worker_node_id(cluster))
    ex = RayExecutor(cluster["address"], 2, timeout=120, max_retries=retries)
    monkeypatch.setattr(compute_executor, "_default", (os.getpid(), ex))
    monkeypatch.setattr(compute_crypto, "_histogram_task", _histogram_on_doomed_node)
    killed = threading.Event()

    def kill_node() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(KILL_DIR.glob("task.*")):
            time.sleep(0.1)
        (KILL_DIR / "killed").write_text("")  # the retried task runs at once
        os.kill(raylets[0], signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_node, daemon=True)
    killer.start()
    start = time.monotonic()
    try:
        if retries:
            got = _secureboost_scores(SECUREBOOST_PARAMS, guest, host)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))  # never a wrong result
        else:
            with pytest.raises(ComputeError) as info:
                _secureboost_scores(SECUREBOOST_PARAMS, guest, host)
            assert "_histogram_on_doomed_node" in str(info.value.field)  # the stage is named
        assert killed.is_set(), "no histogram task ran on the worker node"
    finally:
        (KILL_DIR / "killed").write_text("")
        killer.join(timeout=130)
        _restart_worker_node(cluster)
        shutil.rmtree(KILL_DIR, ignore_errors=True)
    assert time.monotonic() - start < 150  # never a hang
