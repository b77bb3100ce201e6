"""``fedloom data upload -c upload_conf.json``: store a CSV file as a table, with FATE's upload conf.

The conf is FATE's (``file``, ``table_name``, ``namespace``, ``head``, ``partition``; a relative
``file`` resolves against the conf's folder); options add or override fedloom's keys
(``id_column``, ``label_name``, ``drop``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Tables: upload CSV files into the local table store.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Tables: upload CSV files into the local table store."""


@app.command("upload")
def upload_cmd(
    conf: Path = typer.Option(..., "--conf", "-c", help="FATE upload conf (JSON)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help="Id column (default: the first)."),
    label_name: str | None = typer.Option(None, "--label-name", help="Record this column as the label."),
    drop: bool = typer.Option(False, "--drop", help="Replace the table if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored table's info as JSON."),
) -> None:
    """Upload the file an upload conf names, as table NAMESPACE.TABLE_NAME."""
    from fedloom.data import TableStore
    from fedloom.dsl import load_json

    body = load_json(conf, "upload conf")
    if id_column is not None:
        body["id_column"] = id_column
    if label_name is not None:
        body["label_name"] = label_name
    store = TableStore(data_dir)
    info = store.upload(body, conf_dir=conf.resolve().parent, drop=True if drop else None)
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=1))
        return
    label = f", label {info.label_name!r}" if info.label_name else ""
    Console().print(
        f"uploaded [bold]{info.namespace}.{info.name}[/]: {info.rows} rows, {info.n_columns} columns "
        f"(id column {info.id_column!r}{label}) into {store.data_dir}",
        highlight=False,
    )
