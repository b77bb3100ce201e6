"""Start every party of a job as its own OS process, connected over loopback gRPC.

This is the default path of ``fedloom run``: the same processes, transport and checks as a
multi-machine deployment, on one machine. Ports are not guessed: each party binds port 0, reports
the port it got, and only then does the launcher hand every party the full address book.

Transport security: by default every launched job uses **mutual TLS**. The launcher makes a fresh
CA for the job and one certificate per party (host and arbiter sharing a party id are separate
processes and get separate certificates), writes them as PEM files readable by the owner only::

    {job_dir}/tls/ca.crt                  the job's CA certificate (its private key is never written:
                                          it signs the party certificates in memory and is dropped)
    {job_dir}/tls/{role}-{id}.crt, .key   one certificate and key per party

and hands each party the paths of its own files. A party then accepts a message or a failure notice
only over a TLS connection whose client certificate names the sender, so another local process
cannot inject messages or forge a failure. Without a ``job_dir`` the files go to a private
temporary folder, removed when the job ends. ``tls=False`` turns this off for debugging; the
parties then talk plaintext (logged as a warning, :data:`PLAINTEXT_WARNING`).

Failure handling: a party that raises tells its peers (they fail fast with PartyFailedError) and
reports its error; with ``stop_others`` the launcher then gives the rest a short grace period and
terminates whoever is still running, so a failed job never leaves processes behind.
:meth:`LaunchResult.first_failure` names the root cause: a party that was killed or failed for a
reason of its own, before any party that only reacted to it (PartyFailedError, PartyTimeoutError,
or stopped by the launcher); among equals, the one whose end was recorded first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedloom.core.errors import PartyFailedError, PartyTimeoutError
from fedloom.core.roles import PartyId

log = logging.getLogger(__name__)

#: What the launcher says when a job runs without TLS.
PLAINTEXT_WARNING = (
    "parties talk PLAINTEXT: any local process can inject messages or forge a failure notice "
    "(turn TLS back on unless you are debugging)"
)
#: Validity of a launched job's certificates, in days. They are worthless once the job's processes
#: end (no other party trusts the job's CA), so this only has to outlast the longest job.
TLS_DAYS = 30
#: Error types that are a reaction to another party's failure, not a cause of their own.
REACTIONS = ("PartyFailedError", "PartyTimeoutError")


@dataclass
class PartySpec:
    """One party to start: who it is and what it runs (``module:function(ctx, **kwargs)``)."""

    party: PartyId
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PartyOutcome:
    """How one party's process ended.

    Attributes
    ----------
    status
        ``running``, ``done``, ``error`` (it reported an error), ``killed`` (it ended without
        reporting: a signal or a crash) or ``stopped`` (the launcher terminated it after a peer
        failed).
    ended
        ``time.monotonic()`` when its end was seen (orders failures; ``None`` while running).
    """

    party: PartyId
    status: str = "running"  # running | done | error | killed | stopped
    result: Any = None
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    exit_code: int | None = None
    seconds: float = 0.0
    ended: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def detail(self) -> str:
        """``DataError: no column 'id'`` (the error type, when there is one, then the message)."""
        return f"{self.error_type}: {self.message}" if self.error_type else self.message

    def cause_rank(self) -> int:
        """0: failed for a reason of its own (killed, or an error that is not a reaction); 1: an
        error reacting to a peer (:data:`REACTIONS`); 2: stopped by the launcher; 3: not failed."""
        if self.ok or self.status == "running":
            return 3
        if self.status == "stopped":
            return 2
        if self.status == "error" and self.error_type in REACTIONS:
            return 1
        return 0


@dataclass
class LaunchResult:
    """Outcome of every party, in launch order.

    Attributes
    ----------
    outcomes
        Per party, how its process ended.
    tls
        Whether the parties talked mutual TLS.
    addresses
        Where each party listened (``"guest:9999" -> "127.0.0.1:50123"``).
    """

    outcomes: dict[PartyId, PartyOutcome]
    tls: bool = False
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values())

    def results(self) -> dict[PartyId, Any]:
        return {p: o.result for p, o in self.outcomes.items()}

    def first_failure(self) -> PartyOutcome | None:
        """The root cause of a failed job: the party that failed for a reason of its own (killed,
        or an error that is not a reaction to a peer), else the first to react; among equals, the
        one whose end was seen first. ``None`` when no party failed."""
        failed = [o for o in self.outcomes.values() if not o.ok and o.status != "running"]
        if not failed:
            return None
        return min(failed, key=lambda o: (o.cause_rank(), math.inf if o.ended is None else o.ended))

    def aftermath(self) -> dict[PartyId, str]:
        """Every failed party but the root cause, with what became of it: ``"stopped after
        host:10000 failed (PartyTimeoutError: ...)"``, or ``"also failed: ..."`` for a second
        failure of its own."""
        root = self.first_failure()
        if root is None:
            return {}
        out: dict[PartyId, str] = {}
        for party, o in self.outcomes.items():
            if o is root or o.ok or o.status == "running":
                continue
            if o.cause_rank() == 0:
                out[party] = f"also failed: {o.detail}"
            else:
                out[party] = f"stopped after {root.party} failed ({o.detail})"
        return out

    def raise_for_failure(self) -> None:
        """Raise PartyFailedError naming the root-cause party, its error, what became of the others
        and the root's traceback tail."""
        bad = self.first_failure()
        if bad is None:
            return
        others = "; ".join(f"{p}: {text}" for p, text in self.aftermath().items())
        tail = "\n".join(bad.traceback.strip().splitlines()[-12:])
        head = bad.detail + (f" [{others}]" if others else "")
        raise PartyFailedError(f"{head}\n{tail}".rstrip(), party=str(bad.party))


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
                event = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s wrote a malformed control line", self.spec.party)
                continue
            if isinstance(event, dict) and isinstance(event.get("event"), str):
                self.events.put({**event, "_at": time.monotonic()})
            else:
                log.warning("%s wrote a control line that is not an event", self.spec.party)
        self.events.put({"event": "eof", "_at": time.monotonic()})

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
    tls: bool = True,
    tls_files: dict[str, dict[str, str]] | None = None,
    python_path: Sequence[str] = (),
    stop_others: bool = True,
    grace: float = 5.0,
    start_timeout: float = 60.0,
    log_level: str | None = None,
    on_ready: Callable[[dict[str, str]], dict[str, str] | None] | None = None,
    peers: Sequence[PartyId] | None = None,
    listen_host: str = "127.0.0.1",
) -> LaunchResult:
    """Run every party in ``specs`` as its own process and wait for all of them.

    Parameters
    ----------
    specs
        One entry per party.
    timeout
        Each party's receive timeout (seconds).
    job_dir
        Where each party's log goes (``{job_dir}/logs/{role}-{id}.log``); stderr is kept there too,
        and the job's TLS files under ``{job_dir}/tls/``.
    tls
        Mutual TLS between the parties with a fresh per-job CA (default). ``False`` for plaintext,
        for debugging only: any local process can then inject messages.
    tls_files
        Per party (``"guest:9999"``) the PEM paths ``{"ca", "cert", "key"}`` to use instead of a
        fresh per-job CA (for example a federation's own certificates).
    python_path
        Extra import paths for the parties' targets.
    stop_others
        Terminate the remaining parties shortly after one fails (default). Off, every party runs
        until it ends by itself — used to check that peers of a dead party time out on their own.
    grace
        Seconds the other parties get to end by themselves after one failed, before they are
        terminated.
    on_ready
        Called with the address book (``{"guest:9999": "127.0.0.1:50123", ...}``) once every party
        listens and before any of them learns where its peers are (so before any message is sent).
        It may return the addresses of parties started elsewhere (multi-site jobs, see
        :mod:`fedloom.server.multisite`); they join the book every party receives.
    peers
        Every party of the job when ``specs`` start only some of them (the others run on other
        machines); default: the parties of ``specs``.
    listen_host
        The address the parties bind (port 0) and are announced at; default loopback.

    Raises
    ------
    PartyFailedError
        A party did not start.
    """
    parties = list(peers) if peers is not None else [s.party for s in specs]
    children: list[_Child] = []
    addresses: dict[str, str] = {}
    use_tls = tls or tls_files is not None
    cleanup: list[Path] = []
    try:
        if tls_files is None and tls:
            tls_files = _job_tls(parties, job_dir, cleanup)
        elif not use_tls:
            log.warning("job %s: %s", job_id, PLAINTEXT_WARNING)
        for spec in specs:
            children.append(
                _start(
                    spec, parties, job_id, timeout, job_dir, tls_files, python_path, log_level, listen_host
                )
            )
        addresses.update(_exchange_addresses(children, start_timeout, listen_host, on_ready))
        _supervise(children, stop_others, grace)
    finally:
        _stop_and_clean(children, cleanup)
    return LaunchResult({c.spec.party: c.outcome for c in children}, tls=use_tls, addresses=addresses)


