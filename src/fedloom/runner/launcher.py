"""Start every party of a job as its own OS process, connected over loopback gRPC.

This is the default path of ``fedloom run``: the same processes, transport and checks as a
multi-machine deployment, on one machine. Ports are not guessed: each party binds port 0, reports
the port it got, and only then does the launcher hand every party the full address book.

Failure handling: a party that raises tells its peers (they fail fast with PartyFailedError) and
reports its error; with ``stop_others`` the launcher then gives the rest a short grace period and
terminates whoever is still running, so a failed job never leaves processes behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedloom.core.errors import PartyFailedError, PartyTimeoutError
from fedloom.core.roles import PartyId

log = logging.getLogger(__name__)


@dataclass
class PartySpec:
    """One party to start: who it is and what it runs (``module:function(ctx, **kwargs)``)."""

    party: PartyId
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PartyOutcome:
    """How one party's process ended."""

    party: PartyId
    status: str = "running"  # running | done | error | killed
    result: Any = None
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    exit_code: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"


@dataclass
class LaunchResult:
    """Outcome of every party, in launch order."""

    outcomes: dict[PartyId, PartyOutcome]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values())

    def results(self) -> dict[PartyId, Any]:
        return {p: o.result for p, o in self.outcomes.items()}

    def first_failure(self) -> PartyOutcome | None:
        failed = [o for o in self.outcomes.values() if not o.ok]
        # The root cause is the party whose error is not a reaction to another party's failure.
        root = [o for o in failed if o.error_type not in ("PartyFailedError", "")]
        candidates = root or failed
        return candidates[0] if candidates else None

    def raise_for_failure(self) -> None:
        """Raise PartyFailedError naming the failed party, its error and its traceback tail."""
        bad = self.first_failure()
        if bad is None:
            return
        tail = "\n".join(bad.traceback.strip().splitlines()[-12:])
        detail = f"{bad.error_type}: {bad.message}" if bad.error_type else bad.message
        raise PartyFailedError(f"{detail}\n{tail}".rstrip(), party=str(bad.party))


