"""One party's part of a job: its components in DAG order, their artifacts and its status.

:func:`run_party` is what every party process runs (the launcher calls it with this party's
context). It validates the job again (each party trusts only itself), then for each component in
run order:

- skips it when the module does not run on this party's role, or when the conf sets
  ``need_run: false`` for this party (then, as in FATE, its first data input is passed through);
- feeds it the outputs of its upstream components (kept in memory, per party);
- runs it in its own namespace (``ctx.sub(component)``) so no two components share an address;
- saves its outputs::

    {job_dir}/outputs/{component}/{role}-{party_id}/{name}.parquet   data, id column first
                                                    model.json       the model (JSON)
                                                    weights.safetensors ...  its binary parts, if any
                                                    metrics.json     metrics

- and keeps ``{job_dir}/status/{role}-{party_id}.json`` current (replaced atomically), which is
  what ``fedloom run`` polls to show progress.

A component's files are each written through a temporary file and a rename, ``metrics.json``
last; the component counts as complete only once the status file says ``done`` (written after
its files), and the job only once ``job.json`` says ``ok``.

At the end, failed or not, the party writes its privacy ledger — per channel received: sender,
declared disclosure, messages, elements, bytes (:class:`fedloom.context.privacy.PrivacyLedger`) —
to ``{job_dir}/privacy/{role}-{party_id}.json``, and drops whatever of the job's messages it
never read from its transport.

A predict job names models of an earlier job as ``pipeline.<component>.<model>`` inputs (FATE's
deployed models); with ``model_job_dir`` set, each party loads its own part of that model from
``{model_job_dir}/outputs/<component>/{role}-{party_id}/model.json`` (:func:`model_artifact_path`).

Any exception leaves as a :class:`~fedloom.core.FedloomError` naming this party and the component.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fedloom.components import Component, Env, Inputs, Outputs, component_class, registry
from fedloom.components.base import (
    data_rows,
    data_to_pandas,
    join_model_files,
    read_json,
    split_model_files,
)
from fedloom.compute.select import configure_process, party_compute
from fedloom.context import Context
from fedloom.core.errors import ConfigError, FedloomError
from fedloom.core.roles import PartyId
from fedloom.dsl import Job, load_job
from fedloom.dsl.registry import DATA_INPUTS
from fedloom.runner.resume import write_resume_sidecar

__all__ = [
    "StatusFile",
    "cache_artifact_path",
    "load_model_artifact",
    "model_artifact_path",
    "party_dir_name",
    "privacy_path",
    "run_party",
    "save_outputs",
    "status_path",
    "write_json_atomic",
]

log = logging.getLogger(__name__)


def party_dir_name(party: PartyId) -> str:
    """``guest-9999``: the folder and file name of a party under the job directory."""
    return f"{party.role.value}-{party.id}"


def status_path(job_dir: Path, party: PartyId) -> Path:
    """Where ``party`` writes its status."""
    return job_dir / "status" / f"{party_dir_name(party)}.json"


def privacy_path(job_dir: Path, party: PartyId) -> Path:
    """Where ``party`` writes its privacy ledger: ``{job_dir}/privacy/{role}-{id}.json``."""
    return job_dir / "privacy" / f"{party_dir_name(party)}.json"


def model_artifact_path(job_dir: Path, component: str, party: PartyId) -> Path:
    """``{job_dir}/outputs/{component}/{role}-{id}/model.json``: ``party``'s model of a component."""
    return job_dir / "outputs" / component / party_dir_name(party) / "model.json"


def cache_artifact_path(job_dir: Path, component: str, party: PartyId, cache_name: str = "cache") -> Path:
    """``{job_dir}/outputs/{component}/{role}-{id}/{cache_name}.json``: ``party``'s cache output."""
    return job_dir / "outputs" / component / party_dir_name(party) / f"{cache_name}.json"


