"""``fedloom demo``: upload the bundled breast-cancer tables and intersect them across two processes.

What it does, step by step (each printed):

1. uploads ``examples/data/breast_hetero_{guest,host}.csv`` with the FATE upload confs in
   ``examples/upload/`` (replacing the demo tables if they exist);
2. runs ``examples/jobs/intersect/{conf,dsl}.json`` with ``fedloom run``: guest 9999 and host
   10000 each in its own OS process over loopback gRPC; Reader → DataTransform → ECDH PSI;
3. shows the intersection and where each party's aligned rows, metrics and logs are.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from fedloom.cli.run import execute
from fedloom.core.errors import ConfigError

__all__ = ["demo_command", "find_examples"]

_UPLOADS = ("breast_hetero_guest.json", "breast_hetero_host.json")


def find_examples(examples: Path | None = None) -> Path:
    """The repository's ``examples/`` folder (fedloom installed from its source tree, editable).

    Raises
    ------
    ConfigError
        The folder (or the files the demo needs) cannot be found.
    """
    root = examples if examples is not None else Path(__file__).resolve().parents[3] / "examples"
    needed = [root / "upload" / u for u in _UPLOADS] + [root / "jobs" / "intersect" / "conf.json"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ConfigError(
            f"the demo's example files are not found ({missing[0]}); the demo runs from a source "
            "checkout of fedloom (pip install -e .), or pass --examples PATH/TO/examples.",
            field="examples",
        )
    return root


def demo_command(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
    ),
    job_dir: Path | None = typer.Option(
        None, "--job-dir", help="Where job folders go (default $FEDLOOM_JOBS_DIR or ~/.fedloom/jobs)."
    ),
    examples: Path | None = typer.Option(None, "--examples", help="The examples/ folder (default: bundled)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds a party waits for its peer."),
) -> None:
    """Upload the bundled breast data and intersect it: guest and host as two processes."""
    import pandas as pd

    from fedloom.data import TableStore, default_data_dir

    console = Console()
    root = find_examples(examples)
    store = TableStore(data_dir if data_dir is not None else default_data_dir())
    console.print("[bold]1. upload[/] (FATE upload confs, examples/upload/)")
    for name in _UPLOADS:
        conf_path = root / "upload" / name
        info = store.upload(json.loads(conf_path.read_text(encoding="utf-8")), conf_path.parent, drop=True)
        console.print(
            f"   {info.namespace}.{info.name}: {info.rows} rows, {info.n_columns} columns "
            f"from {Path(info.source_file or '').name}",
            highlight=False,
        )
    console.print(f"   table store: {store.data_dir}", highlight=False)
    job = root / "jobs" / "intersect"
    console.print(
        "[bold]2. run[/] examples/jobs/intersect: Reader → DataTransform → Intersection (ECDH PSI), "
        "guest 9999 and host 10000 as separate processes over loopback gRPC"
    )
    result = execute(
        job / "conf.json",
        job / "dsl.json",
        data_dir=store.data_dir,
        job_dir=job_dir,
        timeout=timeout,
        console=console,
    )
    if result.failure is not None:
        raise typer.Exit(result.failure.exit_code)
    console.print("[bold]3. result[/]")
    for party in result.parties:
        comp = result.parties[party]["components"].get("intersect_0") or {}
        m = comp.get("metrics") or {}
        console.print(
            f"   {party}: {m.get('input_rows')} ids in, {m.get('intersect_count')} in the intersection; "
            f"aligned rows: {result.output_path('intersect_0', party)}",
            highlight=False,
        )
    guest = result.output_path("intersect_0", "guest:9999")
    host = result.output_path("intersect_0", "host:10000")
    if guest.is_file() and host.is_file():
        g, h = pd.read_parquet(guest), pd.read_parquet(host)
        same = len(g) == len(h) and (g.iloc[:, 0].to_numpy() == h.iloc[:, 0].to_numpy()).all()
        console.print(
            f"   both parties hold {len(g)} rows in the same id order: {bool(same)}; "
            f"guest has {g.shape[1] - 2} features + label, host {h.shape[1] - 1} features",
            highlight=False,
        )
        with pd.option_context("display.width", 110, "display.max_columns", 8):
            console.print(f"[dim]guest's first rows:\n{g.iloc[:3, :6]}[/]", highlight=False)
