"""``fedloom table info|list|delete``: what the table store holds.

After ``fedloom init`` these act on the configured server's store (FATE-Flow's ``flow table``);
without a configured server, or with ``--data-dir`` / ``--local``, on the local store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(help="Tables in the store: info, list, delete.", no_args_is_help=True)

_DATA_DIR_HELP = "Local table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
_LOCAL_HELP = "Use the local table store even when a server is configured (`fedloom init`)."


@app.callback()
def main() -> None:
    """Tables in the store (the server's after `fedloom init`): info, list, delete."""


def _server(data_dir: Path | None, local: bool) -> Any:
    if data_dir is not None or local:
        return None
    from fedloom.cli.flow import connect

    return connect(required=False)


def _get(info: Mapping[str, Any], *keys: str, default: Any = "-") -> Any:
    """The first of ``keys`` present: the local catalog and FATE's answers name fields differently."""
    for key in keys:
        if info.get(key) is not None:
            return info[key]
    return default


def _print_info(info: Mapping[str, Any]) -> None:
    console = Console(highlight=False)
    namespace, name = _get(info, "namespace"), _get(info, "name", "table_name")
    console.print(f"[bold]{escape(str(namespace))}.{escape(str(name))}[/]")
    columns = info.get("columns")
    id_column = _get(info, "id_column", "id_name", default=None)
    label = _get(info, "label_name", "label", default=None)
    for key, value in (
        ("rows", _get(info, "rows", "count")),
        ("columns", len(columns) if isinstance(columns, list) else _get(info, "n_columns")),
        ("id column", id_column or "-"),
        ("label", label or "-"),
        ("created", _get(info, "created", "create_time")),
        ("source", _get(info, "source_file", "file")),
        ("sha256", _get(info, "sha256")),
        ("file", _get(info, "path")),
    ):
        console.print(f"  {key:<10} {escape(str(value))}")
    schema = info.get("schema")
    cols = schema.get("columns", []) if isinstance(schema, Mapping) else []
    if not cols:
        return
    out = Table(title="schema", title_justify="left")
    for col in ("#", "column", "dtype", "missing"):
        out.add_column(col, justify="right" if col in ("#", "missing") else "left")
    for i, col in enumerate(cols):
        entry: Mapping[str, Any] = col if isinstance(col, Mapping) else {"name": col}
        cname = str(entry.get("name"))
        role = " (id)" if cname == id_column else " (label)" if cname == label else ""
        out.add_row(
            str(i), escape(f"{cname}{role}"), str(entry.get("dtype", "")), str(entry.get("missing", ""))
        )
    console.print(out)


def _print_list(tables: list[Mapping[str, Any]], where: str) -> None:
    out = Table(title=f"tables in {where}", title_justify="left")
    for col in ("namespace", "name", "rows", "columns", "label", "created"):
        out.add_column(
            col, justify="right" if col in ("rows", "columns") else "left", no_wrap=col != "created"
        )
    for t in tables:
        columns = t.get("columns")
        n_columns = len(columns) if isinstance(columns, list) else _get(t, "n_columns")
        out.add_row(
            escape(str(_get(t, "namespace"))),
            escape(str(_get(t, "name", "table_name"))),
            str(_get(t, "rows", "count")),
            str(n_columns),
            escape(str(_get(t, "label_name", "label", default=None) or "-")),
            escape(str(_get(t, "created", "create_time"))),
        )
    Console(highlight=False).print(out)


@app.command("info")
def info_cmd(
    table: str = typer.Option(..., "--table", "--table-name", "-t", help="Table name."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    local: bool = typer.Option(False, "--local", help=_LOCAL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rows, columns and schema of a table."""
    conn = _server(data_dir, local)
    if conn is not None:
        from fedloom.cli.flow import call, emit

        resp = call(conn, "table_info", table, namespace, as_json=as_json)
        emit(resp, as_json, lambda data: _print_info(data if isinstance(data, Mapping) else {}))
        return
    from fedloom.data import TableStore

    info = TableStore(data_dir).info(table, namespace)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=1))
        return
    _print_info(info.to_dict())


@app.command("list")
def list_cmd(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    local: bool = typer.Option(False, "--local", help=_LOCAL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every table (of one namespace)."""
    conn = _server(data_dir, local)
    if conn is not None:
        from fedloom.cli.flow import call, emit

        resp = call(conn, "table_list", as_json=as_json)

        def render(data: Any) -> None:
            tables = data.get("tables", []) if isinstance(data, Mapping) else data or []
            tables = [t for t in tables if namespace is None or t.get("namespace") == namespace]
            _print_list(tables, conn.url)

        emit(resp, as_json, render)
        return
    from fedloom.data import TableStore

    store = TableStore(data_dir)
    tables = store.list(namespace)
    if as_json:
        typer.echo(json.dumps([t.to_dict() for t in tables], indent=1))
        return
    _print_list([t.to_dict() for t in tables], str(store.data_dir))


@app.command("delete")
def delete_cmd(
    table: str = typer.Option(..., "--table", "--table-name", "-t", help="Table name."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    local: bool = typer.Option(False, "--local", help=_LOCAL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove a table (its file and catalog row)."""
    conn = _server(data_dir, local)
    if conn is not None:
        from fedloom.cli.flow import call, emit

        resp = call(conn, "table_delete", table, namespace, as_json=as_json)
        where = conn.url
        emit(
            resp, as_json, lambda _: Console(highlight=False).print(f"deleted {namespace}.{table} on {where}")
        )
        return
    from fedloom.data import TableStore

    info = TableStore(data_dir).delete(table, namespace)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=1))
        return
    Console().print(f"deleted {info.namespace}.{info.name} ({info.rows} rows)", highlight=False)
