"""``fedloom run -c conf.json -d dsl.json``: run a job locally, every party its own process.

While the parties run, one progress line per component shows how many parties finished it and
what the running ones are doing (the parties' status files, polled). Afterwards: a summary table
(per component and party: state, time, rows, metrics), the traffic per party, one line per party
from its privacy ledger (how much it received, what it learned in clear), and where outputs,
ledgers and logs are. A failed job exits non-zero (the failed party's error class,
``core.errors``), naming the party and component that failed first, why, and the tail of that
party's traceback; the other parties are stopped, and listed as stopped after it.

The parties talk mutual TLS with a CA made for the job (one line says so);
``--insecure-transport`` turns that off for debugging, and a warning says what that exposes.

A predict job (``pipeline.<component>.model`` inputs) runs against the models of an earlier job:
``--model-job JOB_ID`` (or ``job_parameters.common.model_version`` in the conf). After a job that
trained models, the summary prints the ``model_version`` to pass there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:  # the runner (pandas, pyarrow, grpc) loads only when a job runs
    from fedloom.dsl import Job
    from fedloom.runner.local import JobResult

__all__ = ["execute", "print_summary", "run_command"]

_DONE_STATES = ("done", "skipped")


def _plaintext_warning() -> str:
    from fedloom.runner.launcher import PLAINTEXT_WARNING

    return PLAINTEXT_WARNING


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _short_metrics(metrics: dict[str, Any] | None, width: int = 70) -> str:
    if not metrics:
        return ""
    parts = []
    for key, value in metrics.items():
        if value is None or value is False or key in ("rows", "seconds"):
            continue  # shown in their own columns, or nothing to say
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, int | str | bool) or value is None:
            parts.append(f"{key}={value}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


class _ProgressView:
    """One rich progress task per component, fed with the parties' status files."""

    def __init__(self, console: Console, tls: bool = True) -> None:
        self.console = console
        self.tls = tls
        self.progress = Progress(
            TextColumn("  {task.fields[name]:<20}"),
            TextColumn("[dim]{task.fields[module]:<14}"),
            BarColumn(bar_width=24),
            TextColumn("{task.completed:>4.2g}/{task.total:.0f}"),
            TextColumn("{task.fields[state]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.runs_on: dict[str, list[str]] = {}

    def start(self, job_id: str, job_dir: Path, job: Job) -> None:
        parties = ", ".join(str(p) for p in job.parties())
        self.console.print(f"[bold]job {job_id}[/]: {len(job.parties())} parties ({parties})")
        self.console.print(f"  folder: {job_dir}", highlight=False)
        if self.tls:
            self.console.print(
                f"  transport: mutual TLS, certificates from a CA made for this job ({job_dir / 'tls'})",
                highlight=False,
                soft_wrap=True,
            )
        else:
            self.console.print(
                f"  [bold red]WARNING: {escape(_plaintext_warning())}[/]", highlight=False, soft_wrap=True
            )
        for name in job.order:
            on = [str(p) for p in job.parties() if job.runs_on(name, p.role)]
            self.runs_on[name] = on
            self.tasks[name] = self.progress.add_task(
                name,
                total=max(len(on), 1),
                name=name,
                module=job.spec(name).name,
                state="[dim]waiting",
                start=False,
            )
        self.progress.start()

    def update(self, status: dict[str, dict[str, Any]]) -> None:
        for name, task in self.tasks.items():
            completed = 0.0
            notes: list[str] = []
            failed: list[str] = []
            running = False
            for party in self.runs_on[name]:
                comp = (status.get(party) or {}).get("components", {}).get(name) or {}
                state = comp.get("state", "waiting")
                if state in _DONE_STATES:
                    completed += 1
                elif state == "running":
                    running = True
                    completed += float(comp.get("progress") or 0.0)
                    note = comp.get("note") or "running"
                    notes.append(f"{party}: {note}")
                elif state == "failed":
                    failed.append(party)
            if failed:
                text = f"[red]failed on {', '.join(failed)}"
            elif completed >= len(self.runs_on[name]) and self.runs_on[name]:
                text = "[green]done"
            elif running or completed:
                text = "[yellow]" + escape("; ".join(notes) or "running")
            else:
                text = "[dim]waiting"
            if running or completed or failed:
                self.progress.start_task(task)
            self.progress.update(task, completed=completed, state=text)
            if text.startswith(("[green]", "[red]")):
                self.progress.stop_task(task)

    def stop(self) -> None:
        self.progress.stop()


def print_summary(result: JobResult, console: Console) -> None:
    """The per-component table, the traffic per party, and where outputs and logs are."""
    rows: list[tuple[str, ...]] = []
    for name in result.order:
        for party, info in result.parties.items():
            comp = (info.get("components") or {}).get(name)
            if not comp or (comp.get("state") == "skipped" and "does not run" in str(comp.get("note", ""))):
                continue
            seconds = comp.get("seconds")
            n_rows = comp.get("rows")
            rows.append(
                (
                    name,
                    party,
                    str(comp.get("state", "?")),
                    f"{seconds:.2f} s" if isinstance(seconds, int | float) else "",
                    "" if n_rows is None else str(n_rows),
                    _short_metrics(comp.get("metrics"), width=10_000),
                )
            )
    headers = ("component", "party", "state", "time", "rows", "metrics")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers[:-1])]
    # Fixed columns keep their width; metrics get what is left of the line (3 = borders, padding).
    budget = max(12, console.width - sum(widths) - 3 * len(headers) - 1)
    table = Table(
        title=f"job {result.job_id}: {'succeeded' if result.ok else 'failed'}", title_justify="left"
    )
    for i, header in enumerate(headers[:-1]):
        justify = "right" if header in ("time", "rows") else "left"
        table.add_column(header, justify=justify, no_wrap=True, min_width=widths[i])  # type: ignore[arg-type]
    table.add_column("metrics", no_wrap=True, overflow="ellipsis", max_width=budget)
    colors = {"done": "green", "failed": "red", "running": "yellow"}
    for row in rows:
        metrics = row[5] if len(row[5]) <= budget else row[5][: budget - 1] + "…"
        state = f"[{colors.get(row[2], 'dim')}]{row[2]}"
        table.add_row(row[0], row[1], state, row[3], row[4], escape(metrics))
    console.print(table)
    traffic = Table(title="traffic", title_justify="left")
    for col in ("party", "status", "time", "sent", "received"):
        traffic.add_column(col, justify="left" if col in ("party", "status") else "right")
    for party, info in result.parties.items():
        t = result.traffic(party)
        traffic.add_row(
            party,
            info.get("status", "?"),
            f"{info.get('seconds', 0):.2f} s",
            _human_bytes(t["sent_bytes"]),
            _human_bytes(t["received_bytes"]),
        )
    console.print(traffic)
    _print_privacy(result, console)
    trained = [
        name
        for name in result.order
        if any(
            "model" in ((info.get("components") or {}).get(name) or {}).get("outputs", {})
            for info in result.parties.values()
        )
    ]
    for note in result.notes:
        console.print(f"note:    {note}", highlight=False, soft_wrap=True)
    if result.model_job:
        console.print(f"models:  of job {result.model_job}", highlight=False)
    elif trained and result.ok:
        console.print(
            f"models:  {', '.join(trained)}; model_id {result.model_id}, model_version {result.job_id} "
            f"(predict with: fedloom run -c CONF -d DSL --model-job {result.job_id})",
            highlight=False,
        )
    console.print(f"outputs: {result.outputs_dir}", highlight=False)
    console.print(f"logs:    {result.logs_dir}", highlight=False)
    console.print(f"summary: {result.job_dir / 'job.json'}  ({result.seconds:.1f} s)", highlight=False)


