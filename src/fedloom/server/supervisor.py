"""The per-job supervisor process: runs one job with the local runner and keeps its rows current.

The server starts ``python -m fedloom.server.supervisor JOB_ID DB_URL JOBS_DIR DATA_DIR [--resume]``
in a new session, so the supervisor and every party process it launches share one process group
(the group id is the supervisor's pid, stored as ``jobs.pid``): stopping a job is one
``killpg(pid, SIGKILL)``, and nothing of the job survives it.

While the job runs this process is the only writer of its rows (see :mod:`fedloom.server.store`):
twice a second it copies the parties' status files into ``tasks`` and the job's progress, and at
the end it writes ``success`` or ``failed`` with the root cause. It asks the kernel for SIGTERM when
the server dies (``PR_SET_PDEATHSIG``) and then kills its whole group, so a crashed server never
leaves a job running unseen; the restarted server marks such a job failed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when the server dies; on SIGTERM kill the job's whole process group."""

    def on_term(_sig: int, _frame: Any) -> None:
        os.killpg(os.getpgid(0), signal.SIGKILL)

    signal.signal(signal.SIGTERM, on_term)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the restarted server still kills the group it finds
        return
    if os.getppid() != parent:  # the server died before prctl took effect
        on_term(signal.SIGTERM, None)


def supervise(
    job_id: str, db_url: str, jobs_dir: Path, data_dir: Path, resume: bool, site: dict[str, Any] | None = None
) -> int:
    """Run the job ``job_id`` (conf and dsl from the store) and record its outcome; returns 0.
    ``site`` (``{"home", "party_ids", "routes"}``): multi-site mode, this site's parties only
    (:mod:`fedloom.server.multisite`)."""
    from fedloom.core.errors import FedloomError
    from fedloom.runner.local import run_job
    from fedloom.server.store import JobRow, JobStore

    store = JobStore(db_url)
    with store.session() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            return 2
        conf, dsl = row.conf, row.dsl
    run = _site_run(site, job_id, conf, dsl) if site is not None else None
    progress = _progress_hook(store, job_id, run)
    try:
        result = run_job(
            conf,
            dsl,
            data_dir=data_dir,
            job_dir=jobs_dir,
            job_id=job_id,
            progress=progress,
            poll=0.25,
            resume=resume,
            **(run.run_kwargs() if run is not None else {}),
        )
    except FedloomError as exc:
        store.finish_active(
            job_id,
            "failed",
            {"party": exc.party, "component": exc.component, "type": type(exc).__name__, "message": str(exc)},
        )
        return 0
    except Exception as exc:  # the runner broke: say so in the store, never leave "running"
        log.exception("job %s: the runner failed", job_id)
        store.finish_active(job_id, "failed", {"type": type(exc).__name__, "message": str(exc)})
        return 1
    _record_outcome(store, job_id, conf, dsl, result, run)
    store.close()
    return 0


def _site_run(site: dict[str, Any], job_id: str, conf: dict[str, Any], dsl: dict[str, Any]) -> Any:
    """This site's part of a multi-site job (:func:`fedloom.server.multisite.site_run`)."""
    from fedloom.server.multisite import site_run
    from fedloom.server.settings import ServerSettings

    settings = ServerSettings.load(site["home"], party_ids=site["party_ids"], routes=site["routes"])
    return site_run(settings, job_id, conf, dsl)


def _progress_hook(store: Any, job_id: str, run: Any) -> Callable[[dict[str, dict[str, Any]]], None]:
    """The runner's progress callback: party and task status into the store, at most twice a second."""
    last = [0.0]

    def progress(status: dict[str, dict[str, Any]]) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        if run is not None:  # the initiator shows every site's parties
            status = {**status, **run.remote_parties()}
        frac = store.sync_status(job_id, status)
        store.set_job(job_id, only_from=("running",), progress=round(frac, 4))

    return progress


def _record_outcome(
    store: Any, job_id: str, conf: dict[str, Any], dsl: dict[str, Any], result: Any, run: Any
) -> None:
    """The final party status and the job's end: success, or the root cause (a remote site's
    error wins over a local party that only reacted to it)."""
    from fedloom.runner.local import read_status

    local = _parties(conf, dsl) if run is None else run.local
    store.sync_status(job_id, read_status(result.job_dir, local))
    remote_error = None
    if run is not None and run.is_initiator:
        from fedloom.server.multisite import remote_outcome

        answers = run.final_remote()
        store.sync_status(job_id, run.remote_parties())
        remote_error = remote_outcome(answers)
    if result.ok and remote_error is None:
        store.set_job(job_id, only_from=("running",), progress=1.0)
        store.finish_active(job_id, "success", None)
        return
    f = result.failure
    reacted = f is not None and f.error_type in ("PartyFailedError", "PartyTimeoutError")
    if f is None or (remote_error is not None and reacted):
        store.finish_active(job_id, "failed", remote_error)
        return
    err = {
        "party": f.party,
        "component": f.component,
        "type": f.error_type,
        "message": f.message,
        "traceback_tail": f.traceback_tail,
    }
    store.finish_active(job_id, "failed", err)


def _parties(conf: dict[str, Any], dsl: dict[str, Any]) -> list[Any]:
    from fedloom.components import registry
    from fedloom.dsl import load_job

    return load_job(conf, dsl, registry()).parties()


def main(argv: list[str]) -> int:
    """Entry point (see module docs for the arguments)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    job_id, db_url, jobs_dir, data_dir = argv[:4]
    parent = int(os.environ.get("FEDLOOM_SERVER_PID", "0") or 0)
    if parent:
        _die_with_parent(parent)
    rest = argv[4:]
    site = None
    if "--home" in rest:
        site = {
            "home": rest[rest.index("--home") + 1],
            "party_ids": rest[rest.index("--party-ids") + 1].split(","),
            "routes": rest[rest.index("--routes") + 1],
        }
    return supervise(job_id, db_url, Path(jobs_dir), Path(data_dir), resume="--resume" in rest, site=site)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