def _exchange_addresses(
    children: list[_Child],
    start_timeout: float,
    listen_host: str,
    on_ready: Callable[[dict[str, str]], dict[str, str] | None] | None,
) -> dict[str, str]:
    """Collect where every party listens (plus other sites' parties) and tell every party the book."""
    addresses = _listening(children, time.monotonic() + start_timeout, listen_host)
    if on_ready is not None:
        addresses.update(on_ready(dict(addresses)) or {})
    for child in children:
        child.send({"addresses": addresses})
    return addresses


def _stop_and_clean(children: list[_Child], cleanup: list[Path]) -> None:
    """End every party still running and remove the job's temporary TLS folders, whatever happened."""
    for child in children:
        _terminate(child)
    for folder in cleanup:
        shutil.rmtree(folder, ignore_errors=True)


def _listening(children: list[_Child], deadline: float, host: str = "127.0.0.1") -> dict[str, str]:
    """Wait until every party listens; returns the address book."""
    addresses: dict[str, str] = {}
    for child in children:
        event = child.wait_event("listening", deadline)
        if event["event"] != "listening":
            _record(child, event)
            raise PartyFailedError(
                f"did not start: {child.outcome.message or 'exited early'}", party=str(child.spec.party)
            )
        addresses[str(child.spec.party)] = f"{host}:{event['port']}"
    return addresses


