"""Where a pipeline's jobs run: in-process through the local launcher, or on a job server.

:func:`executor_for` picks the job server of the client config (``fedloom init``;
:meth:`fedloom.server.client.FlowClient.from_config`) when there is one, else this machine.
Both run a job to its end and print FATE's progress lines while they wait::

    Job id is 20261206060710-9b046d
    Running component hetero_poisson_0, time elapse: 0:00:03
    Job is success!!! Job id is 20261206060710-9b046d
    Total time: 0:00:05

A failed job raises :class:`~fedloom.core.errors.PartyFailedError` naming the party, the component
and the reason (the failed party's own error, not "check the board").
:class:`JobRef` is what a pipeline keeps of a job (and writes in :meth:`PipeLine.dump`).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from fedloom.core.errors import ConfigError, FedloomError, PartyFailedError
from fedloom.server.client import FlowClient

__all__ = ["JobRef", "LocalExecutor", "Progress", "ServerExecutor", "executor_for"]

LOCAL = "local"
SERVER = "server"


@dataclass
class JobRef:
    """A job a pipeline ran.

    Attributes
    ----------
    backend
        ``"local"`` (run in-process; ``job_dir`` holds its outputs) or ``"server"``.
    job_id, job_dir
        The job's id and (local, or as the server reported it) folder.
    model_id, model_version
        FATE's names of the models it trained (``model_version`` is the job id).
    url
        The server's URL (server jobs).
    """

    backend: str
    job_id: str
    job_dir: str | None = None
    model_id: str = ""
    model_version: str = ""
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> JobRef:
        return cls(
            backend=str(doc["backend"]),
            job_id=str(doc["job_id"]),
            job_dir=doc.get("job_dir"),
            model_id=str(doc.get("model_id") or ""),
            model_version=str(doc.get("model_version") or ""),
            url=doc.get("url"),
        )


def _elapsed(t0: float) -> dt.timedelta:
    return dt.timedelta(seconds=int(time.monotonic() - t0))


class Progress:
    """FATE's progress lines on ``stream`` (stderr by default; ``None`` prints nothing).

    On a terminal the "Running component" line is rewritten in place every poll; elsewhere (a log,
    a notebook capture) a line is written only when the running component changes.
    """

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.t0 = time.monotonic()
        self.last: object = None
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def say(self, line: str) -> None:
        if self.stream is None:
            return
        if self.tty and self.last is not None:
            self.stream.write("\n")
        self.stream.write(line + "\n")
        self.stream.flush()
        self.last = None

    def state(self, label: str) -> None:
        """``Running component X, time elapse: ...`` (or ``Job is still waiting ...``)."""
        if self.stream is None:
            return
        line = f"{label}, time elapse: {_elapsed(self.t0)}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        elif label != self.last:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last = label

    def running(self, components: list[str]) -> None:
        if components:
            cpn = components[0] if len(components) == 1 else str(components)
            self.state(f"Running component {cpn}")

    def done(self, job_id: str) -> None:
        self.say(f"Job is success!!! Job id is {job_id}")
        self.say(f"Total time: {_elapsed(self.t0)}")


class Executor(Protocol):
    backend: str

    def run(
        self,
        conf: dict[str, Any],
        dsl: dict[str, Any],
        initiator: str,
        model_job: JobRef | None = None,
    ) -> JobRef: ...

    def upload(self, conf: dict[str, Any], drop: bool) -> dict[str, Any]: ...


class LocalExecutor:
    """Runs a job on this machine with :func:`fedloom.runner.local.run_job` (one process per party).

    Parameters
    ----------
    data_dir, job_dir
        The table store and the jobs folder (default ``$FEDLOOM_DATA_DIR`` / ``$FEDLOOM_JOBS_DIR``,
        else ``~/.fedloom/data`` and ``~/.fedloom/jobs``).
    """

    backend = LOCAL

    def __init__(
        self, data_dir: str | Path | None, job_dir: str | Path | None, stream: IO[str] | None
    ) -> None:
        self.data_dir = data_dir
        self.job_dir = job_dir
        self.stream = stream

    def run(
        self, conf: dict[str, Any], dsl: dict[str, Any], initiator: str, model_job: JobRef | None = None
    ) -> JobRef:
        from fedloom.runner.local import run_job

        model_dir = None
        if model_job is not None:
            if model_job.backend != LOCAL or not model_job.job_dir:
                raise ConfigError(
                    f"the model was trained on the job server {model_job.url} (job {model_job.job_id}); "
                    "predict there: configure that server (fedloom init) and run predict again.",
                    field="model_version",
                )
            model_dir = model_job.job_dir
        progress = Progress(self.stream)

        def started(job_id: str, folder: Path, job: object) -> None:
            progress.say(f"Job id is {job_id}")

        def on_status(status: dict[str, dict[str, Any]]) -> None:
            mine = status.get(initiator) or {}
            current = mine.get("current")
            if current is None:  # the initiator waits on its peers, or has finished: show any running
                current = next((s.get("current") for s in status.values() if s.get("current")), None)
            if current:
                progress.running([str(current)])

        result = run_job(conf, dsl, data_dir=self.data_dir, job_dir=self.job_dir, progress=on_status,
                         on_start=started, model_job=model_dir)  # fmt: skip
        if not result.ok:
            progress.say(f"Job is failed!!! Job id is {result.job_id}")
            result.raise_for_failure()
            raise PartyFailedError(f"job {result.job_id} failed", party=None, component=None)
        progress.done(result.job_id)
        return JobRef(LOCAL, result.job_id, str(result.job_dir), result.model_id, result.model_version)

    def upload(self, conf: dict[str, Any], drop: bool) -> dict[str, Any]:
        from fedloom.data import TableStore, default_data_dir

        store = TableStore(
            Path(self.data_dir).expanduser() if self.data_dir is not None else default_data_dir()
        )
        info = store.upload(conf, drop=drop)
        return {"table_name": info.name, "namespace": info.namespace, "count": info.rows}


def _failure(job: Mapping[str, Any]) -> PartyFailedError:
    """The root cause of a failed server job, from its ``error`` or its first failed task."""
    raw = job.get("error")
    error: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    party = error.get("party")
    component = error.get("component")
    kind = error.get("error_type") or error.get("type") or ""
    message = error.get("message") or error.get("retmsg") or ""
    tasks = [t for t in job.get("tasks") or [] if t.get("status") == "failed" and t.get("error")]
    if not message and tasks:
        task = tasks[0]
        err = task["error"]
        party = party or f"{task.get('role')}:{task.get('party_id')}"
        component = component or task.get("component")
        message = err.get("message", str(err)) if isinstance(err, Mapping) else str(err)
        kind = kind or (err.get("type", "") if isinstance(err, Mapping) else "")
    if not message:
        message = f"the server reports the job {job.get('status')} without an error message"
    text = f"{kind}: {message}" if kind and not str(message).startswith(str(kind)) else str(message)
    tail = error.get("traceback_tail") or ""
    return PartyFailedError(
        f"job {job.get('job_id')} failed: {text}" + (f"\n{tail}" if tail else ""),
        party=None if party is None else str(party),
        component=None if component is None else str(component),
    )


class ServerExecutor:
    """Submits a job to the job server with :class:`~fedloom.server.client.FlowClient` and polls it."""

    backend = SERVER

    def __init__(self, client: FlowClient, stream: IO[str] | None, poll: float = 0.5) -> None:
        self.client = client
        self.stream = stream
        self.poll = poll

    def run(
        self, conf: dict[str, Any], dsl: dict[str, Any], initiator: str, model_job: JobRef | None = None
    ) -> JobRef:
        if model_job is not None and model_job.backend != SERVER:
            raise ConfigError(
                f"the model was trained on this machine (job {model_job.job_id}, {model_job.job_dir}), not "
                "on the configured job server; predict without a server configured, or train on the server.",
                field="model_version",
            )
        progress = Progress(self.stream)
        answer = self.client.job_submit(conf, dsl)
        data: dict[str, Any] = answer.get("data") or {}
        job_id = str(answer.get("jobId") or data.get("job_id"))
        progress.say(f"Job id is {job_id}")
        role, _, party_id = initiator.partition(":")

        def on_poll(job: dict[str, Any]) -> None:
            status = job.get("status")
            if status == "waiting":
                progress.state("Job is still waiting")
            elif status == "running":
                tasks = [t for t in job.get("tasks") or [] if t.get("status") == "running"]
                own = [t for t in tasks if t.get("role") == role and str(t.get("party_id")) == party_id]
                names = list(dict.fromkeys(str(t.get("component")) for t in (own or tasks)))
                progress.running(names)

        job = self.client.wait(job_id, poll=self.poll, on_poll=on_poll)
        if job.get("status") != "success":
            progress.say(f"Job is {job.get('status')}!!! Job id is {job_id}")
            if job.get("status") == "canceled":
                raise FedloomError(f"job {job_id} was canceled")
            raise _failure(job)
        progress.done(job_id)
        info = data.get("model_info") or {}
        return JobRef(SERVER, job_id, data.get("job_dir"), str(info.get("model_id") or ""),
                      str(info.get("model_version") or job_id), url=self.client.url)  # fmt: skip

    def upload(self, conf: dict[str, Any], drop: bool) -> dict[str, Any]:
        data: dict[str, Any] = self.client.data_upload(conf, drop=drop).get("data") or {}
        return data


def configured_client(explicit: FlowClient | None = None) -> FlowClient | None:
    """``explicit``, else the client of the client config, else ``None`` (no server)."""
    return explicit if explicit is not None else FlowClient.from_config()


def executor_for(
    client: FlowClient | None,
    data_dir: str | Path | None,
    job_dir: str | Path | None,
    stream: IO[str] | None,
) -> Executor:
    """The server executor when a client is configured, else the local one."""
    found = configured_client(client)
    if found is not None:
        return ServerExecutor(found, stream)
    return LocalExecutor(data_dir, job_dir, stream)


def default_stream() -> IO[str]:
    """Where progress goes by default (stderr, looked up at call time so captures see it)."""
    return sys.stderr
