"""``fedloom data upload|download -c conf.json``: tables in and out, with FATE's upload/download confs.

The upload conf is FATE's (``file``, ``table_name``, ``namespace``, ``head``, ``partition``; a
relative ``file`` resolves against the conf's folder); options add or override fedloom's keys
(``id_column``, ``label_name``, ``drop``). The download conf is FATE's too (``table_name``,
``namespace``, ``output_path``; a relative ``output_path`` resolves against the conf's folder).

Where the table goes: after ``fedloom init`` the configured server's store (a server on this
machine reads the file by its path; a remote one gets the file's bytes); without a configured
server, or with ``--data-dir`` / ``--local``, the local table store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Tables: upload CSV files into the table store, download them.", no_args_is_help=True)

_LOCAL_HELP = "Use the local table store even when a server is configured (`fedloom init`)."


@app.callback()
def main() -> None:
    """Tables: upload CSV files into the table store (the server's after `fedloom init`)."""


def _server(data_dir: Path | None, local: bool) -> Any:
    """The configured server's connection, or ``None`` for the local store."""
    if data_dir is not None or local:
        return None
    from fedloom.cli.flow import connect

    return connect(required=False)


def _resolve(value: Any, conf: Path, field: str) -> Path:
    from fedloom.core.errors import ConfigError

    if not isinstance(value, str) or not value:
        raise ConfigError(f"the conf {conf} needs {field!r} (a path).", field=field)
    path = Path(value).expanduser()
    # resolved: no "../" reaches the server, which may refuse such paths
    return (path if path.is_absolute() else conf.resolve().parent / path).resolve()


def _upload_to_server(conn: Any, body: dict[str, Any], conf: Path, drop: bool, as_json: bool) -> None:
    from fedloom.cli.flow import call, emit, is_loopback

    path = _resolve(body.get("file"), conf, "file")
    body = {**body, "file": str(path)}
    # a server on this machine reads the file itself (standalone); a remote one is sent the bytes
    stream = None if is_loopback(conn.url) else path
    resp = call(conn, "data_upload", body, file=stream, drop=drop, as_json=as_json)

    def render(data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        name = data.get("table_name") or data.get("name") or body.get("table_name")
        namespace = data.get("namespace") or body.get("namespace")
        rows = data.get("count", data.get("rows"))
        columns = data.get("columns")
        parts = [f"{rows} rows" if rows is not None else None]
        parts.append(f"{len(columns)} columns" if isinstance(columns, list) else None)
        parts.append(f"id column {data['id_column']!r}" if data.get("id_column") else None)
        parts.append(f"label {data['label_name']!r}" if data.get("label_name") else None)
        detail = ", ".join(p for p in parts if p)
        Console(highlight=False).print(
            f"uploaded [bold]{escape(str(namespace))}.{escape(str(name))}[/]"
            f"{': ' + escape(detail) if detail else ''} to the server at {escape(conn.url)}"
        )

    emit(resp, as_json, render)


@app.command("upload")
def upload_cmd(
    conf: Path = typer.Option(..., "--conf", "--conf-path", "-c", help="FATE upload conf (JSON)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Local table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help="Id column (default: the first)."),
    label_name: str | None = typer.Option(None, "--label-name", help="Record this column as the label."),
    drop: bool = typer.Option(False, "--drop", help="Replace the table if it exists."),
    local: bool = typer.Option(False, "--local", help=_LOCAL_HELP),
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
    conn = _server(data_dir, local)
    if conn is not None:
        _upload_to_server(conn, body, conf, drop, as_json)
        return
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


@app.command("download")
def download_cmd(
    conf: Path = typer.Option(
        ..., "--conf", "--conf-path", "-c", help="FATE download conf: table_name, namespace, output_path."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Local table store instead of the server."),
    local: bool = typer.Option(False, "--local", help=_LOCAL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the response as JSON."),
) -> None:
    """Write a table as CSV to the conf's output_path."""
    from fedloom.core.errors import ConfigError
    from fedloom.dsl import load_json

    body = load_json(conf, "download conf")
    for key in ("table_name", "namespace"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ConfigError(f"the download conf needs {key!r}.", field=key)
    name, namespace = body["table_name"], body["namespace"]
    out = _resolve(body.get("output_path"), conf, "output_path")
    conn = _server(data_dir, local)
    if conn is not None:
        from fedloom.cli.flow import call, emit

        resp = call(conn, "data_download", name, namespace, out, as_json=as_json)
        message = f"downloaded {namespace}.{name} from {conn.url} to {out}"
        emit(resp, as_json, lambda _: Console(highlight=False).print(escape(message)))
        return
    from fedloom.data import TableStore

    frame = TableStore(data_dir).load(name, namespace)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    if as_json:
        data = {"table_name": name, "namespace": namespace, "path": str(out), "count": len(frame)}
        typer.echo(json.dumps({"retcode": 0, "retmsg": "success", "data": data}, indent=4))
        return
    Console(highlight=False).print(escape(f"downloaded {namespace}.{name} ({len(frame)} rows) to {out}"))