def _print_privacy(result: JobResult, console: Console) -> None:
    """One line per party from its privacy ledger, and where the ledgers are."""
    console.print(
        f"privacy: what each party received and learned in clear, per channel: {result.privacy_dir}",
        highlight=False,
        soft_wrap=True,
    )
    for party, info in result.parties.items():
        line = info.get("privacy") or f"{party}: no summary (it did not finish; see its ledger file)"
        console.print(f"  {escape(str(line))}", highlight=False, soft_wrap=True)


def print_failure(result: JobResult, console: Console) -> None:
    """Which party and component failed, why, the traceback tail, and what became of the others."""
    f = result.failure
    if f is None:
        return
    console.print(f"[bold red]job {result.job_id} failed[/] at {escape(f.headline())}", highlight=False)
    if f.traceback_tail:
        console.print(f"[dim]{escape(f.traceback_tail)}[/]", highlight=False)
    for party, info in result.parties.items():
        if party != f.party and info.get("status") != "done":
            what = str(info.get("error") or info.get("status"))
            what = what if len(what) <= 240 else what[:239] + "…"  # the whole text is in job.json
            console.print(f"  {party}: {escape(what)}", highlight=False)
    log = result.logs_dir / f"{f.party.replace(':', '-')}.log"
    console.print(f"  log of {f.party}: {log}", highlight=False)