def load_model_artifact(job_dir: Path, component: str, party: PartyId) -> dict[str, Any]:
    """``party``'s stored model of ``component`` in the job folder ``job_dir``.

    Raises
    ------
    ConfigError
        The job has no such model (the component did not run there, or produced no model), or the
        file is not a JSON object.
    """
    path = model_artifact_path(job_dir, component, party)
    model = read_json(
        path,
        missing=f"job {job_dir.name} holds no model of {component} for {party} ({path} does not exist): "
        f"did {component} run on {party} in that job?",
        unreadable=f"cannot read the model of {component} for {party} in job {job_dir.name} ({path})",
        field=f"pipeline.{component}.model",
        party=party,
    )
    if not isinstance(model, dict):
        raise ConfigError(
            f"{path} does not hold a model (a JSON object).", field=f"pipeline.{component}.model"
        )
    return join_model_files(model, path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    write_bytes_atomic(path, json.dumps(data, indent=1, default=str).encode("utf-8"))


class StatusFile:
    """A party's status, written to disk (atomically) on every change.

    The file holds::

        {"party": "guest:9999", "pid": 4242, "state": "running|done|failed", "started": <unix time>,
         "seconds": ..., "current": "intersect_0",
         "components": {"reader_0": {"state": "waiting|running|done|skipped|failed",
                                     "seconds", "rows", "progress", "note", "metrics",
                                     "sent_bytes", "received_bytes"}},
         "error": {"type", "message", "component", "field"} | null}
    """

    def __init__(self, path: Path | None, party: PartyId, components: list[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {
            "party": str(party),
            "pid": os.getpid(),
            "state": "running",
            "started": time.time(),
            "seconds": 0.0,
            "current": None,
            "components": {c: {"state": "waiting"} for c in components},
            "error": None,
        }
        self._last_write = 0.0
        self.flush()

    def flush(self) -> None:
        """Write the file now."""
        if self.path is None:
            return
        with self._lock:
            self.data["seconds"] = round(time.time() - self.data["started"], 3)
            write_json_atomic(self.path, self.data)
            self._last_write = time.monotonic()

    def component(self, name: str, **fields: Any) -> None:
        """Update one component's entry and write."""
        with self._lock:
            self.data["components"][name].update(fields)
            if fields.get("state") == "running":
                self.data["current"] = name
        self.flush()

    def progress(self, name: str, fraction: float, note: str) -> None:
        """Record a component's progress; written at once when the note changes or the work is
        complete, else at most every 0.2 s."""
        with self._lock:
            entry = self.data["components"][name]
            changed = entry.get("note") != note
            entry.update(progress=round(fraction, 4), note=note)
        if changed or fraction >= 1.0 or time.monotonic() - self._last_write > 0.2:
            self.flush()

    def finish(self, state: str, error: dict[str, Any] | None = None) -> None:
        """Mark the party done or failed and write."""
        with self._lock:
            self.data["state"] = state
            self.data["error"] = error
            self.data["current"] = None
        self.flush()


def save_outputs(
    out_dir: Path, names: list[str], outputs: Outputs, cache_names: list[str] | None = None
) -> dict[str, str]:
    """Write a component's outputs under ``out_dir``; returns ``{what: path}``.

    Data go to ``{name}.parquet`` (the DSL's output name, usually ``data``), written with pyarrow,
    the id column first; the model to ``model.json``; a cache to ``{cache name}.json`` (default
    ``cache.json``; :func:`cache_artifact_path`); metrics to ``metrics.json``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for name, data in zip(names, outputs.data, strict=False):
        path = out_dir / f"{name}.parquet"
        df = data_to_pandas(data)
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        os.replace(tmp, path)
        written[name] = str(path)
        write_resume_sidecar(out_dir, name, data)  # what a rerun reads back (runner.resume)
    if outputs.model is not None:
        model, files = split_model_files(outputs.model)
        for file_name, content in files.items():  # first: model.json never names a missing file
            write_bytes_atomic(out_dir / file_name, content)
        write_json_atomic(out_dir / "model.json", model)
        written["model"] = str(out_dir / "model.json")
    if outputs.cache is not None:
        for cache_name in cache_names or ["cache"]:
            write_json_atomic(out_dir / f"{cache_name}.json", outputs.cache)
            written[f"cache:{cache_name}"] = str(out_dir / f"{cache_name}.json")
    write_json_atomic(out_dir / "metrics.json", outputs.metrics)
    written["metrics"] = str(out_dir / "metrics.json")
    return written


def _with_context(exc: BaseException, party: PartyId, component: str) -> FedloomError:
    """``exc`` as a FedloomError naming ``party`` and ``component`` (set only where unset)."""
    if isinstance(exc, FedloomError):
        exc.party = exc.party or str(party)
        exc.component = exc.component or component
        return exc
    err = FedloomError(f"{type(exc).__name__}: {exc}", party=str(party), component=component)
    err.__cause__ = exc
    return err


class _Produced:
    """What this party's components produced so far: ``(component, kind, name) -> value``."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], Any] = {}
        self.ran: set[str] = set()


def _inputs(
    job: Job, name: str, produced: _Produced, party: PartyId | None = None, model_job_dir: Path | None = None
) -> Inputs:
    """Collect ``name``'s inputs from what upstream components produced on this party, and
    ``party``'s part of the models of an earlier job that ``pipeline.*`` inputs name (loaded from
    ``model_job_dir``; without ``party``, those are left out)."""
    inputs = Inputs()
    for ref in job.dsl.refs[name]:
        if ref.external:
            if party is None:
                continue
            if model_job_dir is None:
                raise ConfigError(
                    f"input {ref} loads a model of an earlier job, and no job was named: run with "
                    "--model-job JOB_ID (or set job_parameters.common.model_version to the training "
                    "job's id).",
                    component=name,
                    field=ref.field,
                )
            model = load_model_artifact(model_job_dir, ref.component, party)
            (inputs.models if ref.slot == "model" else inputs.isometric_models).append(model)
            continue
        key = (ref.component, ref.kind, ref.name)
        if key not in produced.values:
            # An upstream component that does not run on this role (the arbiter's Reader) or that
            # gave nothing here (a host's intersection without sync_intersect_ids) leaves a gap;
            # the component decides whether it needs that input.
            why = (
                f"{ref.component} produced no {ref.kind} output {ref.name!r} on this party"
                if ref.component in produced.ran
                else f"{ref.component} does not run on this party"
            )
            inputs.missing.setdefault(ref.slot, []).append(why)
            continue
        value = produced.values[key]
        if ref.slot in DATA_INPUTS:
            inputs.data.setdefault(ref.slot, []).append(value)
            inputs.sources.setdefault(ref.slot, []).append(str(ref))
        elif ref.slot == "model":
            inputs.models.append(value)
        elif ref.slot == "isometric_model":
            inputs.isometric_models.append(value)
        elif ref.slot == "cache":
            inputs.caches.append(value)
    return inputs


def run_party(
    ctx: Context,
    conf: Mapping[str, Any] | str,
    dsl: Mapping[str, Any] | str,
    data_dir: str | None = None,
    job_dir: str | None = None,
    model_job_dir: str | None = None,
    resume_done: list[str] | None = None,
) -> dict[str, Any]:
    """Run this party's part of a job (the launcher's party target).

    Parameters
    ----------
    ctx
        This party's context (job id, peers, transport).
    conf, dsl
        The job's conf and dsl (dicts, or paths of JSON files).
    data_dir
        This party's table store (default :func:`fedloom.data.default_data_dir`).
    job_dir
        The job's folder for outputs and status (nothing is written without one).
    model_job_dir
        The folder of the earlier job whose models ``pipeline.*`` inputs load (predict jobs).
    resume_done
        A rerun in the same ``job_dir``: components done in the earlier run (by every party,
        :func:`fedloom.runner.resume.resume_plan`) whose outputs are read back instead of run.

    Returns
    -------
    dict
        ``{"party", "components": {name: {"state", "seconds", "rows", "metrics", "sent_bytes",
        "received_bytes", "outputs"}}, "traffic": {channel: counts}, "privacy": <one line>}``
        (JSON); ``privacy`` is :meth:`PrivacyLedger.summary`, the ledger itself goes to
        ``{job_dir}/privacy/{role}-{id}.json``.

    Raises
    ------
    FedloomError
        Whatever failed, with ``party`` and ``component`` set.
    """
    from fedloom.data import default_data_dir

    party = ctx.party
    job = load_job(conf, dsl, registry())
    index = job.party_index(party)
    # This party's compute backend (job_parameters ... compute; fedloom.compute.select).
    configure_process(party_compute(job.conf.job_parameters, party.role, index))
    data_path = Path(data_dir) if data_dir else default_data_dir()
    jdir = Path(job_dir) if job_dir else None
    mdir = Path(model_job_dir) if model_job_dir else None
    earlier = _earlier_status(jdir, party) if resume_done else {}
    status = StatusFile(status_path(jdir, party) if jdir else None, party, job.order)
    produced = _Produced()
    summary: dict[str, Any] = {}
    current = ""
    log.info("job %s: %s runs %d component(s)", ctx.job_id, party, len(job.order))
    try:
        for name in job.order:
            current = name
            if jdir is not None and _reusable(name, resume_done, earlier):
                summary[name] = _reload_component(job, name, party, jdir, status, produced, earlier[name])
                continue
            summary[name] = _run_component(ctx, job, name, index, data_path, jdir, status, produced, mdir)
    except BaseException as exc:
        err = _record_failure(status, exc, party, current)
        if err is exc:
            raise
        raise err from exc
    finally:
        _end_of_job(ctx, jdir)
    status.finish("done")
    return {
        "party": str(party),
        "components": summary,
        "traffic": ctx.stats.as_dict(),
        "privacy": ctx.privacy.summary(),
    }


def _reusable(name: str, resume_done: list[str] | None, earlier: dict[str, dict[str, Any]]) -> bool:
    """Whether a rerun reads ``name``'s outputs back: done by every party before, and here too."""
    return name in (resume_done or ()) and earlier.get(name, {}).get("state") == "done"


def _record_failure(status: StatusFile, exc: BaseException, party: PartyId, current: str) -> FedloomError:
    """Mark the failed component and the party in the status file; the error to raise, with context."""
    err = _with_context(exc, party, current)
    if current:
        status.component(current, state="failed", error=str(err))
    status.finish(
        "failed",
        {
            "type": type(exc).__name__,
            "message": str(err),
            "component": err.component,
            "field": err.field,
            "traceback": traceback.format_exc()[-4000:],
        },
    )
    return err


def _earlier_status(job_dir: Path | None, party: PartyId) -> dict[str, dict[str, Any]]:
    """The component entries of ``party``'s status file from the earlier run (empty if none)."""
    if job_dir is None:
        return {}
    try:
        data = json.loads(status_path(job_dir, party).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    comps = data.get("components") if isinstance(data, dict) else None
    return comps if isinstance(comps, dict) else {}


def _reload_component(
    job: Job,
    name: str,
    party: PartyId,
    job_dir: Path,
    status: StatusFile,
    produced: _Produced,
    entry: dict[str, Any],
) -> dict[str, Any]:
    """A component done in the earlier run: its stored outputs become this run's (a rerun)."""
    from fedloom.runner.resume import load_data_output

    comp_def = job.dsl.components[name]
    out_dir = job_dir / "outputs" / name / party_dir_name(party)
    for out_name in comp_def.output.data or ["data"]:
        if (out_dir / f"{out_name}.parquet").exists():
            produced.values[(name, "data", out_name)] = load_data_output(out_dir, out_name)
    if (out_dir / "model.json").exists():
        model = load_model_artifact(job_dir, name, party)
        for out_name in comp_def.output.model or ["model"]:
            produced.values[(name, "model", out_name)] = model
    for out_name in comp_def.output.cache or ["cache"]:
        if (out_dir / f"{out_name}.json").exists():
            produced.values[(name, "cache", out_name)] = json.loads(
                (out_dir / f"{out_name}.json").read_text()
            )
    produced.ran.add(name)
    kept = {**entry, "note": "done in an earlier run (rerun)"}
    status.component(name, **kept)
    log.info("%s: %s was done in an earlier run; its outputs are reused", party, name)
    return kept


def _end_of_job(ctx: Context, job_dir: Path | None) -> None:
    """Write this party's privacy ledger and drop the job's unread messages (failed or not)."""
    if job_dir is not None:
        path = privacy_path(job_dir, ctx.party)
        try:
            ctx.privacy.write(path)
        except OSError as exc:  # never hide the job's own outcome behind a full disk
            log.warning("%s: cannot write the privacy ledger %s: %s", ctx.party, path, exc)
    ctx.transport.drop_unread(f"{ctx.job_id}/")  # "j1/", not "j10/...": a prefix of addresses


def _run_component(
    ctx: Context,
    job: Job,
    name: str,
    index: int,
    data_dir: Path,
    job_dir: Path | None,
    status: StatusFile,
    produced: _Produced,
    model_job_dir: Path | None = None,
) -> dict[str, Any]:
    party = ctx.party
    spec = job.spec(name)
    comp_def = job.dsl.components[name]
    if not job.runs_on(name, party.role):
        note = f"{spec.name} does not run on {party.role.value}"
        status.component(name, state="skipped", note=note)
        return {"state": "skipped", "note": note}
    if not job.need_run(name, party.role, index):
        inputs = _inputs(job, name, produced)  # no party: a component switched off loads no model
        passed = next((d for items in inputs.data.values() for d in items), None)
        if passed is not None and comp_def.output.data:
            produced.values[(name, "data", comp_def.output.data[0])] = passed
        produced.ran.add(name)
        note = "need_run is false: input passed through"
        status.component(name, state="skipped", note=note)
        return {"state": "skipped", "note": note}
    cls: type[Component] | None = component_class(spec.name, party.role)
    if cls is None:
        raise FedloomError(f"module {spec.name} has no class for role {party.role.value}.", component=name)
    params = job.params_for(name, party.role, index)
    inputs = _inputs(job, name, produced, party, model_job_dir)
    env = Env(
        component=name,
        party=party,
        party_index=index,
        data_dir=data_dir,
        job_dir=job_dir,
        report=lambda fraction, note: status.progress(name, fraction, note),
    )
    sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
    status.component(name, state="running", started=time.time(), progress=0.0)
    log.info("%s: running %s (%s)", party, name, spec.name)
    t0 = time.perf_counter()
    outputs = cls(params, env).run(ctx.sub(name), inputs)
    seconds = time.perf_counter() - t0
    produced.ran.add(name)
    for out_name, data in zip(comp_def.output.data, outputs.data, strict=False):
        produced.values[(name, "data", out_name)] = data
    if outputs.model is not None:
        for out_name in comp_def.output.model or ["model"]:
            produced.values[(name, "model", out_name)] = outputs.model
    if outputs.cache is not None:
        for out_name in comp_def.output.cache or ["cache"]:
            produced.values[(name, "cache", out_name)] = outputs.cache
    files: dict[str, str] = {}
    if job_dir is not None:
        out_dir = job_dir / "outputs" / name / party_dir_name(party)
        names = list(comp_def.output.data) or ["data"]
        files = save_outputs(out_dir, names, outputs, list(comp_def.output.cache) or ["cache"])
    rows = data_rows(outputs.data[0]) if outputs.data else None
    entry = {
        "state": "done",
        "seconds": round(seconds, 3),
        "rows": rows,
        "metrics": outputs.metrics,
        "sent_bytes": ctx.stats.total_sent - sent0,
        "received_bytes": ctx.stats.total_received - recv0,
        "outputs": files,
    }
    status.component(name, progress=1.0, **entry)
    log.info("%s: %s done in %.2f s (%s rows)", party, name, seconds, rows)
    return entry
