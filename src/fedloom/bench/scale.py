"""``fedloom bench scale``: SecureBoost seconds per tree against compute workers, local or Ray.

For each backend and worker count ``w``, the guest and the host of a SecureBoost fit (the data of
:mod:`fedloom.bench.secureboost`; a smaller table by default) run as **two OS processes** over
loopback gRPC with mutual TLS, as in a deployment. Each party configures its process' executor as
a job's ``compute`` would (:func:`fedloom.compute.select.configure_process`):

* ``local``: ``{backend: local, workers: w}``, a process pool of ``w`` workers per party;
* ``ray``: ``{backend: ray, workers: w, address: A}``, work cut into ``w`` tasks per stage, on the
  cluster at ``--address``; without one, on a single-node Ray that this command starts for the
  run with ``max(workers)`` CPUs (both parties use it: on one machine they would share the cores
  anyway). With Ray every worker count, 1 included, runs its work as Ray tasks, so 1 and ``w``
  workers pay the same transfer costs.

The crypto layer's own threads are off in both parties (``set_num_workers(1)``): the executor
alone spreads the work. Before its timed fit each party runs an untimed warm-up fit (a small
table, one tree, the same peer) that starts the executor's workers and imports everything in
them, so the clock measures the heavy loops, not start-up.

Reported per run: the guest's ``seconds_per_tree`` (its mean wall time per tree: the federated
critical path, the host's histograms included), ``speedup`` over the first worker count, the
guest's phases (encryption, waiting for the host's splits, decryption ...), the host's busiest
phase, and the tasks each party's executor ran. ``cpu_count`` and the load average sit next to
the numbers: on a shared machine they say how much the numbers mean. What cannot scale is the
serial part of a tree (split finding, the transport, decryption of a few packed ciphertexts):
Amdahl's ceiling is printed as ``serial_seconds`` (the guest's tree time outside the routed
phases, measured at the first worker count).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fedloom.core.roles import PartyId

if TYPE_CHECKING:
    from fedloom.context import Context

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
#: Rows of the untimed warm-up fit (one tree): enough (2,100 train rows) for every routed stage
#: to cross its inline threshold, so the workers start and import before the clock does.
WARMUP_ROWS = 3000
#: The guest's phases whose work the executor spreads (the rest of a tree is serial).
ROUTED_PHASES = ("encrypt", "host_splits_wait")


def party(ctx: Context, role: str, shape: dict[str, Any], compute: dict[str, Any]) -> dict[str, Any]:
    """One party of one run (started by the launcher in its own process); ``shape``: the fit's
    ``rows``, ``trees``, ``depth``, ``key_size`` and ``bin_num``."""
    from fedloom.bench.secureboost import frames, params, phase_seconds, tree_seconds
    from fedloom.compute.executor import default_executor
    from fedloom.compute.select import configure_process
    from fedloom.crypto.paillier import parallel
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost

    configure_process(compute)
    parallel.set_num_workers(1)  # the executor alone spreads the work
    ex = default_executor()
    connect = getattr(ex, "_connect", None)
    if connect is not None:  # join Ray before any clock starts
        connect()
    algo_cls = HeteroSecureBoostGuest if role == "guest" else HeteroSecureBoostHost
    warm, _ = frames(role, WARMUP_ROWS)
    depth, key_size, bin_num = shape["depth"], shape["key_size"], shape["bin_num"]
    algo_cls(params(1, depth, key_size, "paillier", bin_num)).fit(ctx.sub("warmup"), warm, None)
    train, _ = frames(role, shape["rows"])
    stats = getattr(ex, "stats", {})
    tasks0 = stats.get("tasks", 0)
    start = time.perf_counter()
    fit_params = params(shape["trees"], depth, key_size, "paillier", bin_num)
    model = algo_cls(fit_params).fit(ctx.sub("fit"), train, None)
    out = {
        "fit_seconds": time.perf_counter() - start,
        "tree_seconds": tree_seconds(model),
        "phases": phase_seconds(model),
        "tasks": stats.get("tasks", 0) - tasks0,
        "executor": repr(ex),
    }
    ex.close()
    return out


def run(
    backend: str = "local",
    workers: Sequence[int] = (1, 2),
    rows: int = 20_000,
    trees: int = 2,
    depth: int = 3,
    key_size: int = 1024,
    bin_num: int = 32,
    address: str | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Seconds per tree for each backend (``"local"``, ``"ray"`` or ``"local,ray"``) and worker
    count (see the module docstring).

    Raises
    ------
    ConfigError
        An unknown backend, or a worker count below 1.
    """
    from fedloom.compute.select import check_compute

    names = [b.strip() for b in backend.split(",") if b.strip()]
    for name in names:
        check_compute({"backend": name}, "--backend")
    _check_workers(workers)
    shape = {"rows": rows, "trees": trees, "depth": depth, "key_size": key_size, "bin_num": bin_num}
    runs = [_run_backend(name, workers, shape, address, timeout) for name in names]
    return {
        "backend": ",".join(names),
        **shape,
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "results": [r for run_ in runs for r in run_],
        "uptime": _uptime(),
    }


