"""Run a whole job on this machine: one OS process per party, over loopback gRPC.

:func:`run_job` is ``fedloom run``: it validates the job (conf + dsl, every party's parameters,
every table a ``Reader`` names) before any process starts, starts one process per party of the
conf with :func:`fedloom.runner.launcher.launch` (host and arbiter may share a party id: the
role is part of a party's identity), follows the parties' status files while they run, and
collects a :class:`JobResult`. The job's folder::

    {jobs_dir}/{job_id}/
      conf.json, dsl.json        the job as submitted
      job.json                   the result (:meth:`JobResult.to_dict`)
      status/{role}-{id}.json    each party's progress (see :class:`fedloom.runner.job.StatusFile`)
      outputs/{component}/{role}-{id}/   data.parquet, model.json, metrics.json
      privacy/{role}-{id}.json   each party's privacy ledger: what it received, per channel, and
                                 what that tells it in clear (the channels' declared disclosure)
      logs/{role}-{id}.log       each party's log (and .stderr)
      tls/                       the job's CA certificate and each party's certificate and key
                                 (mode 0600; see :mod:`fedloom.runner.launcher`)

The parties talk mutual TLS with certificates of a CA made for this job alone (``tls=False``:
plaintext, for debugging only). A job is complete only when ``job.json`` says ``"ok": true``; an
interrupted run still writes a ``job.json`` saying it failed, so its partial outputs are never
taken for a finished job's.

**Predict jobs** (FATE's ``hetero_lr_normal_predict`` shape): a DSL whose components load
``pipeline.<component>.model`` runs against the models of an earlier job of this machine. FATE names
that job with ``job_parameters.common.model_id`` / ``model_version``; here ``model_version`` *is*
the training job's id (as in FATE, where a model's version is the id of the job that trained it),
and ``model_id`` is FATE's party string (``arbiter-10000#guest-9999#host-9999_10000#model``, party
ids sorted as FATE sorts them), checked when given. ``run_job(model_job=...)`` (``fedloom run
--model-job JOB_ID``) names the job instead: it wins over the conf's ``model_version`` and
``model_id`` (a FATE predict conf carries FATE's own, stale here), and the result's ``notes`` say
which values written in the conf it overrode. A job id is looked up in
the jobs folder; a path to a job folder works too. Before any process starts, every party that
runs a consuming component must find its own ``model.json`` there, of the consuming module.
Each party then loads its part (:func:`fedloom.runner.job.load_model_artifact`); the deployed
components take their parameters from the model, and ``DataTransform`` and the model components
check the predict data against the training schema.

Every result records ``model_id`` and ``model_version`` (its own id) as FATE prints them after
training, and ``model_job`` when it loaded models of another job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedloom.components import Env, component_class, registry
from fedloom.compute.select import party_compute
from fedloom.core.errors import ConfigError, FedloomError, PartyFailedError, exit_code
from fedloom.core.roles import PartyId
from fedloom.dsl import Job, load_job, load_json
from fedloom.dsl.predict import fate_model_id
from fedloom.runner.caches import preflight_caches, with_cache_job
from fedloom.runner.job import load_model_artifact, party_dir_name, status_path, write_json_atomic
from fedloom.runner.launcher import LaunchResult, PartySpec, launch

__all__ = [
    "JOBS_DIR_ENV",
    "JobFailure",
    "JobResult",
    "default_jobs_dir",
    "model_id_of",
    "new_job_id",
    "overridden_model_conf",
    "preflight",
    "resolve_model_job",
    "run_job",
]

JOBS_DIR_ENV = "FEDLOOM_JOBS_DIR"
#: Lines of the failed party's traceback kept in the failure report.
TRACEBACK_TAIL = 15


def default_jobs_dir() -> Path:
    """``$FEDLOOM_JOBS_DIR`` when set, else ``~/.fedloom/jobs``."""
    env = os.environ.get(JOBS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "jobs"


def new_job_id() -> str:
    """``20261121093512-3fa9c1``: UTC time to the second plus 6 random hex digits."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


@dataclass
class JobFailure:
    """Where and why a job failed: the root-cause party (not one that only saw a peer fail)."""

    party: str
    component: str | None
    error_type: str
    message: str
    traceback_tail: str
    exit_code: int

    def headline(self) -> str:
        """``party guest:9999, component reader_0: DataError: no table ...`` (a killed party:
        ``party host:10000, component hetero_lr_0: process killed by signal 9 (SIGKILL) ...``)."""
        where = f"party {self.party}" + (f", component {self.component}" if self.component else "")
        if self.error_type and self.error_type != "killed":
            return f"{where}: {self.error_type}: {self.message}"
        return f"{where}: {self.message}"


