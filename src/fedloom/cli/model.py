"""``fedloom model deploy|export|import``: FATE-Flow's ``flow model`` verbs.

- ``deploy --model-id --model-version [--cpn-list a,b]``: make a trained job's models usable by
  predict jobs (``job_parameters.common.model_version``); prints the predict DSL's components.
- ``export --model-id --model-version -o PATH`` (or ``-c conf`` with FATE's ``model_id``,
  ``model_version``, ``output_path``): one zip of every party's model artifacts.
- ``import -f ZIP`` (or ``-c conf`` with ``file``): load such a zip into this server.

A relative path inside a conf resolves against the conf's folder, as ``data upload`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from fedloom.cli.flow import JSON_HELP, call, connect, console, emit, fail, key_value_table, write_json

app = typer.Typer(help="Models on the fedloom server: deploy, export, import.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Models on the fedloom server: deploy, export, import."""


def _conf(conf_path: Path | None) -> dict[str, Any]:
    if conf_path is None:
        return {}
    from fedloom.dsl import load_json

    return load_json(conf_path, "model conf")


def _path(value: Any, conf_path: Path | None) -> Path:
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and conf_path is not None:
        path = conf_path.resolve().parent / path
    return path


@app.command("deploy")
def deploy_cmd(
    model_id: str = typer.Option(..., "--model-id", help="Model id (from `job submit`)."),
    model_version: str = typer.Option(..., "--model-version", help="Model version (the training job id)."),
    cpn_list: str | None = typer.Option(None, "--cpn-list", help="Components to deploy: a,b or [a, b]."),
    cpn_path: Path | None = typer.Option(None, "--cpn-path", help="File listing the components to deploy."),
    output_path: Path | None = typer.Option(
        None, "--output-path", "-o", help="Write predict_dsl.json and predict_conf.json into this folder."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deploy a trained model (all its components but evaluation, or --cpn-list).

    The answer holds the predict DSL and a predict conf template (the training tables, the model
    id and version filled in); ``-o DIR`` writes them, ready for ``job submit``.
    """
    from fedloom.cli.job import _cpn_list

    conn = connect()
    assert conn is not None
    names = _cpn_list(cpn_list, cpn_path)
    resp = call(conn, "model_deploy", model_id, model_version, cpn_list=names, as_json=as_json)
    data = {k: v for k, v in (resp.get("data") or {}).items() if k not in ("model_id", "model_version")}
    dsl = data.pop("predict_dsl", None) or data.pop("dsl", None)
    conf = data.pop("predict_conf", None)
    written = []
    if output_path is not None:
        for name, value in (("predict_dsl", dsl), ("predict_conf", conf)):
            if value is not None:
                written.append(write_json(output_path.expanduser() / f"{name}.json", value))

    def render(_: Any) -> None:
        out = console()
        out.print(f"deployed model [bold]{escape(model_id)}[/] version [bold]{escape(model_version)}[/]")
        if data:
            out.print(key_value_table(data))
        if isinstance(dsl, dict):
            components = ", ".join(dsl.get("components", {}))
            out.print(f"  predict dsl components: {escape(components)}")
        for path in written:
            out.print(f"  wrote {escape(str(path))}")

    emit(resp, as_json, render)


@app.command("export")
def export_cmd(
    conf_path: Path | None = typer.Option(
        None, "--conf-path", "-c", help="FATE conf with model_id, model_version, output_path."
    ),
    model_id: str | None = typer.Option(None, "--model-id", help="Model id."),
    model_version: str | None = typer.Option(None, "--model-version", help="Model version."),
    output_path: Path | None = typer.Option(
        None, "--output-path", "-o", help="Zip file, or a folder to write <model_version>.zip into."
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Export every party's artifacts of a model as one zip."""
    conf = _conf(conf_path)
    model_id = model_id or conf.get("model_id")
    model_version = model_version or conf.get("model_version")
    if not model_id or not model_version:
        fail("pass --model-id and --model-version (or a -c conf holding them).", code=2)
    raw = output_path if output_path is not None else conf.get("output_path", ".")
    out = _path(raw, conf_path if output_path is None else None)
    if out.is_dir() or out.suffix.lower() != ".zip":
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(model_version))
        out = out / f"model_{safe}.zip"
    conn = connect()
    assert conn is not None
    resp = call(conn, "model_export", str(model_id), str(model_version), out, as_json=as_json)
    emit(
        resp,
        as_json,
        lambda _: console().print(f"exported model {escape(str(model_version))} to {escape(str(out))}"),
    )


@app.command("import")
def import_cmd(
    conf_path: Path | None = typer.Option(None, "--conf-path", "-c", help="FATE conf with 'file'."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Zip written by `model export`."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import a model zip written by `model export`."""
    conf = _conf(conf_path)
    if file is None and not conf.get("file"):
        fail("pass --file ZIP (or a -c conf with 'file').", code=2)
    path = file.expanduser() if file is not None else _path(conf["file"], conf_path)
    if not path.is_file():
        fail(f"{path} does not exist.", code=2)
    conn = connect()
    assert conn is not None
    resp = call(conn, "model_import", path, as_json=as_json)

    def render(data: Any) -> None:
        out = console()
        out.print(f"imported {escape(str(path))}")
        if data:
            out.print(key_value_table(data))

    emit(resp, as_json, render)
