"""The scheduler: validates and records a job, starts its supervisor, stops and reruns jobs, and
at start-up settles the jobs a crashed server left behind.

Protocol of one job::

    submit  validate (conf + dsl, every party's parameters, every table a Reader names, the
            models a predict job loads) → insert the job, its tasks (component × party) and
            parties, all ``waiting`` → start the supervisor in a new session
            (:mod:`fedloom.server.supervisor`) → ``running``, ``jobs.pid`` = its process group
    run     the supervisor runs :func:`fedloom.runner.local.run_job` and writes states/outcome
    stop    ``killpg(pid, SIGKILL)`` (supervisor and every party process at once), wait until the
            group is gone (at most 5 s), then ``canceled`` (only if still waiting/running)
    rerun   a failed or canceled job: unfinished tasks back to ``waiting``, supervisor started
            with ``--resume`` in the same folder, same job id (the runner reuses the outputs of
            the components every party finished)
    start   every job of this server still waiting/running in the store belongs to a server that
            died: kill its process group if it is still there, mark it ``failed`` with
            "server restarted while the job ran"

Multi-site mode (``party_ids`` and ``routes`` set): submit also proposes the job to the other
sites and starts it there, a participant's jobs arrive through :meth:`Scheduler.accept` and
:meth:`Scheduler.start_accepted`, and every supervisor runs only this site's parties (see
:mod:`fedloom.server.multisite`).

A thread reaps finished supervisors; one that exits without having written an outcome (killed
from outside) leaves its job ``failed`` with its exit status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedloom.compute.select import compute_env
from fedloom.core.errors import ConfigError, ServerError
from fedloom.server.settings import ServerSettings
from fedloom.server.store import ACTIVE_STATES, JobRow, JobStore, PartyRow, TaskRow

if TYPE_CHECKING:
    from fedloom.server.multisite import MultiSite

__all__ = ["RESTART_REASON", "Scheduler"]

log = logging.getLogger(__name__)

RESTART_REASON = "server restarted while the job ran"
STOPPED_REASON = "server stopped while the job ran"
#: Seconds a stop waits for the job's processes to be gone.
STOP_WAIT = 5.0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_supervisor(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is the supervisor of ``job_id`` (not a recycled pid of something else)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _group_alive(pid) and sys.platform != "linux"
    return b"fedloom.server.supervisor" in cmd and job_id.encode() in cmd


class Scheduler:
    """Runs the jobs of one server.

    Parameters
    ----------
    settings
        The server's settings (jobs and data folders, server id).
    store
        The job store.
    """

    def __init__(self, settings: ServerSettings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Supervisors are started by this one long-lived thread: PR_SET_PDEATHSIG fires when the
        # *thread* that forked the child ends, and request handlers run on pooled threads that
        # come and go; a job must die with the server, not with an idle worker thread.
        self._spawn_q: queue.Queue[tuple[list[str], dict[str, str], Path, list[Any], threading.Event]] = (
            queue.Queue()
        )
        self._reaper = threading.Thread(target=self._reap_loop, name="job-reaper", daemon=True)
        self.site: MultiSite | None = None
        if settings.party_ids or settings.routes:
            from fedloom.server.multisite import MultiSite

            self.site = MultiSite(settings)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> list[str]:
        """Settle the jobs a dead server left running (see module docs); start the reaper.
        Returns the ids of the jobs marked failed."""
        settled = []
        for row in self.store.active_jobs(self.settings.server_id):
            if row.pid and _is_supervisor(row.pid, row.job_id):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
            self._sync_files(row.job_id)
            if self.store.finish_active(row.job_id, "failed", {"message": RESTART_REASON, "type": "restart"}):
                settled.append(row.job_id)
                log.warning("job %s: %s; marked failed (rerun it to continue)", row.job_id, RESTART_REASON)
        self._reaper.start()
        if self.site is not None:
            self.site.start(self)
        return settled

    def shutdown(self) -> None:
        """The server stops: kill the jobs still running (they are marked failed, to be rerun)
        and stop the reaper."""
        for row in self.store.active_jobs(self.settings.server_id):
            self._kill(row.job_id, row.pid)
            self._sync_files(row.job_id)
            self.store.finish_active(row.job_id, "failed", {"type": "restart", "message": STOPPED_REASON})
        self._stop.set()
        if self.site is not None:
            self.site.close()

    # ------------------------------------------------------------------ jobs
    def validate(self, conf: dict[str, Any], dsl: dict[str, Any]) -> Any:
        """The parsed job, or the first ConfigError/DataError (nothing is recorded then)."""
        from fedloom.components import registry
        from fedloom.dsl import load_job
        from fedloom.runner.local import preflight, preflight_models, resolve_model_job

        job = load_job(conf, dsl, registry())
        # a multi-site server checks only its own parties: the others' tables are on their servers
        mine = None if self.site is None else self.site.local_parties(job)
        model_dir = resolve_model_job(job, None, self.settings.jobs_dir)
        preflight(job, self.settings.data_dir, mine)
        if model_dir is not None:
            preflight_models(job, model_dir, mine)
        return job

    def validate_shape(self, conf: dict[str, Any], dsl: dict[str, Any]) -> Any:
        """The parsed job (conf + dsl checked; tables and models not looked up)."""
        from fedloom.components import registry
        from fedloom.dsl import load_job

        return load_job(conf, dsl, registry())

    def submit(self, conf: dict[str, Any], dsl: dict[str, Any]) -> JobRow:
        """Validate, record and start a job (see module docs)."""
        from fedloom.runner.local import new_job_id

        job = self.validate(conf, dsl)
        if self.site is not None:
            self.site.check_routed(conf, job)
        job_id = new_job_id()
        self._record(job_id, conf, dsl, job, job.parties())
        if self.site is None:
            self._spawn(job_id, resume=False)
            return self.store.get_job(job_id, self.settings.server_id) or self.store_row(job_id)
        self.site.propose(self, job_id, conf, dsl, job)  # raises (job failed) when a site refuses
        self._spawn(job_id, resume=False)
        try:
            self.site.start_remote(job_id, job)
        except ServerError as e:
            self.stop(job_id)
            self.store.set_job(job_id, error={"type": "start", "message": e.retmsg})
            raise
        return self.store_row(job_id)

    def store_row(self, job_id: str) -> JobRow:
        row = self.store.get_job(job_id, self.settings.server_id)
        assert row is not None
        return row

    def accept(self, job_id: str, conf: dict[str, Any], dsl: dict[str, Any]) -> None:
        """A participant's side of a proposed job: check this site's parties, record the job with
        their tasks (``waiting``; :meth:`start_accepted` starts it). Raises the reason to refuse."""
        if self.store.get_job(job_id, self.settings.server_id) is not None:
            raise ConfigError(f"job {job_id} already exists on this server.", field="job_id")
        assert self.site is not None
        self.site.check_tables(self.validate_shape(conf, dsl))
        job = self.validate(conf, dsl)
        mine = self.site.local_parties(job)
        if not mine:
            raise ConfigError("the job has no party of this server.", field="role")
        self._record(job_id, conf, dsl, job, mine)

    def start_accepted(self, job_id: str) -> None:
        """Start a job this participant accepted (the initiator's ``start``)."""
        row = self.store.get_job(job_id, self.settings.server_id)
        if row is None or row.status != "waiting":
            raise ServerError(102, f"job {job_id} is not waiting here")
        self._spawn(job_id, resume=False)

    def _record(
        self, job_id: str, conf: dict[str, Any], dsl: dict[str, Any], job: Any, parties: list[Any]
    ) -> None:
        """Insert the job, and its tasks and parties for ``parties``, all ``waiting``."""
        from fedloom.runner.job import party_dir_name
        from fedloom.runner.local import model_id_of

        jdir = self.settings.jobs_dir / job_id
        now = time.time()
        row = JobRow(
            job_id=job_id,
            server_id=self.settings.server_id,
            status="waiting",
            progress=0.0,
            conf=conf,
            dsl=dsl,
            initiator=dict(conf.get("initiator") or {}),
            roles={k: list(v) for k, v in job.conf.role.items()},
            job_dir=str(jdir),
            model_id=model_id_of(job),
            model_version=job_id,
            create_time=now,
            reruns=0,
        )
        tasks, party_rows = [], []
        for party in parties:
            pdir = party_dir_name(party)
            party_rows.append(
                PartyRow(
                    job_id=job_id,
                    role=party.role.value,
                    party_id=str(party.id),
                    status="waiting",
                    log_path=str(jdir / "logs" / f"{pdir}.log"),
                    status_path=str(jdir / "status" / f"{pdir}.json"),
                )
            )
            for name in job.order:
                if not job.runs_on(name, party.role):
                    continue
                out = jdir / "outputs" / name / pdir
                tasks.append(
                    TaskRow(
                        job_id=job_id,
                        component=name,
                        module=job.spec(name).name,
                        role=party.role.value,
                        party_id=str(party.id),
                        status="waiting",
                        output_dir=str(out),
                        model_path=str(out / "model.json"),
                        metrics_path=str(out / "metrics.json"),
                    )
                )
        self.store.add_job(row, tasks, party_rows)

    def child_env(self) -> dict[str, str]:
        """The environment of a job's supervisor and of the party processes it launches: the
        server's own, its pid (children die with it) and its ``compute`` setting (a job's own
        ``job_parameters`` ``compute`` still wins, in each party process)."""
        env = {**os.environ, "FEDLOOM_SERVER_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1"}
        env.update(compute_env(self.settings.compute, "server.json compute"))
        return env

    def _spawn(self, job_id: str, resume: bool) -> None:
        self.settings.jobs_dir.mkdir(parents=True, exist_ok=True)
        run_dir = self.settings.home / "supervisors"
        run_dir.mkdir(exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "fedloom.server.supervisor",
            job_id,
            self.settings.database_url,
            str(self.settings.jobs_dir),
            str(self.settings.data_dir),
        ] + (["--resume"] if resume else [])
        if self.site is not None:  # the supervisor runs this site's parties only
            s = self.settings
            args += ["--home", str(s.home), "--party-ids", ",".join(s.party_ids), "--routes", str(s.routes)]
        env = self.child_env()
        slot: list[Any] = []
        done = threading.Event()
        self._spawn_q.put((args, env, run_dir / f"{job_id}.log", slot, done))
        self._wake.set()
        if not done.wait(30) or not isinstance(slot[0], subprocess.Popen):
            why = f"cannot start the job's supervisor: {slot[0] if slot else 'timed out'}"
            self.store.finish_active(job_id, "failed", {"type": "supervisor", "message": why})
            raise ServerError(500, why)
        proc: subprocess.Popen[bytes] = slot[0]
        with self._lock:
            self._procs[job_id] = proc
        self.store.set_job(
            job_id,
            only_from=("waiting",),
            status="running",
            pid=proc.pid,
            start_time=time.time(),
            end_time=None,
            error=None,
        )

    def stop(self, job_id: str) -> bool:
        """Kill a waiting/running job's processes and mark it ``canceled``; ``False`` when it had
        already ended."""
        row = self.store.get_job(job_id, self.settings.server_id)
        if row is None or row.status not in ACTIVE_STATES:
            return False
        self._kill(job_id, row.pid)
        self._sync_files(job_id)
        stopped = self.store.finish_active(
            job_id, "canceled", {"type": "canceled", "message": "stopped by the user"}
        )
        if self.site is not None and self.site.hosts(str((row.initiator or {}).get("party_id", ""))):
            self.site.cancel_remote(job_id, self.validate_shape(row.conf, row.dsl))
        return stopped

    def rerun(self, job_id: str) -> None:
        """Continue a failed or canceled job from its first unfinished component.

        Raises
        ------
        ConfigError
            The job is waiting, running or succeeded.
        """
        row = self.store.get_job(job_id, self.settings.server_id)
        if row is None:
            raise ConfigError(f"no job {job_id!r} on this server.", field="job_id")
        if self.site is not None:
            raise ConfigError(
                "rerun of a multi-site job is not supported yet; submit it again.", field="job_id"
            )
        if row.status not in ("failed", "canceled"):
            raise ConfigError(
                f"job {job_id} is {row.status}: only a failed or canceled job reruns.", field="job_id"
            )
        self.store.reset_unfinished(job_id)
        changed = self.store.set_job(
            job_id,
            only_from=("failed", "canceled"),
            status="waiting",
            reruns=row.reruns + 1,
            error=None,
            end_time=None,
        )
        if not changed:
            raise ConfigError(f"job {job_id} changed state meanwhile; query it again.", field="job_id")
        self._spawn(job_id, resume=True)

    def _sync_files(self, job_id: str) -> None:
        """Copy the parties' last status files into the store (their processes are gone: what
        the files say is final, and tasks that finished before the kill stay finished)."""
        import json

        status: dict[str, dict[str, Any]] = {}
        for p in self.store.parties(job_id):
            with contextlib.suppress(OSError, ValueError):
                status[f"{p.role}:{p.party_id}"] = json.loads(Path(p.status_path).read_text(encoding="utf-8"))
        if status:
            self.store.sync_status(job_id, status)

    # ------------------------------------------------------------------ reaping
    def _kill(self, job_id: str, pid: int | None) -> None:
        """Kill the job's process group (if it is still this job's) and wait until it is gone."""
        with self._lock:  # taken from the reaper first: the caller, not the reaper, says why it ended
            proc = self._procs.pop(job_id, None)
        if not pid or not _is_supervisor(pid, job_id):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()  # reap the supervisor, else its zombie keeps the group "alive"
            if not _group_alive(pid):
                break
            time.sleep(0.05)

    def _spawn_pending(self) -> None:
        while True:
            try:
                args, env, log_path, slot, done = self._spawn_q.get_nowait()
            except queue.Empty:
                return
            try:
                with log_path.open("ab") as out:
                    slot.append(
                        subprocess.Popen(
                            args,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=out,
                            env=env,
                            start_new_session=True,
                        )
                    )
            except OSError as exc:
                slot.append(exc)
            done.set()

    def _reap_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)  # at once for a job to start, else every half second to reap
            self._wake.clear()
            self._spawn_pending()
            with self._lock:
                items = list(self._procs.items())
            for job_id, proc in items:
                code = proc.poll()
                if code is None:
                    continue
                with self._lock:
                    self._procs.pop(job_id, None)
                # a supervisor always writes an outcome; one that did not was killed from outside
                why = f"the job's supervisor process ended with status {code} before the job did"
                if self.store.finish_active(job_id, "failed", {"type": "supervisor", "message": why}):
                    log.warning("job %s: %s", job_id, why)