@dataclass
class JobResult:
    """The outcome of a job run with :func:`run_job`.

    Attributes
    ----------
    job_id, job_dir
        The job and its folder.
    ok
        Every party finished.
    seconds
        Wall time from launch to the last party's end.
    order
        Components in run order.
    modules
        Component → module name.
    parties
        Per party (``"guest:9999"``): ``status``, ``seconds``, ``components`` (per component:
        ``state``, ``seconds``, ``rows``, ``metrics``, ``sent_bytes``, ``received_bytes``,
        ``outputs``), ``traffic`` (bytes and messages per channel), ``privacy`` (the one-line
        summary of its privacy ledger, empty when it failed) and ``error`` (for a failed party
        other than the root cause: ``stopped after host:10000 failed (...)``).
    failure
        The root cause when not ``ok``.
    model_id, model_version
        FATE's names of the models this job trained: the party string (:func:`model_id_of`) and
        the job id (what a predict job passes as ``--model-job`` or ``model_version``).
    model_job
        The earlier job whose models this (predict) job loaded.
    notes
        What the run changed in the conf as written (``--model-job`` overriding the conf's
        ``model_id`` / ``model_version``), one line each.
    tls
        Whether the parties talked mutual TLS (``False``: plaintext, ``fedloom run
        --insecure-transport``).
    """

    job_id: str
    job_dir: Path
    ok: bool
    seconds: float
    order: list[str]
    modules: dict[str, str]
    parties: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure: JobFailure | None = None
    model_id: str = ""
    model_version: str = ""
    model_job: str | None = None
    tls: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def outputs_dir(self) -> Path:
        """``{job_dir}/outputs``."""
        return self.job_dir / "outputs"

    @property
    def logs_dir(self) -> Path:
        """``{job_dir}/logs``."""
        return self.job_dir / "logs"

    @property
    def privacy_dir(self) -> Path:
        """``{job_dir}/privacy``: one ledger per party, ``{role}-{id}.json``."""
        return self.job_dir / "privacy"

    def output_path(self, component: str, party: str | PartyId, name: str = "data") -> Path:
        """``{job_dir}/outputs/{component}/{role}-{id}/{name}.parquet`` (``name`` may be
        ``model``/``metrics`` for the JSON files)."""
        p = party if isinstance(party, PartyId) else PartyId.parse(party)
        suffix = ".json" if name in ("model", "metrics") else ".parquet"
        return self.outputs_dir / component / party_dir_name(p) / f"{name}{suffix}"

    def traffic(self, party: str) -> dict[str, int]:
        """Total bytes ``{"sent_bytes", "received_bytes"}`` of one party."""
        channels = self.parties.get(party, {}).get("traffic") or {}
        return {
            "sent_bytes": sum(int(c.get("sent_bytes", 0)) for c in channels.values()),
            "received_bytes": sum(int(c.get("received_bytes", 0)) for c in channels.values()),
        }

    def raise_for_failure(self) -> None:
        """Raise a :class:`PartyFailedError` naming the failed party and component."""
        if self.failure is None:
            return
        f = self.failure
        raise PartyFailedError(
            f"{f.error_type}: {f.message}\n{f.traceback_tail}".rstrip(), party=f.party, component=f.component
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``job.json`` holds)."""
        return {
            "job_id": self.job_id,
            "job_dir": str(self.job_dir),
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "order": self.order,
            "modules": self.modules,
            "parties": self.parties,
            "failure": None if self.failure is None else vars(self.failure),
            "model_id": self.model_id,
            "model_version": self.model_version,
            "model_job": self.model_job,
            "tls": self.tls,
            "notes": self.notes,
        }


def preflight(job: Job, data_dir: Path, parties: list[PartyId] | None = None) -> None:
    """Per-party checks that need no peer (every table a ``Reader`` names exists...), for
    ``parties`` (default: every party of the job; a multi-site server checks its own).

    Raises
    ------
    FedloomError
        The first problem, naming the party and component (its ``compute`` backend included).
    """
    for party in job.parties() if parties is None else parties:
        index = job.party_index(party)
        try:
            party_compute(job.conf.job_parameters, party.role, index)
        except ConfigError as exc:
            exc.party = str(party)
            raise
        for name in job.order:
            if not job.runs_on(name, party.role) or not job.need_run(name, party.role, index):
                continue
            cls = component_class(job.spec(name).name, party.role)
            if cls is None:
                continue
            env = Env(component=name, party=party, party_index=index, data_dir=data_dir)
            try:
                cls.preflight(job.params_for(name, party.role, index), env)
            except FedloomError as exc:
                exc.party = exc.party or str(party)
                exc.component = exc.component or name
                raise


def model_id_of(job: Job) -> str:
    """FATE's model id: ``arbiter-10000#guest-9999#host-9999_10000#model`` (roles sorted, the
    party ids of a role sorted as numbers and joined with ``_``, as FATE-Flow builds it)."""
    return fate_model_id({role: job.party_ids(role) for role in job.conf.role})


def resolve_model_job(job: Job, model_job: str | Path | None, jobs_root: Path) -> Path | None:
    """The folder of the job whose models a predict job loads, or ``None`` for a job that loads none.

    ``model_job`` (a job id under ``jobs_root``, or a job folder) wins; else
    ``job_parameters.common.model_version``.

    Raises
    ------
    ConfigError
        The job loads ``pipeline.*`` models and names no job, the job is not found, it failed, or
        its ``model_id`` differs from the conf's (unless ``model_job`` is given: it wins over the
        conf's ``model_id`` / ``model_version``, see :func:`overridden_model_conf`); or
        ``model_job`` is given to a job that loads none.
    """
    refs = job.dsl.external_refs()
    if not refs:
        if model_job not in (None, ""):
            raise ConfigError(
                f"--model-job {model_job} is given, but no component of the dsl loads a model of an "
                'earlier job (a predict dsl names them as "model": ["pipeline.<component>.model"]).',
                field="--model-job",
            )
        return None
    common = job.conf.job_parameters.common
    first = refs[0]
    name = str(model_job) if model_job not in (None, "") else str(common.get("model_version") or "")
    field = "--model-job" if model_job not in (None, "") else "job_parameters.common.model_version"
    if not name:
        raise ConfigError(
            f"input {first} loads a model of an earlier job, and no job is named: pass --model-job "
            "JOB_ID (the training job's id, printed as model_version after training) or set "
            "job_parameters.common.model_version to it.",
            component=first.consumer,
            field=first.field,
        )
    candidate = Path(name).expanduser()
    folder = candidate if candidate.is_dir() and (candidate / "outputs").is_dir() else jobs_root / name
    if not (folder / "outputs").is_dir():
        raise ConfigError(
            f"no job {name!r} with outputs under {jobs_root} (from {field}); give the id of a job run "
            "on this machine (`ls` the jobs folder), its folder, or --job-dir where it ran.",
            field=field,
        )
    folder = folder.resolve()
    summary: dict[str, Any] = {}
    with contextlib.suppress(OSError, json.JSONDecodeError):  # a folder without job.json still has outputs
        summary = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    if summary.get("ok") is False:
        raise ConfigError(
            f"job {folder.name} failed; its models are incomplete. Predict with a job that succeeded.",
            field=field,
        )
    if not summary and _unfinished(folder):
        raise ConfigError(
            f"job {folder.name} did not finish (no job.json, and {_unfinished(folder)} never reported "
            "done); its models may be incomplete. Predict with a job that succeeded.",
            field=field,
        )
    wanted_id = str(common.get("model_id") or "")
    trained_id = str(summary.get("model_id") or "")
    if model_job in (None, "") and wanted_id and trained_id and wanted_id != trained_id:
        raise ConfigError(
            f"model_id {wanted_id!r} does not match job {folder.name}, whose model id is {trained_id!r} "
            "(the parties that trained it).",
            field="job_parameters.common.model_id",
        )
    return folder


def overridden_model_conf(job: Job, model_job: str | Path | None, model_dir: Path | None) -> list[str]:
    """Notes saying which ``model_id`` / ``model_version`` written in the conf ``--model-job``
    overrode (a FATE predict conf carries FATE's own values, stale here); empty when none was."""
    if model_job in (None, "") or model_dir is None:
        return []
    common = job.conf.job_parameters.common
    summary: dict[str, Any] = {}
    with contextlib.suppress(OSError, json.JSONDecodeError):
        summary = json.loads((model_dir / "job.json").read_text(encoding="utf-8"))
    actual = {"model_id": str(summary.get("model_id") or ""), "model_version": model_dir.name}
    notes = []
    for key in ("model_id", "model_version"):
        written = str(common.get(key) or "")
        if written and written != actual[key]:
            notes.append(
                f"--model-job {model_job} overrides job_parameters.common.{key} {written!r} of the conf "
                f"(the models loaded are job {model_dir.name}'s, {key} {actual[key] or '?'!r})"
            )
    return notes


def _unfinished(folder: Path) -> str:
    """The parties of the job in ``folder`` whose status file does not say ``done`` (joined)."""
    names = []
    for path in sorted((folder / "status").glob("*.json")):
        try:
            state = json.loads(path.read_text(encoding="utf-8")).get("state")
        except (OSError, json.JSONDecodeError, AttributeError):
            state = None
        if state != "done":
            names.append(path.stem)
    return ", ".join(names)


def preflight_models(job: Job, model_dir: Path, parties: list[PartyId] | None = None) -> None:
    """Every party (of ``parties``, default all) that runs a component loading ``pipeline.*``
    models finds its own part of the model in ``model_dir``, made by the same module.

    Raises
    ------
    ConfigError
        Naming the party, the component and the missing or mismatched model.
    """
    for ref in job.dsl.external_refs():
        module = job.spec(ref.consumer).name
        for party in job.parties() if parties is None else parties:
            index = job.party_index(party)
            if not job.runs_on(ref.consumer, party.role) or not job.need_run(ref.consumer, party.role, index):
                continue
            model = load_model_artifact(model_dir, ref.component, party)
            made_by = model.get("module")
            if made_by is not None and made_by != module and ref.slot == "model":
                raise ConfigError(
                    f"input {ref} is a {made_by} model in job {model_dir.name}; {ref.consumer} is a "
                    f"{module} component and needs a {module} model.",
                    component=ref.consumer,
                    field=ref.field,
                    party=str(party),
                )


def read_status(job_dir: Path, parties: list[PartyId]) -> dict[str, dict[str, Any]]:
    """Every party's status file that exists now (a half-written one is never seen: writes are
    atomic replacements)."""
    out: dict[str, dict[str, Any]] = {}
    for party in parties:
        path = status_path(job_dir, party)
        try:
            out[str(party)] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _tail(text: str, lines: int = TRACEBACK_TAIL) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _failure(launched: LaunchResult, status: Mapping[str, dict[str, Any]]) -> JobFailure | None:
    bad = launched.first_failure()
    if bad is None:
        return None
    party = str(bad.party)
    err = (status.get(party) or {}).get("error") or {}
    component = err.get("component") or (status.get(party) or {}).get("current")
    prefix = f"[{party} / {component}] " if component else f"[{party}] "
    message = bad.message.removeprefix(prefix).removeprefix(f"[{party}] ")
    code = bad.exit_code if bad.exit_code not in (None, 0) and bad.status == "error" else 1
    if bad.status == "killed":
        code = exit_code(PartyFailedError(""))
    return JobFailure(
        party=party,
        component=component,
        error_type=bad.error_type or ("killed" if bad.status == "killed" else ""),
        message=message,
        traceback_tail=_tail(bad.traceback),
        exit_code=int(code or 1),
    )


def run_job(
    conf: str | Path | Mapping[str, Any],
    dsl: str | Path | Mapping[str, Any],
    *,
    data_dir: str | Path | None = None,
    job_dir: str | Path | None = None,
    timeout: float | None = None,
    job_id: str | None = None,
    progress: Callable[[dict[str, dict[str, Any]]], None] | None = None,
    poll: float = 0.2,
    log_level: str | None = "INFO",
    on_start: Callable[[str, Path, Job], None] | None = None,
    model_job: str | Path | None = None,
    tls: bool = True,
    cache_job: str | Path | None = None,
    resume: bool = False,
    only_parties: list[str] | None = None,
    tls_files: dict[str, dict[str, str]] | None = None,
    listen_host: str = "127.0.0.1",
    on_ready: Callable[[dict[str, str]], dict[str, str] | None] | None = None,
) -> JobResult:
    """Validate, then run every party of a job as its own process and wait for all.

    Parameters
    ----------
    conf, dsl
        Paths of the JSON files (or dicts).
    data_dir, job_dir
        The table store every party reads (default :func:`fedloom.data.default_data_dir`); the
        folder the job's own ``{job_id}/`` is made in (default :func:`default_jobs_dir`).
    timeout
        Seconds a party waits for a peer's message before failing; default the conf's
        ``job_parameters.common.timeout``, else 600.
    job_id, log_level
        The job's id (default :func:`new_job_id`); the level of the parties' log files.
    progress
        Called every ``poll`` seconds with every party's status (:func:`read_status`), and at the end.
    on_start
        Called with ``(job_id, job folder, job)`` once validation passed, before processes start.
    model_job
        The earlier job (id or folder) whose models ``pipeline.*`` inputs load; default
        ``job_parameters.common.model_version``.
    tls
        Mutual TLS with a CA made for this job (default); ``False``: plaintext, debugging only.
    cache_job
        The earlier job (id or folder) whose ``cache`` outputs ``CacheLoader`` components load
        (:mod:`fedloom.runner.caches`).
    resume
        Rerun the job ``job_id`` in its existing folder: components every party finished are not
        run again, their stored outputs are reused (:func:`fedloom.runner.resume.resume_plan`);
        the result's ``notes`` name them.
    only_parties
        Run (and check) only these parties (``"host:10000"``); the others run elsewhere and are
        reached at the addresses ``on_ready`` returns (multi-site mode,
        :mod:`fedloom.server.multisite`). Default: every party of the job.
    tls_files, listen_host, on_ready
        Passed to :func:`fedloom.runner.launcher.launch`: the parties' own certificates instead of
        a per-job CA, the address they bind, the address exchange with the other sites.

    Returns
    -------
    JobResult
        Also written to ``{job folder}/job.json``. A failed job is returned, not raised
        (:meth:`JobResult.raise_for_failure`).

    Raises
    ------
    ConfigError, DataError
        Nothing was started: the conf or dsl is invalid, loads models of a job that is missing or
        lacks a party's model, or a ``Reader`` names a table that does not exist.
    """
    root, (conf_d, dsl_d, job), parties, (data_path, model_dir) = _check_job(
        conf, dsl, job_dir, cache_job, only_parties, data_dir, model_job
    )
    timeout = float(job.conf.job_parameters.common.get("timeout") or 600) if timeout is None else timeout
    job_id, jdir, done = _prepare_job_dir(root, job_id, resume, job, (conf_d, dsl_d), on_start)
    specs = _run_specs(parties, conf_d, dsl_d, data_path, jdir, model_dir, done)
    result = _new_result(job_id, jdir, job, model_job, model_dir, tls, done)
    remote = dict(peers=job.parties(), tls_files=tls_files, listen_host=listen_host, on_ready=on_ready)
    return _run_and_record(result, specs, parties, progress, poll, timeout, log_level, remote)


def _run_and_record(
    result: JobResult,
    specs: list[PartySpec],
    parties: list[PartyId],
    progress: Callable[[dict[str, dict[str, Any]]], None] | None,
    poll: float,
    timeout: float,
    log_level: str | None,
    remote: dict[str, Any],
) -> JobResult:
    """Launch the parties while watching their status, then fill in and write ``job.json``."""
    jdir = result.job_dir
    with _watching(jdir, parties, progress, poll):
        launched = _launch(result, specs, timeout=timeout, log_level=log_level, remote=remote)
    status = _close_status(jdir, launched, read_status(jdir, parties))
    if progress is not None:
        progress(status)
    _collect(result, launched, status)
    write_json_atomic(jdir / "job.json", result.to_dict())
    return result


def _check_job(
    conf: str | Path | Mapping[str, Any],
    dsl: str | Path | Mapping[str, Any],
    job_dir: str | Path | None,
    cache_job: str | Path | None,
    only_parties: list[str] | None,
    data_dir: str | Path | None,
    model_job: str | Path | None,
) -> tuple[Path, tuple[dict[str, Any], dict[str, Any], Job], list[PartyId], tuple[Path, Path | None]]:
    """Load and validate everything before anything is written: the jobs folder, (conf, dsl, job),
    the parties run here, (the table store, the folder of the job whose models are loaded)."""
    root = Path(job_dir).expanduser() if job_dir is not None else default_jobs_dir()
    conf_d, dsl_d, job = _load(conf, dsl, root, cache_job)
    parties = _local_parties(job, only_parties)
    data_path, model_dir = _validate(job, root, data_dir, model_job, parties)
    return root, (conf_d, dsl_d, job), parties, (data_path, model_dir)


def _prepare_job_dir(
    root: Path,
    job_id: str | None,
    resume: bool,
    job: Job,
    docs: tuple[dict[str, Any], dict[str, Any]],
    on_start: Callable[[str, Path, Job], None] | None,
) -> tuple[str, Path, list[str]]:
    """The job's id, its folder (made, or checked for a rerun, with the conf and dsl written, then
    announced to ``on_start``) and the components a rerun reuses."""
    if resume and not job_id:
        raise ConfigError("resume needs the id of the job to continue.", field="job_id")
    job_id = job_id or new_job_id()
    jdir = (root / job_id).resolve()
    done: list[str] = []
    if resume:
        if not jdir.is_dir():
            raise ConfigError(f"no job folder {jdir} to resume.", field="job_id")
        done = _resume_plan(jdir, job)
        (jdir / "job.json").unlink(missing_ok=True)  # never leave the earlier outcome looking current
    else:
        jdir.mkdir(parents=True, exist_ok=False)
    for name, doc in zip(("conf", "dsl"), docs, strict=True):
        write_json_atomic(jdir / f"{name}.json", doc)
    if on_start is not None:
        on_start(job_id, jdir, job)
    return job_id, jdir, done


def _run_specs(
    parties: list[PartyId],
    conf_d: dict[str, Any],
    dsl_d: dict[str, Any],
    data_path: Path,
    jdir: Path,
    model_dir: Path | None,
    done: list[str],
) -> list[PartySpec]:
    """The parties' launch specs; in a rerun each also learns which components to read back."""
    specs = _party_specs(parties, conf_d, dsl_d, data_path, jdir, model_dir)
    if done:
        for spec in specs:
            spec.kwargs = {**spec.kwargs, "resume_done": done}
    return specs


def _new_result(
    job_id: str,
    jdir: Path,
    job: Job,
    model_job: str | Path | None,
    model_dir: Path | None,
    tls: bool,
    done: list[str],
) -> JobResult:
    """The not-yet-finished result, so its notes and model fields are set before processes start."""
    result = JobResult(job_id, jdir, ok=False, seconds=0.0, order=list(job.order),
                       modules={name: job.spec(name).name for name in job.order}, model_id=model_id_of(job),
                       model_version=job_id, model_job=None if model_dir is None else model_dir.name,
                       tls=tls, notes=overridden_model_conf(job, model_job, model_dir))  # fmt: skip
    if done:
        result.notes.append(f"rerun: reused the outputs of {', '.join(done)} (done in the earlier run)")
    return result


def _resume_plan(jdir: Path, job: Job) -> list[str]:
    """The components a rerun of ``job`` in ``jdir`` reuses (:func:`fedloom.runner.resume.resume_plan`)."""
    from fedloom.runner.resume import resume_plan

    outputs = {name: list(job.dsl.components[name].output.data) or ["data"] for name in job.order}
    return resume_plan(jdir, list(job.order), job.parties(), outputs)


def _load(
    conf: str | Path | Mapping[str, Any],
    dsl: str | Path | Mapping[str, Any],
    root: Path,
    cache_job: str | Path | None,
) -> tuple[dict[str, Any], dict[str, Any], Job]:
    """The conf and dsl as dicts and the validated job, its ``CacheLoader`` inputs resolved."""
    conf_d, dsl_d = _as_dict(conf, "conf"), _as_dict(dsl, "dsl")
    job = load_job(conf_d, dsl_d, registry())
    if cache_job not in (None, ""):
        conf_d = with_cache_job(job, conf_d, cache_job, root)
        job = load_job(conf_d, dsl_d, registry())
    preflight_caches(job, root)
    return conf_d, dsl_d, job


def _as_dict(doc: str | Path | Mapping[str, Any], what: str) -> dict[str, Any]:
    """A conf or dsl given as a path or a mapping, as a dict."""
    return dict(doc) if isinstance(doc, Mapping) else load_json(doc, what)


def _party_specs(
    parties: list[PartyId],
    conf: dict[str, Any],
    dsl: dict[str, Any],
    data_path: Path,
    jdir: Path,
    model_dir: Path | None,
) -> list[PartySpec]:
    """One process per party, each running :func:`fedloom.runner.job.run_party` on the whole job."""
    kwargs = {
        "conf": conf,
        "dsl": dsl,
        "data_dir": str(data_path),
        "job_dir": str(jdir),
        "model_job_dir": None if model_dir is None else str(model_dir),
    }
    return [PartySpec(p, "fedloom.runner.job:run_party", kwargs) for p in parties]


def _launch(
    result: JobResult,
    specs: list[PartySpec],
    *,
    timeout: float,
    log_level: str | None,
    remote: dict[str, Any] | None = None,
) -> LaunchResult:
    """Run the parties; an interrupted or failed launch still writes ``job.json`` (``ok: false``)."""
    t0 = time.monotonic()
    try:
        launched = launch(
            specs,
            job_id=result.job_id,
            timeout=timeout,
            job_dir=result.job_dir,
            log_level=log_level,
            tls=result.tls,
            **(remote or {}),
        )
    except BaseException as exc:  # interrupted (Ctrl-C) or the launcher failed: never leave it looking done
        result.seconds = time.monotonic() - t0
        result.failure = JobFailure("launcher", None, type(exc).__name__, str(exc) or "interrupted", "", 1)
        write_json_atomic(result.job_dir / "job.json", result.to_dict())
        raise
    result.seconds = time.monotonic() - t0
    return launched


def _local_parties(job: Job, only: list[str] | None) -> list[PartyId]:
    """The parties this run starts: ``only`` (checked against the job), else all of them."""
    if only is None:
        return job.parties()
    wanted = {str(PartyId.parse(p)) for p in only}
    unknown = wanted - {str(p) for p in job.parties()}
    if unknown:
        raise ConfigError(
            f"only_parties names parties not in the job: {sorted(unknown)}", field="only_parties"
        )
    return [p for p in job.parties() if str(p) in wanted]


def _validate(
    job: Job,
    root: Path,
    data_dir: str | Path | None,
    model_job: str | Path | None,
    parties: list[PartyId] | None = None,
) -> tuple[Path, Path | None]:
    """Every check that needs no process: tables, and the models a predict job loads. Returns the
    table store and the folder of the job whose models are loaded (``None`` when none are)."""
    from fedloom.data import default_data_dir

    model_dir = resolve_model_job(job, model_job, root)
    data_path = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
    preflight(job, data_path, parties)
    if model_dir is not None:
        preflight_models(job, model_dir, parties)
    return data_path, model_dir


@contextlib.contextmanager
def _watching(
    job_dir: Path,
    parties: list[PartyId],
    progress: Callable[[dict[str, dict[str, Any]]], None] | None,
    poll: float,
) -> Iterator[None]:
    """While the body runs, call ``progress`` with every party's status every ``poll`` seconds."""
    if progress is None:
        yield
        return
    callback = progress
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(poll):
            callback(read_status(job_dir, parties))

    watcher = threading.Thread(target=watch, name="job-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def _close_status(
    job_dir: Path, launched: LaunchResult, status: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Mark failed the status of every party that ended without saying so (killed, or stopped by the
    launcher), and its running component, so no status is left saying ``running``."""
    for party, outcome in launched.outcomes.items():
        st = status.get(str(party))
        if outcome.ok or st is None or st.get("state") != "running":
            continue
        current = st.get("current")
        if current and current in st.get("components", {}):
            st["components"][current].update(state="failed", error=outcome.detail)
        st["state"] = "failed"
        st["error"] = {"type": outcome.error_type or outcome.status, "message": outcome.message,
                       "component": current, "field": None}  # fmt: skip
        write_json_atomic(status_path(job_dir, party), st)
    return status


def _collect(result: JobResult, launched: LaunchResult, status: Mapping[str, dict[str, Any]]) -> None:
    """Fill ``result`` from the launcher's outcomes and the parties' last status."""
    result.ok = launched.ok
    aftermath = launched.aftermath()
    for party, outcome in launched.outcomes.items():
        key = str(party)
        body = outcome.result if isinstance(outcome.result, dict) else {}
        st = status.get(key, {})
        error = None if outcome.ok else aftermath.get(party, outcome.detail)
        result.parties[key] = {
            "status": outcome.status,
            "seconds": round(outcome.seconds, 3),
            "components": body.get("components") or st.get("components", {}),
            "traffic": body.get("traffic", {}),
            "privacy": body.get("privacy", ""),
            "error": error,
        }
    result.failure = _failure(launched, status)
