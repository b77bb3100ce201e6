"""``fedloom tracking metrics|output-data|output-model|summary``: one component of one party of a job.

FATE-Flow's ``flow component ...`` (also reachable here as ``fedloom component ...``), with its
flags: ``-j`` job id, ``-r`` role, ``-p`` party id, ``-cpn`` component name. Role and party id
default to the job's initiator. ``output-data -o DIR`` writes the rows as CSV
(``DIR/job_<id>_<cpn>_<role>_<party>_output_data/data.csv`` with ``meta.json``); ``output-model``
and ``summary`` with ``-o FILE`` write the JSON.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from fedloom.cli.flow import (
    JSON_HELP,
    Connection,
    call,
    connect,
    console,
    emit,
    fail,
    fmt_value,
    key_value_table,
    write_json,
)

app = typer.Typer(
    help="One component's metrics, output data, model and summary (FATE's `flow component`).",
    no_args_is_help=True,
)

_JOB_ID = typer.Option(..., "--job-id", "-j", help="Job id.")
_ROLE = typer.Option(None, "--role", "-r", help="Role (default: the job's initiator's).")
_PARTY = typer.Option(None, "--party-id", "-p", help="Party id (default: the job's initiator's).")
_CPN = typer.Option(..., "--component-name", "-cpn", help="Component name, e.g. hetero_lr_0.")


@app.callback()
def main() -> None:
    """One component's metrics, output data, model and summary (FATE's `flow component`)."""


def _party(conn: Connection, job_id: str, role: str | None, party_id: str | None) -> tuple[str, str]:
    """``(role, party_id)``, the job's initiator filling in what is not given."""
    if role is not None and party_id is not None:
        return role, party_id
    from fedloom.cli.job import _initiator, _one_job

    init = _initiator(_one_job(call(conn, "job_query", job_id).get("data"), job_id))
    if init is None:
        fail(f"job {job_id} names no initiator: pass --role and --party-id.", code=2)
    return role or init[0], party_id or init[1]


def _connect() -> Connection:
    conn = connect()
    assert conn is not None
    return conn


def _show_json(title: str, data: Any) -> None:
    out = console()
    out.print(f"[bold]{escape(title)}[/]")
    typer.echo(json.dumps(data, indent=4, ensure_ascii=False, default=str))


def _fetch(
    endpoint: str, job_id: str, role: str | None, party_id: str | None, component: str, **kwargs: Any
) -> tuple[dict[str, Any], str, str]:
    """Connect, resolve the party and call ``endpoint``: the part every tracking command shares."""
    conn = _connect()
    role, party_id = _party(conn, job_id, role, party_id)
    return call(conn, endpoint, job_id, role, party_id, component, **kwargs), role, party_id


def _wrote_json(data: Any, output_path: Path | None, as_json: bool, what: str) -> bool:
    """Write ``data`` to ``-o FILE`` if given; ``True`` when the command is done (nothing to show)."""
    if output_path is None:
        return False
    write_json(output_path.expanduser(), data)
    if as_json:
        return False
    console().print(f"wrote {what} to {escape(str(output_path))}")
    return True


@app.command("metrics")
def metrics_cmd(
    job_id: str = _JOB_ID,
    role: str | None = _ROLE,
    party_id: str | None = _PARTY,
    component: str = _CPN,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every metric a component logged (FATE's `metric-all`)."""
    resp, role, party_id = _fetch("tracking_metrics", job_id, role, party_id, component, as_json=as_json)
    title = f"{component} metrics ({role}:{party_id}, job {job_id})"
    emit(resp, as_json, lambda data: console().print(key_value_table(data or {}, title=title)))


app.command("metric-all", hidden=True)(metrics_cmd)


@app.command("output-data")
def output_data_cmd(
    job_id: str = _JOB_ID,
    role: str | None = _ROLE,
    party_id: str | None = _PARTY,
    component: str = _CPN,
    limit: int = typer.Option(100, "--limit", "-l", help="How many rows."),
    output_path: Path | None = typer.Option(None, "--output-path", "-o", help="Write the rows as CSV here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The first rows of a component's output data."""
    resp, role, party_id = _fetch(
        "tracking_output_data", job_id, role, party_id, component, limit=limit, as_json=as_json
    )
    data = resp.get("data") or {}
    header = list(data.get("header") or [])
    rows = list(data.get("rows") or [])
    total = data.get("total", len(rows))
    if output_path is not None:
        folder = output_path.expanduser() / f"job_{job_id}_{component}_{role}_{party_id}_output_data"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "data.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        write_json(folder / "meta.json", {"header": header, "rows": len(rows), "total": total})
        if not as_json:
            console().print(f"wrote {len(rows)} of {total} rows to {escape(str(folder / 'data.csv'))}")
            return

    def render(_: Any) -> None:
        out = console()
        out.print(
            f"[bold]{escape(component)}[/] output data ({role}:{party_id}): {len(rows)} of {total} rows"
        )
        table = Table()
        for name in header:
            table.add_column(escape(str(name)), overflow="fold")
        for row in rows:
            table.add_row(*(escape(fmt_value(v, 30)) for v in row))
        out.print(table)

    emit(resp, as_json, render)


@app.command("output-model")
def output_model_cmd(
    job_id: str = _JOB_ID,
    role: str | None = _ROLE,
    party_id: str | None = _PARTY,
    component: str = _CPN,
    output_path: Path | None = typer.Option(None, "--output-path", "-o", help="Write the model JSON here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A component's model (weights, bins, trees ...) as JSON."""
    resp, role, party_id = _fetch("tracking_output_model", job_id, role, party_id, component, as_json=as_json)
    if _wrote_json(resp.get("data"), output_path, as_json, f"the model of {escape(component)}"):
        return
    emit(resp, as_json, lambda data: _show_json(f"{component} model ({role}:{party_id})", data))


@app.command("summary")
def summary_cmd(
    job_id: str = _JOB_ID,
    role: str | None = _ROLE,
    party_id: str | None = _PARTY,
    component: str = _CPN,
    output_path: Path | None = typer.Option(None, "--output-path", "-o", help="Write the summary JSON here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A component's summary (FATE's `summary`)."""
    resp, role, party_id = _fetch("tracking_summary", job_id, role, party_id, component, as_json=as_json)
    if _wrote_json(resp.get("data"), output_path, as_json, f"the summary of {escape(component)}"):
        return
    title = f"{component} summary ({role}:{party_id})"
    emit(resp, as_json, lambda data: console().print(key_value_table(data or {}, title=title)))