def execute(
    conf: Path,
    dsl: Path,
    *,
    data_dir: Path | None,
    job_dir: Path | None,
    timeout: float | None,
    console: Console,
    show_progress: bool = True,
    model_job: str | None = None,
    tls: bool = True,
    cache_job: str | None = None,
) -> JobResult:
    """Run a job with progress and a summary on ``console``; returns the result (failed or not).

    ``model_job`` names the earlier job whose models a predict job loads (see
    :func:`fedloom.runner.local.run_job`); ``tls=False`` runs the parties over plaintext gRPC
    (debugging only), with a warning.
    """
    from fedloom.runner.local import run_job

    view = _ProgressView(console, tls=tls) if show_progress else None
    if not tls and not show_progress:
        Console(stderr=True).print(f"[bold red]WARNING: {escape(_plaintext_warning())}[/]", highlight=False)
    try:
        result = run_job(
            conf,
            dsl,
            data_dir=data_dir,
            job_dir=job_dir,
            timeout=timeout,
            progress=view.update if view else None,
            on_start=view.start if view else None,
            model_job=model_job,
            tls=tls,
            cache_job=cache_job,
        )
    finally:
        if view is not None:
            view.stop()
    if show_progress:
        print_summary(result, console)
        print_failure(result, console)
    return result


def run_command(
    conf: Path = typer.Option(..., "--conf", "-c", help="Job conf (FATE DSL v2 JSON)."),
    dsl: Path = typer.Option(..., "--dsl", "-d", help="Job dsl (FATE DSL v2 JSON)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Table store of the parties (default $FEDLOOM_DATA_DIR or ~/.fedloom/data)."
    ),
    job_dir: Path | None = typer.Option(
        None, "--job-dir", help="Where job folders go (default $FEDLOOM_JOBS_DIR or ~/.fedloom/jobs)."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        help="Seconds a party waits for a peer (default: job_parameters timeout, else 600).",
    ),
    model_job: str | None = typer.Option(
        None,
        "--model-job",
        help="Predict job: the id (or folder) of the earlier job whose models pipeline.* inputs load "
        "(default: job_parameters.common.model_version).",
    ),
    cache_job: str | None = typer.Option(
        None,
        "--cache-job",
        help="The id (or folder) of the earlier job whose cache outputs the dsl's CacheLoader "
        "components load (overrides their job_id).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON only."),
    insecure_transport: bool = typer.Option(
        False,
        "--insecure-transport",
        help="Debugging only: the parties talk plaintext gRPC instead of mutual TLS, so any local "
        "process can inject messages or forge a failure notice.",
    ),
) -> None:
    """Run a job on this machine: every party of the conf as its own process over loopback gRPC."""
    console = Console()
    result = execute(
        conf,
        dsl,
        data_dir=data_dir,
        job_dir=job_dir,
        timeout=timeout,
        console=console,
        show_progress=not as_json,
        model_job=model_job,
        tls=not insecure_transport,
        cache_job=cache_job,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=1, default=str))
    if result.failure is not None:
        raise typer.Exit(result.failure.exit_code)