class _Child:
    def __init__(self, spec: PartySpec, proc: subprocess.Popen[str], control: Any) -> None:
        self.spec = spec
        self.proc = proc
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.outcome = PartyOutcome(spec.party)
        self.started = time.monotonic()
        self._reader = threading.Thread(target=self._read, args=(control,), daemon=True)
        self._reader.start()

    def _read(self, control: Any) -> None:
        for line in control:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s wrote a malformed control line", self.spec.party)
        self.events.put({"event": "eof"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def wait_event(self, name: str, deadline: float) -> dict[str, Any]:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PartyTimeoutError(f"launcher/{self.spec.party}/{name}", 0, detail="party did not start")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event["event"] in (name, "error", "eof"):
                return event


def launch(
    specs: Sequence[PartySpec],
    *,
    job_id: str = "job",
    timeout: float = 600.0,
    job_dir: Path | None = None,
    tls_files: dict[str, dict[str, str]] | None = None,
    python_path: Sequence[str] = (),
    stop_others: bool = True,
    grace: float = 5.0,
    start_timeout: float = 60.0,
    log_level: str | None = None,
) -> LaunchResult:
    """Run every party in ``specs`` as its own process and wait for all of them.

    Parameters
    ----------
    specs
        One entry per party.
    timeout
        Each party's receive timeout (seconds).
    job_dir
        Where each party's log goes (``{job_dir}/logs/{role}-{id}.log``); stderr is kept there too.
    tls_files
        Per party (``"guest:9999"``) the PEM paths ``{"ca_cert", "cert", "key"}`` for mutual TLS.
    python_path
        Extra import paths for the parties' targets.
    stop_others
        Terminate the remaining parties shortly after one fails (default). Off, every party runs
        until it ends by itself — used to check that peers of a dead party time out on their own.
    """
    parties = [s.party for s in specs]
    children: list[_Child] = []
    try:
        for spec in specs:
            children.append(
                _start(spec, parties, job_id, timeout, job_dir, tls_files, python_path, log_level)
            )
        deadline = time.monotonic() + start_timeout
        addresses: dict[str, str] = {}
        for child in children:
            event = child.wait_event("listening", deadline)
            if event["event"] != "listening":
                _record(child, event)
                raise PartyFailedError(
                    f"did not start: {child.outcome.message or 'exited early'}", party=str(child.spec.party)
                )
            addresses[str(child.spec.party)] = f"127.0.0.1:{event['port']}"
        for child in children:
            child.send({"addresses": addresses})
        _supervise(children, stop_others, grace)
    finally:
        for child in children:
            _terminate(child)
    return LaunchResult({c.spec.party: c.outcome for c in children})


def _start(
    spec: PartySpec,
    parties: list[PartyId],
    job_id: str,
    timeout: float,
    job_dir: Path | None,
    tls_files: dict[str, dict[str, str]] | None,
    python_path: Sequence[str],
    log_level: str | None,
) -> _Child:
    name = f"{spec.party.role.value}-{spec.party.id}"
    log_file = None
    stderr: Any = None
    if job_dir is not None:
        (job_dir / "logs").mkdir(parents=True, exist_ok=True)
        log_file = job_dir / "logs" / f"{name}.log"
        stderr = open(job_dir / "logs" / f"{name}.stderr", "w", encoding="utf-8")  # noqa: SIM115 - child owns it
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fedloom.runner.party_main", str(write_fd)],
        stdin=subprocess.PIPE,
        stdout=stderr,
        stderr=stderr,
        pass_fds=(write_fd,),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(write_fd)
    if stderr is not None:
        stderr.close()
    child = _Child(spec, proc, os.fdopen(read_fd, "r", encoding="utf-8"))
    child.send(
        {
            "party": str(spec.party),
            "peers": [str(p) for p in parties],
            "target": spec.target,
            "kwargs": spec.kwargs,
            "job_id": job_id,
            "timeout": timeout,
            "tls": (tls_files or {}).get(str(spec.party)),
            "log_file": str(log_file) if log_file else None,
            "log_level": log_level,
            "python_path": list(python_path),
        }
    )
    return child


def _record(child: _Child, event: dict[str, Any]) -> None:
    out = child.outcome
    out.seconds = time.monotonic() - child.started
    if event["event"] == "done":
        out.status, out.result = "done", event.get("result")
    elif event["event"] == "error":
        out.status = "error"
        out.error_type, out.message = event.get("type", ""), event.get("message", "")
        out.traceback, out.exit_code = event.get("traceback", ""), event.get("exit_code")
    else:  # the control pipe closed without a verdict: the process died
        code = child.proc.wait()
        out.status, out.exit_code = "killed", code
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        out.message = f"process ended with {how} before reporting a result"


def _supervise(children: list[_Child], stop_others: bool, grace: float) -> None:
    pending = list(children)
    stop_at: float | None = None
    while pending:
        for child in list(pending):
            try:
                event = child.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if event["event"] not in ("done", "error", "eof"):
                continue
            _record(child, event)
            pending.remove(child)
            if not child.outcome.ok and stop_others and stop_at is None:
                stop_at = time.monotonic() + grace
        if stop_at is not None and time.monotonic() > stop_at:
            for child in pending:
                _terminate(child)
                child.outcome.status = "error"
                child.outcome.error_type = child.outcome.error_type or "PartyFailedError"
                child.outcome.message = child.outcome.message or "stopped by the launcher after a peer failed"
            return


def _terminate(child: _Child) -> None:
    if child.proc.poll() is None:
        child.proc.terminate()
        try:
            child.proc.wait(3)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    if child.proc.stdin is not None and not child.proc.stdin.closed:
        with contextlib.suppress(OSError):  # the child may already be gone
            child.proc.stdin.close()