def _check_workers(workers: Sequence[int]) -> None:
    from fedloom.core.errors import ConfigError

    if not workers or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in workers):
        raise ConfigError(f"worker counts must be ints >= 1. Got {list(workers)!r}.", field="--workers")


def _run_backend(
    backend: str, workers: Sequence[int], shape: dict[str, Any], address: str | None, timeout: float
) -> list[dict[str, Any]]:
    """One backend's runs, one per worker count, with the speed-up over the first."""
    private = backend == "ray" and address is None
    if private:
        address = _start_private_ray(max(workers))
    try:
        results = [_one_run(backend, w, shape, address, timeout) for w in workers]
    finally:
        if private:
            import ray

            ray.shutdown()
    base = results[0]
    for r in results:
        seconds = r["seconds_per_tree"]
        r["speedup"] = round(base["seconds_per_tree"] / seconds, 2) if seconds else None
    tree_total = base["seconds_per_tree"] * shape["trees"]
    routed = sum(base["guest_phases"].get(p, 0.0) for p in ROUTED_PHASES)
    base["serial_seconds"] = round(max(tree_total - routed, 0.0) / shape["trees"], 3)
    return results


def _one_run(
    backend: str, w: int, shape: dict[str, Any], address: str | None, timeout: float
) -> dict[str, Any]:
    from fedloom.runner.launcher import PartySpec, launch

    compute: dict[str, Any] = {"backend": backend, "workers": int(w)}
    if address is not None:
        compute["address"] = address
    kwargs = {"shape": shape, "compute": compute}
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
    ]
    res = launch(specs, job_id=f"bench-scale-{backend}-{w}", timeout=timeout)
    res.raise_for_failure()
    out = res.results()
    guest, host = out[GUEST_PARTY], out[HOST_PARTY]
    seconds = guest["tree_seconds"]
    return {
        "backend": backend,
        "workers": int(w),
        "seconds_per_tree": round(sum(seconds) / len(seconds), 3) if seconds else 0.0,
        "tree_seconds": seconds,
        "guest_phases": guest["phases"],
        "host_phases": host["phases"],
        "tasks": {"guest": guest["tasks"], "host": host["tasks"]},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _start_private_ray(cpus: int) -> str:
    """Start a single-node Ray for this run in this process; its GCS address for the parties."""
    import ray

    # Ray's workers belong to one driver (job), and it kills idle workers beyond num_cpus: with two
    # party drivers sharing this cluster each stage would start fresh workers (imports, key
    # tables). A party's own cluster (a deployment) keeps its workers, so keep both parties' here.
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        namespace="fedloom-bench",
        _system_config={"num_workers_soft_limit": 2 * cpus},
    )
    return str(ray.get_runtime_context().gcs_address)


def _uptime() -> str:
    """``uptime``'s load line (a shared machine's numbers need it next to them)."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