def _job_tls(parties: list[PartyId], job_dir: Path | None, cleanup: list[Path]) -> dict[str, dict[str, str]]:
    """The per-job PKI, under ``{job_dir}/tls`` or a private temporary folder (added to ``cleanup``)."""
    if job_dir is None:
        folder = Path(tempfile.mkdtemp(prefix="fedloom-tls-"))  # mode 0700
        cleanup.append(folder)
        return write_job_pki(parties, folder)
    return write_job_pki(parties, job_dir / "tls")


def write_job_pki(parties: Sequence[PartyId], folder: Path) -> dict[str, dict[str, str]]:
    """Make a fresh CA and one certificate per party, and write them as PEM files under ``folder``.

    Every file is created anew with mode 0600 (the folder 0700): ``ca.crt``, and per party
    ``{role}-{id}.crt`` and ``{role}-{id}.key``. The CA's private key is not written.

    Parameters
    ----------
    parties
        The job's parties; host and arbiter sharing a party id get separate certificates.
    folder
        Where the files go (made if missing).

    Returns
    -------
    dict
        Per party (``"guest:9999"``) the paths ``{"ca", "cert", "key"}`` (what
        :meth:`fedloom.transport.grpc.TlsConfig.from_files` takes).
    """
    from fedloom.transport.grpc.tls import make_pki  # cryptography and grpc load only when a job starts

    pki = make_pki(list(parties), days=TLS_DAYS)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca = folder / "ca.crt"
    files: dict[str, dict[str, str]] = {}
    for i, party in enumerate(parties):
        config = pki[str(party)]
        if i == 0:
            _write_private(ca, config.ca_cert)
        name = f"{party.role.value}-{party.id}"
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        _write_private(cert, config.cert)
        _write_private(key, config.key)
        files[str(party)] = {"ca": str(ca), "cert": str(cert), "key": str(key)}
    return files


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` afresh with mode 0600 (never through a link, never widening an old file)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _start(
    spec: PartySpec,
    parties: list[PartyId],
    job_id: str,
    timeout: float,
    job_dir: Path | None,
    tls_files: dict[str, dict[str, str]] | None,
    python_path: Sequence[str],
    log_level: str | None,
    listen_host: str = "127.0.0.1",
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
            "listen": f"{listen_host}:0",
        }
    )
    return child


def _record(child: _Child, event: dict[str, Any]) -> None:
    out = child.outcome
    out.seconds = time.monotonic() - child.started
    out.ended = float(event.get("_at") or time.monotonic())
    if event["event"] == "done":
        out.status, out.result = "done", event.get("result")
    elif event["event"] == "error":
        out.status = "error"
        out.error_type, out.message = event.get("type", ""), event.get("message", "")
        out.traceback, out.exit_code = event.get("traceback", ""), event.get("exit_code")
    else:  # the control pipe closed without a verdict: the process died
        code = child.proc.wait()
        out.status, out.exit_code = "killed", code
        out.message = f"process {_how_it_ended(code)} before reporting a result"


def _how_it_ended(code: int) -> str:
    """``killed by signal 9 (SIGKILL)`` or ``exited with code 3``."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:
        name = ""
    return f"killed by signal {-code}{name}"


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
                _stop(child)
            return


def _stop(child: _Child) -> None:
    """Terminate a party that outlived a peer's failure; keep its verdict if it sent one first."""
    _terminate(child)
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = child.events.get(timeout=left)
        except queue.Empty:
            break
        if event["event"] in ("done", "error"):
            _record(child, event)
            return
        if event["event"] == "eof":
            break
    out = child.outcome
    out.status, out.ended = "stopped", time.monotonic()
    out.seconds = out.ended - child.started
    out.message = "terminated by the launcher"


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
