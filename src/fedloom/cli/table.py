"""``fedloom table info|list|delete``: what the local table store holds."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Tables in the local store: info, list, delete.", no_args_is_help=True)

_DATA_DIR_HELP = "Table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."


@app.callback()
def main() -> None:
    """Tables in the local store: info, list, delete."""


@app.command("info")
def info_cmd(
    table: str = typer.Option(..., "--table", "-t", help="Table name."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rows, columns and schema of a table."""
    from fedloom.data import TableStore

    info = TableStore(data_dir).info(table, namespace)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=1))
        return
    console = Console()
    console.print(f"[bold]{info.namespace}.{info.name}[/]", highlight=False)
    for key, value in (
        ("rows", info.rows),
        ("columns", info.n_columns),
        ("id column", info.id_column),
        ("label", info.label_name or "-"),
        ("created", info.created),
        ("source", info.source_file or "-"),
        ("sha256", info.sha256),
        ("file", info.path),
    ):
        console.print(f"  {key:<10} {value}", highlight=False)
    schema = Table(title="schema", title_justify="left")
    for col in ("#", "column", "dtype", "missing"):
        schema.add_column(col, justify="right" if col in ("#", "missing") else "left")
    for i, col in enumerate(info.schema.get("columns", [])):
        name = col["name"]
        role = " (id)" if name == info.id_column else " (label)" if name == info.label_name else ""
        schema.add_row(str(i), f"{name}{role}", str(col.get("dtype", "")), str(col.get("missing", "")))
    console.print(schema)


@app.command("list")
def list_cmd(
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Only this namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every table (of one namespace)."""
    from fedloom.data import TableStore

    store = TableStore(data_dir)
    tables = store.list(namespace)
    if as_json:
        typer.echo(json.dumps([t.to_dict() for t in tables], indent=1))
        return
    out = Table(title=f"tables in {store.data_dir}", title_justify="left")
    for col in ("namespace", "name", "rows", "columns", "label", "created"):
        out.add_column(
            col, justify="right" if col in ("rows", "columns") else "left", no_wrap=col != "created"
        )
    for t in tables:
        out.add_row(t.namespace, t.name, str(t.rows), str(t.n_columns), t.label_name or "-", t.created)
    Console().print(out)


@app.command("delete")
def delete_cmd(
    table: str = typer.Option(..., "--table", "-t", help="Table name."),
    namespace: str = typer.Option(..., "--namespace", "-n", help="Namespace."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=_DATA_DIR_HELP),
) -> None:
    """Remove a table (its file and catalog row)."""
    from fedloom.data import TableStore

    info = TableStore(data_dir).delete(table, namespace)
    Console().print(f"deleted {info.namespace}.{info.name} ({info.rows} rows)", highlight=False)
