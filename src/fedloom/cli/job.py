"""``fedloom job submit|query|list|stop|rerun|log|view|config|dsl``: FATE-Flow's ``flow job`` verbs.

Each verb is one request to the configured server (``fedloom init``) through
:class:`~fedloom.server.client.FlowClient`, with FATE's short flags (``-c`` conf, ``-d`` dsl,
``-j`` job id, ``-r`` role, ``-p`` party id, ``-o`` output folder). ``--json`` prints the server's
``{"retcode", "retmsg", "jobId"?, "data"}``; otherwise tables.

Two verbs gather more than one answer:

- ``job log`` fetches every party's log in one request and writes them to one folder
  (``-o DIR`` -> ``DIR/job_<id>_log/<role>-<party_id>.log``) or prints them one after another;
- ``job view`` shows the metrics of every component of one party (default: the initiator), one
  ``tracking metrics`` request per component that finished.

``job dsl`` derives a predict DSL from a trained job on the server (``-j``), or from a training
DSL file with no server at all (``--train-dsl-path``, FATE's form).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.rule import Rule
from rich.table import Table

from fedloom.cli.flow import (
    JSON_HELP,
    call,
    connect,
    console,
    emit,
    fail,
    fmt_seconds,
    fmt_time,
    fmt_value,
    key_value_table,
    optional_call,
    write_json,
)

app = typer.Typer(help="Jobs on the fedloom server (FATE's `flow job`).", no_args_is_help=True)

_JOB_ID = typer.Option(..., "--job-id", "-j", help="Job id.")
_STATUS_STYLE = {"success": "green", "failed": "red", "canceled": "magenta", "running": "yellow"}


@app.callback()
def main() -> None:
    """Jobs on the fedloom server (FATE's `flow job`)."""


def _status(value: Any) -> str:
    text = str(value or "-")
    style = _STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


def _elapsed(row: dict[str, Any]) -> str:
    """FATE reports ``elapsed`` in milliseconds; fall back to end - start."""
    elapsed = row.get("elapsed")
    if isinstance(elapsed, int | float) and not isinstance(elapsed, bool):
        return fmt_seconds(elapsed / 1000)
    start, end = row.get("start_time"), row.get("end_time")
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        scale = 1000 if max(start, end) > 1e11 else 1
        return fmt_seconds((end - start) / scale)
    return "-"


def _parties(roles: Any) -> str:
    if not isinstance(roles, dict):
        return fmt_value(roles)
    return ", ".join(f"{role}:{','.join(str(p) for p in ids)}" for role, ids in roles.items())


def _initiator(job: dict[str, Any]) -> tuple[str, str] | None:
    init = job.get("initiator")
    if isinstance(init, dict) and init.get("role") and init.get("party_id") is not None:
        return str(init["role"]), str(init["party_id"])
    if isinstance(init, str) and ":" in init:
        role, party = init.split(":", 1)
        return role, party
    conf_init = (job.get("conf") or {}).get("initiator") or {}
    if conf_init.get("role") and conf_init.get("party_id") is not None:
        return str(conf_init["role"]), str(conf_init["party_id"])
    return None


def _fmt_initiator(job: dict[str, Any]) -> str:
    init = _initiator(job)
    return f"{init[0]}:{init[1]}" if init else "-"


def _one_job(data: Any, job_id: str) -> dict[str, Any]:
    jobs = data if isinstance(data, list) else [data]
    if not jobs or not isinstance(jobs[0], dict):
        fail(f"the server returned no job {job_id}.")
    return jobs[0]


def _print_error(error: Any) -> None:
    if not error:
        return
    out = console()
    if isinstance(error, dict):
        where = " / ".join(str(error[k]) for k in ("party", "component") if error.get(k))
        message = error.get("message") or error.get("error") or error.get("reason")
        out.print(f"[bold red]failed[/] {escape(where)}: {escape(str(message or error))}")
        tail = error.get("traceback") or error.get("traceback_tail")
        if tail:
            out.print(escape(str(tail).rstrip()), style="dim")
    else:
        out.print(f"[bold red]failed:[/] {escape(str(error))}")


def _render_job(job: dict[str, Any], role: str | None, party_id: str | None, status: str | None) -> None:
    out = console()
    out.print(f"[bold]job {escape(str(job.get('job_id', '-')))}[/]  {_status(job.get('status'))}")
    progress = job.get("progress")
    for key, value in (
        ("progress", f"{progress}%" if isinstance(progress, int | float) else progress),
        ("initiator", _fmt_initiator(job)),
        ("parties", _parties(job.get("roles") or (job.get("conf") or {}).get("role"))),
        ("started", fmt_time(job.get("start_time"))),
        ("ended", fmt_time(job.get("end_time"))),
        ("elapsed", _elapsed(job)),
    ):
        out.print(f"  {key:<10} {escape(fmt_value(value))}")
    _print_error(job.get("error"))
    tasks = [
        t
        for t in job.get("tasks") or []
        if (role is None or t.get("role") == role)
        and (party_id is None or str(t.get("party_id")) == party_id)
        and (status is None or t.get("status") == status)
    ]
    if not tasks:
        return
    table = Table(title="tasks", title_justify="left")
    for header in ("component", "party", "status", "started", "elapsed", "error"):
        table.add_column(header, overflow="fold")
    for t in tasks:
        error = t.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error
        table.add_row(
            escape(str(t.get("component", "-"))),
            escape(f"{t.get('role', '-')}:{t.get('party_id', '-')}"),
            _status(t.get("status")),
            fmt_time(t.get("start_time")),
            _elapsed(t),
            escape(fmt_value(error, 80)),
        )
    out.print(table)


def _load(path: Path, what: str) -> dict[str, Any]:
    from fedloom.dsl import load_json

    return load_json(path, what)


@app.command("submit")
def submit_cmd(
    conf_path: Path = typer.Option(..., "--conf-path", "-c", help="Job runtime conf (JSON)."),
    dsl_path: Path = typer.Option(..., "--dsl-path", "-d", help="Job DSL (JSON)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Submit a job; prints its id and its model id / version."""
    conf, dsl = _load(conf_path, "job conf"), _load(dsl_path, "job dsl")
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_submit", conf, dsl, as_json=as_json)

    def render(data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        job_id = data.get("job_id") or resp.get("jobId")
        info = data.get("model_info") or {}
        out = console()
        out.print(f"submitted job [bold]{escape(str(job_id))}[/]")
        for key, value in (
            ("model_id", info.get("model_id")),
            ("model_version", info.get("model_version")),
            ("job dir", data.get("job_dir")),
        ):
            out.print(f"  {key:<14} {escape(fmt_value(value, 200))}")
        out.print(f"follow it with `fedloom job query -j {job_id}`", style="dim")

    emit(resp, as_json, render)


@app.command("query")
def query_cmd(
    job_id: str = _JOB_ID,
    role: str | None = typer.Option(None, "--role", "-r", help="Only this role's tasks."),
    party_id: str | None = typer.Option(None, "--party-id", "-p", help="Only this party's tasks."),
    status: str | None = typer.Option(None, "--status", "-s", help="Only tasks in this state."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A job's state, progress and tasks (component x party), failures first."""
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_query", job_id, as_json=as_json)
    emit(resp, as_json, lambda data: _render_job(_one_job(data, job_id), role, party_id, status))


@app.command("list")
def list_cmd(
    limit: int = typer.Option(10, "--limit", "-l", help="How many jobs, newest first."),
    status: str | None = typer.Option(None, "--status", "-s", help="Only jobs in this state."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The newest jobs."""
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_list", limit=limit, status=status, as_json=as_json)

    def render(data: Any) -> None:
        jobs = data.get("jobs", []) if isinstance(data, dict) else data or []
        table = Table(title=f"jobs on {conn.url}", title_justify="left")
        for header in ("job id", "status", "progress", "initiator", "parties", "started", "elapsed"):
            table.add_column(header, no_wrap=header in ("job id", "started"))
        for job in jobs:
            progress = job.get("progress")
            table.add_row(
                escape(str(job.get("job_id", "-"))),
                _status(job.get("status")),
                f"{progress}%" if isinstance(progress, int | float) else "-",
                escape(_fmt_initiator(job)),
                escape(_parties(job.get("roles"))),
                fmt_time(job.get("start_time") or job.get("create_time")),
                _elapsed(job),
            )
        console().print(table)

    emit(resp, as_json, render)


@app.command("stop")
def stop_cmd(job_id: str = _JOB_ID, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Stop a waiting or running job (its processes are killed; state canceled)."""
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_stop", job_id, as_json=as_json)
    emit(resp, as_json, lambda _: console().print(f"stopped job {escape(job_id)}"))


@app.command("rerun")
def rerun_cmd(job_id: str = _JOB_ID, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Run a failed or canceled job again from its first unfinished component (same job id)."""
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_rerun", job_id, as_json=as_json)
    emit(resp, as_json, lambda _: console().print(f"rerunning job {escape(job_id)}"))


@app.command("log")
def log_cmd(
    job_id: str = _JOB_ID,
    output_path: Path | None = typer.Option(
        None, "--output-path", "-o", help="Write DIR/job_<id>_log/<role>-<party_id>.log instead of printing."
    ),
    tail: int | None = typer.Option(None, "--tail", help="Print only the last N lines of each log."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every party's log of a job, in one folder or one after another on the terminal."""
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_log", job_id, as_json=as_json and output_path is None)
    logs = resp.get("data") or {}
    if not isinstance(logs, dict):
        fail(f"the server returned no logs for job {job_id}.")
    if output_path is not None:
        folder = output_path.expanduser() / f"job_{job_id}_log"
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for party, text in sorted(logs.items()):
            name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(party))
            path = folder / f"{name}.log"
            path.write_text(str(text))
            written.append(path)
        if as_json:
            typer.echo(json.dumps({**resp, "data": {"directory": str(folder)}}, indent=4))
        else:
            console().print(
                f"wrote {len(written)} party logs of job {escape(job_id)} to {escape(str(folder))}"
            )
            for path in written:
                console().print(f"  {escape(path.name)}", style="dim")
        return
    if as_json:
        emit(resp, True, lambda _: None)
        return
    out = console()
    for party, text in sorted(logs.items()):
        out.print(Rule(f"{party}", align="left"))
        lines = str(text).splitlines()
        if tail is not None:
            lines = lines[-tail:]
        # plain echo: log lines hold brackets that rich would read as markup
        typer.echo("\n".join(lines))


@app.command("view")
def view_cmd(
    job_id: str = _JOB_ID,
    role: str | None = typer.Option(None, "--role", "-r", help="Role (default: the initiator's)."),
    party_id: str | None = typer.Option(
        None, "--party-id", "-p", help="Party id (default: the initiator's)."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The metrics of every finished component of one party of a job."""
    conn = connect()
    assert conn is not None
    job = _one_job(call(conn, "job_query", job_id, as_json=as_json).get("data"), job_id)
    if role is None or party_id is None:
        init = _initiator(job)
        if init is None:
            fail(f"job {job_id} names no initiator: pass --role and --party-id.", code=2)
        role, party_id = role or init[0], party_id or init[1]
    components: list[str] = []
    for task in job.get("tasks") or []:
        if task.get("role") == role and str(task.get("party_id")) == party_id:
            name = str(task.get("component"))
            if name not in components and task.get("status") not in ("waiting", "running", None):
                components.append(name)
    metrics: dict[str, Any] = {}
    for name in components:
        got = optional_call(conn, "tracking_metrics", job_id, role, party_id, name)
        if got and got.get("data"):
            metrics[name] = got["data"]
    resp = {
        "retcode": 0,
        "retmsg": "success",
        "data": {"job_id": job_id, "role": role, "party_id": party_id, "metrics": metrics},
    }

    def render(_: Any) -> None:
        out = console()
        out.print(f"[bold]job {escape(job_id)}[/] {_status(job.get('status'))}  {role}:{party_id}")
        if not metrics:
            out.print("no metrics yet")
        for name, data in metrics.items():
            out.print(key_value_table(data, title=f"{name}"))

    emit(resp, as_json, render)


@app.command("config")
def config_cmd(
    job_id: str = _JOB_ID,
    role: str | None = typer.Option(
        None, "--role", "-r", help="Accepted for FATE; every party has one conf."
    ),
    party_id: str | None = typer.Option(None, "--party-id", "-p", help="Accepted for FATE."),
    output_path: Path | None = typer.Option(
        None,
        "--output-path",
        "-o",
        help="Write DIR/job_<id>_config/{job_runtime_conf,job_dsl,model_info}.json.",
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A job's runtime conf, DSL and model info, as submitted."""
    del role, party_id  # one conf per job here: FATE's per-party filter has nothing to select
    conn = connect()
    assert conn is not None
    resp = call(conn, "job_config", job_id, as_json=as_json)
    data = resp.get("data") or {}
    if output_path is not None:
        folder = output_path.expanduser() / f"job_{job_id}_config"
        for key, name in (("conf", "job_runtime_conf"), ("dsl", "job_dsl"), ("model_info", "model_info")):
            write_json(folder / f"{name}.json", data.get(key) or {})
        if as_json:
            typer.echo(json.dumps({**resp, "data": {"directory": str(folder)}}, indent=4))
        else:
            console().print(
                f"wrote the conf, dsl and model info of job {escape(job_id)} to {escape(str(folder))}"
            )
        return

    def render(data: Any) -> None:
        out = console()
        data = data or {}
        out.print(key_value_table(data.get("model_info") or {}, title="model info"))
        for key, title in (("conf", "job runtime conf"), ("dsl", "job dsl")):
            out.print(Rule(title, align="left"))
            typer.echo(json.dumps(data.get(key), indent=4, ensure_ascii=False))

    emit(resp, as_json, render)


def _cpn_list(cpn_list: str | None, cpn_path: Path | None) -> list[str] | None:
    """FATE accepts ``a,b``, ``[a, b]`` or a file (one name per line, or a JSON list)."""
    text = cpn_path.read_text() if cpn_path is not None else cpn_list
    if text is None:
        return None
    text = text.strip()
    if text.startswith("["):
        try:
            names = json.loads(text)
        except ValueError:
            names = text.strip("[]").split(",")
    else:
        names = text.replace("\n", ",").split(",")
    out = [str(n).strip().strip("'\"") for n in names]
    return [n for n in out if n] or None


@app.command("dsl")
def dsl_cmd(
    job_id: str | None = typer.Option(None, "--job-id", "-j", help="A trained job on the server."),
    train_dsl_path: Path | None = typer.Option(
        None, "--train-dsl-path", help="A training DSL file instead (no server needed)."
    ),
    cpn_list: str | None = typer.Option(None, "--cpn-list", help="Components to deploy: a,b or [a, b]."),
    cpn_path: Path | None = typer.Option(None, "--cpn-path", help="File listing the components to deploy."),
    output_path: Path | None = typer.Option(None, "--output-path", "-o", help="Write the predict DSL here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The predict DSL of a trained job (FATE's deploy rule: models loaded, evaluation left out)."""
    if (job_id is None) == (train_dsl_path is None):
        fail("pass exactly one of --job-id (a job on the server) or --train-dsl-path (a DSL file).", code=2)
    names = _cpn_list(cpn_list, cpn_path)
    if train_dsl_path is not None:
        from fedloom.dsl.predict import derive_predict_dsl

        resp: dict[str, Any] = {
            "retcode": 0,
            "retmsg": "success",
            "data": derive_predict_dsl(_load(train_dsl_path, "train dsl"), names),
        }
    else:
        conn = connect()
        assert conn is not None
        resp = call(conn, "job_dsl", job_id, cpn_list=names, as_json=as_json)
    dsl = resp.get("data")
    if output_path is not None:
        write_json(output_path.expanduser(), dsl)
        if not as_json:
            console().print(f"wrote the predict dsl to {escape(str(output_path))}")
            return
    emit(resp, as_json, lambda data: typer.echo(json.dumps(data, indent=4, ensure_ascii=False)))
