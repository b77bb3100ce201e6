"""``fedloom demo``: hetero logistic regression on the bundled breast-cancer data, end to end.

What it does, step by step (each printed):

1. uploads ``examples/data/breast_hetero_{guest,host}.csv`` with the FATE upload confs in
   ``examples/upload/`` (replacing the demo tables if they exist);
2. runs ``examples/jobs/hetero_lr/{conf,dsl}.json`` (FATE's ``hetero_lr_normal``) with
   ``fedloom run``: guest 9999, host 10000 and arbiter 10000, each its own OS process over
   loopback gRPC with mutual TLS (a CA made for the job); Reader → DataTransform → Intersection
   (RSA PSI) → HeteroLR (Paillier, 1024-bit key) → Evaluation;
3. prints the evaluation (AUC, KS, accuracy, precision, recall, F1, confusion matrix) and where
   each party's model, the predictions, the ROC / PR / KS plots and the logs were written, and the
   command that predicts with this model (``examples/jobs/hetero_lr/predict_*.json``); the run's
   summary has one line per party from its privacy ledger (what it learned in clear).

``--only intersect`` runs the smaller first demo instead: Reader → DataTransform → ECDH PSI on
guest and host (``examples/jobs/intersect``), and shows the aligned rows.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from fedloom.cli.run import execute
from fedloom.core.errors import ConfigError

if TYPE_CHECKING:
    from fedloom.runner.local import JobResult

__all__ = ["Demo", "demo_command", "find_examples"]

_UPLOADS = ("breast_hetero_guest.json", "breast_hetero_host.json")
GUEST, HOST, ARBITER = "guest:9999", "host:10000", "arbiter:10000"


class Demo(StrEnum):
    """Which demo job ``fedloom demo`` runs."""

    lr = "lr"
    intersect = "intersect"


def find_examples(examples: Path | None = None, job: str = "hetero_lr") -> Path:
    """The repository's ``examples/`` folder (fedloom installed from its source tree, editable).

    Raises
    ------
    ConfigError
        The folder (or the files the demo needs) cannot be found.
    """
    root = examples if examples is not None else Path(__file__).resolve().parents[3] / "examples"
    needed = [root / "upload" / u for u in _UPLOADS] + [
        root / "jobs" / job / f for f in ("conf.json", "dsl.json")
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ConfigError(
            f"the demo's example files are not found ({missing[0]}); the demo runs from a source "
            "checkout of fedloom (pip install -e .), or pass --examples PATH/TO/examples.",
            field="examples",
        )
    return root


def _upload(root: Path, data_dir: Path | None, console: Console) -> Path:
    from fedloom.data import TableStore, default_data_dir

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
    return store.data_dir


def demo_command(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Table store (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
    ),
    job_dir: Path | None = typer.Option(
        None, "--job-dir", help="Where job folders go (default $FEDLOOM_JOBS_DIR or ~/.fedloom/jobs)."
    ),
    examples: Path | None = typer.Option(None, "--examples", help="The examples/ folder (default: bundled)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds a party waits for a peer."),
    only: Demo = typer.Option(
        Demo.lr, "--only", help="lr: the whole hetero LR job (default); intersect: the PSI step alone."
    ),
    insecure_transport: bool = typer.Option(
        False,
        "--insecure-transport",
        help="Debugging only: plaintext gRPC between the parties instead of mutual TLS.",
    ),
) -> None:
    """Upload the bundled breast data, then train and evaluate hetero LR: guest, host and arbiter
    as three processes (--only intersect: just the private set intersection)."""
    console = Console(soft_wrap=True)  # paths stay whole, to copy and paste
    job_name = "hetero_lr" if only is Demo.lr else "intersect"
    root = find_examples(examples, job_name)
    store_dir = _upload(root, data_dir, console)
    job = root / "jobs" / job_name
    if only is Demo.lr:
        console.print(
            f"[bold]2. run[/] examples/jobs/{job_name} (FATE's hetero_lr_normal): Reader → DataTransform → "
            "Intersection (RSA PSI) → HeteroLR (Paillier, 1024-bit key) → Evaluation; guest 9999, host "
            "10000 and arbiter 10000 as separate processes over loopback gRPC"
        )
    else:
        console.print(
            f"[bold]2. run[/] examples/jobs/{job_name}: Reader → DataTransform → Intersection (ECDH PSI), "
            "guest 9999 and host 10000 as separate processes over loopback gRPC"
        )
    result = execute(
        job / "conf.json",
        job / "dsl.json",
        data_dir=store_dir,
        job_dir=job_dir,
        timeout=timeout,
        console=console,
        tls=not insecure_transport,
    )
    if result.failure is not None:
        raise typer.Exit(result.failure.exit_code)
    console.print("[bold]3. result[/]")
    if only is Demo.lr:
        _show_lr(result, job, console)
    else:
        _show_intersection(result, console)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _show_lr(result: JobResult, job: Path, console: Console) -> None:
    guest = result.parties[GUEST]["components"]
    lr = guest.get("hetero_lr_0", {}).get("metrics") or {}
    ev = guest.get("evaluation_0", {}).get("metrics") or {}
    series = (ev.get("series") or {}).get(ev.get("headline") or "hetero_lr_0.train") or {}
    facts = [f"{lr['train_rows']} rows"] if "train_rows" in lr else []
    if "n_iter" in lr:
        facts.append(f"{lr['n_iter']} epochs" + (" (converged)" if lr.get("converged") else ""))
    losses = lr.get("loss_history") or []
    if losses and isinstance(losses[-1], int | float):
        facts.append(f"final loss {losses[-1]:.4f}")
    if facts:
        console.print(f"   hetero_lr_0 trained on {', '.join(facts)}", highlight=False)
    names = ("auc", "ks", "accuracy", "precision", "recall", "f1")
    shown = ", ".join(f"{n.upper() if n in ('auc', 'ks') else n} {_fmt(ev.get(n))}" for n in names if n in ev)
    console.print(f"   evaluation on the training data ({ev.get('rows')} rows): {shown}", highlight=False)
    cm = series.get("confusion_matrix")
    if cm:
        (tn, fp), (fn, tp) = cm["matrix"]
        console.print(f"   confusion matrix: tn {tn}, fp {fp}, fn {fn}, tp {tp}", highlight=False)
    console.print("   models (one per party, model.json):", highlight=False)
    for party in (GUEST, HOST, ARBITER):
        path = result.output_path("hetero_lr_0", party, "model")
        if path.is_file():
            console.print(f"     {party:<14} {path}", highlight=False)
    console.print(f"   predictions:   {result.output_path('hetero_lr_0', GUEST)}", highlight=False)
    plots = ev.get("plots") or {}
    for name in ("roc", "pr", "ks"):
        if name in plots:
            console.print(f"   {name.upper() + ' plot:':<14} {plots[name]}", highlight=False)
    console.print(
        f"   metrics:       {result.output_path('evaluation_0', GUEST, 'metrics')}", highlight=False
    )
    console.print(f"   logs:          {result.logs_dir}", highlight=False)
    predict = job / "predict_conf.json"
    if predict.is_file():
        console.print(
            f"   predict with this model: fedloom run -c {predict} -d {job / 'predict_dsl.json'} "
            f"--model-job {result.job_id}",
            highlight=False,
            soft_wrap=True,
        )


def _show_intersection(result: JobResult, console: Console) -> None:
    import pandas as pd

    for party in result.parties:
        comp = result.parties[party]["components"].get("intersect_0") or {}
        m = comp.get("metrics") or {}
        console.print(
            f"   {party}: {m.get('input_rows')} ids in, {m.get('intersect_count')} in the intersection; "
            f"aligned rows: {result.output_path('intersect_0', party)}",
            highlight=False,
        )
    guest = result.output_path("intersect_0", GUEST)
    host = result.output_path("intersect_0", HOST)
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
