"""``fedloom bench ...``: side-by-side measurements and the fuzz test, printed as a table or JSON.

Each command's ``run()`` validates its arguments first and raises
:class:`~fedloom.core.errors.ConfigError` naming the field; :func:`fedloom.cli.main` shows it as
one line with the exit code of its class, like every other error.
"""

from __future__ import annotations

import json
import os

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Benchmarks: fedloom side by side with a peer implementation.", no_args_is_help=True)


@app.command("paillier")
def paillier(
    key_size: int = typer.Option(2048, "--key-size", help="Paillier modulus size in bits."),
    n: int = typer.Option(2000, "--n", help="Ciphertexts per operation."),
    quick: bool = typer.Option(False, "--quick", help="A short run (n=300)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Paillier ops/s of fedloom and python-paillier (phe), one process, one thread."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.paillier import run

    report = run(key_size=key_size, n=300 if quick else n)
    if as_json:
        typer.echo(json.dumps(report))
        return
    table = Table(title=f"Paillier {report['key_size']}-bit, n={report['n']}, one thread (ops/s)")
    for col in ("operation", "fedloom", "phe", "fedloom / phe"):
        table.add_column(col, justify="right")
    for op in ("encrypt", "decrypt", "add", "mul_scalar"):
        table.add_row(
            op, f"{report['fedloom'][op]:,.0f}", f"{report['phe'][op]:,.0f}", f"{report['ratio'][op]:.1f}x"
        )
    Console().print(table)


@app.command("psi")
def psi(
    method: str = typer.Option("ecdh", "--method", help="ecdh, rsa or dh (MODP 2048)."),
    split: bool = typer.Option(False, "--split", help="RSA split_calculation (work shared by both sides)."),
    n: int = typer.Option(100_000, "--n", help="Ids per party."),
    overlap: float = typer.Option(0.5, "--overlap", help="Fraction of ids in common."),
    key_size: int = typer.Option(2048, "--key-size", help="RSA key bits."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Full PSI protocol between two OS processes over loopback gRPC."""
    from fedloom.bench.psi import run

    report = run(method=method, n=n, overlap=overlap, split=split, key_size=key_size)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key in ("method", "n", "overlap", "seconds", "intersection", "bytes", "split", "key_size"):
        if key in report:
            typer.echo(f"{key:>13}: {report[key]}")


@app.command("hetero-lr")
def hetero_lr(
    dataset: str = typer.Option(
        "synth50k", "--dataset", help="synth50k (FATE comparison setup), breast or sparse (host side CSR)."
    ),
    epochs: int = typer.Option(5, "--epochs", help="Full-batch epochs."),
    key_size: int = typer.Option(1024, "--key-size", help="Paillier key bits (FATE's examples use 1024)."),
    workers: int = typer.Option(1, "--workers", help="Crypto threads per party."),
    rows: int = typer.Option(100_000, "--rows", help="sparse: rows (70% train)."),
    features: int = typer.Option(10_000, "--features", help="sparse: the host's columns."),
    density: float = typer.Option(0.001, "--density", help="sparse: fraction of non-zeros."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Hetero LR with guest, host and arbiter as three OS processes; seconds per epoch and test AUC."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.hetero_lr import run

    report = run(dataset, epochs, key_size, workers=workers, rows=rows, features=features, density=density)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key in ("dataset", "epochs", "key_size", "epoch_seconds", "fit_seconds", "test_auc", "bytes"):
        typer.echo(f"{key:>14}: {report[key]}")


@app.command("binning")
def binning(
    rows: int = typer.Option(100_000, "--rows", help="Rows (both parties hold every row)."),
    guest_features: int = typer.Option(30, "--guest-features", help="The guest's columns (plus the label)."),
    host_features: int = typer.Option(300, "--host-features", help="The host's columns."),
    bin_num: int = typer.Option(10, "--bin-num", help="Bins per column."),
    method: str = typer.Option("quantile", "--method", help="quantile, bucket or optimal."),
    key_size: int = typer.Option(1024, "--key-size", help="Paillier key bits (FATE's examples use 1024)."),
    classes: int = typer.Option(2, "--classes", help="Label classes (2: binary; more: one-vs-rest)."),
    cipher: str = typer.Option("paillier", "--cipher", help="paillier, or plain (no encryption)."),
    workers: int | None = typer.Option(None, "--workers", help="Crypto threads per party (cores // 2)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Hetero feature binning (WOE / IV of every column) between guest and host OS processes."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.binning import run

    report = run(rows, guest_features, host_features, bin_num, method, key_size, classes, cipher, workers)
    if as_json:
        typer.echo(json.dumps(report))
        return
    shown = ("rows", "guest_features", "host_features", "key_size", "seconds", "phases", "encryptions")
    for key in (*shown, "ciphertexts_sent", "decryptions", "bytes", "load_average"):
        typer.echo(f"{key:>20}: {report[key]}")


@app.command("secureboost")
def secureboost(
    dataset: str = typer.Option("synth50k", "--dataset", help="synth50k (FATE 2.2 comparison setup)."),
    trees: int = typer.Option(5, "--trees", help="Trees to build."),
    depth: int = typer.Option(3, "--depth", help="max_depth of each tree."),
    key_size: int = typer.Option(1024, "--key-size", help="Paillier key bits (FATE's examples use 1024)."),
    rows: int | None = typer.Option(None, "--rows", help="Rows of the generated table (50,000)."),
    cipher: str = typer.Option("paillier", "--cipher", help="paillier, or plain (no encryption)."),
    bin_num: int = typer.Option(32, "--bin-num", help="Bins per feature (XGBoost's max_bin)."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes per party (cores // 2)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Hetero SecureBoost between guest and host OS processes; seconds per tree, test AUC, XGBoost's."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.secureboost import run

    report = run(dataset, trees, depth, key_size, rows=rows, cipher=cipher, bin_num=bin_num, workers=workers)
    if as_json:
        typer.echo(json.dumps(report))
        return
    shown = ("dataset", "rows", "trees", "depth", "key_size", "seconds_per_tree", "tree_seconds")
    for key in (*shown, "fit_seconds", "test_auc", "bytes", "peak_rss_mib", "xgboost", "load_average"):
        typer.echo(f"{key:>16}: {report[key]}")


@app.command("scale")
def scale(
    backend: str = typer.Option("local", "--backend", help="local (process pool) or ray."),
    workers: str = typer.Option("1,2", "--workers", help="Comma-separated worker counts."),
    rows: int = typer.Option(50_000, "--rows", help="Rows of the SecureBoost bench table (synth50k)."),
    trees: int = typer.Option(2, "--trees", help="Trees per fit."),
    key_size: int = typer.Option(1024, "--key-size", help="Paillier key bits."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address (default: private)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """SecureBoost seconds per tree and speed-up per worker count, local or Ray backend."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.scale import run as run_scale

    counts = [int(w) for w in workers.split(",") if w.strip()]
    report = run_scale(backend, counts, rows=rows, trees=trees, key_size=key_size, address=address)
    if as_json:
        typer.echo(json.dumps(report))
        return
    for r in report["results"]:
        line = f"{r['backend']:>5} workers {r['workers']:>3}: {r['seconds_per_tree']:.3f} s/tree"
        typer.echo(f"{line}  speed-up {r['speedup']}")


@app.command("hetero-nn")
def hetero_nn(
    dataset: str = typer.Option("synth50k", "--dataset", help="synth50k (the SecureBoost benchmark's data)."),
    epochs: int = typer.Option(3, "--epochs", help="Epochs to train."),
    key_size: int = typer.Option(1024, "--key-size", help="Paillier key bits (FATE's examples use 1024)."),
    rows: int | None = typer.Option(None, "--rows", help="Rows of the generated table (50,000)."),
    cipher: str = typer.Option("paillier", "--cipher", help="paillier, or plain (no encryption)."),
    batch_size: int = typer.Option(1024, "--batch-size", help="Rows per mini-batch."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Hetero NN between guest and host OS processes; seconds per epoch, test AUC, the centralised net's."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.hetero_nn import run

    report = run(dataset, epochs, key_size, rows=rows, cipher=cipher, batch_size=batch_size)
    if as_json:
        typer.echo(json.dumps(report))
        return
    shown = ("dataset", "rows", "epochs", "key_size", "cipher", "seconds_per_epoch", "epoch_seconds")
    for key in (*shown, "fit_seconds", "test_auc", "bytes", "peak_rss_mib", "centralised", "load_average"):
        typer.echo(f"{key:>17}: {report[key]}")


@app.command("fuzz")
def fuzz(
    n: int = typer.Option(10_000, "--n", help="Envelopes to send."),
    seed: int = typer.Option(0, "--seed", help="Seed of the envelope generator."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Fuzz a live party endpoint over mutual TLS: crashes, refusals, wrong acceptances, memory."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fedloom.bench.fuzz import run

    report = run(n=n, seed=seed)
    if as_json:
        typer.echo(json.dumps(report))
        return
    table = Table(title=f"Fuzzing guest:9999 with {report['n']} envelopes ({report['seconds']} s)")
    for col in ("kind", "sent", "rejected", "decoded", "accepted wrongly", "resent", "lost"):
        table.add_column(col, justify="right")
    for kind, row in report["by_kind"].items():
        table.add_row(
            kind,
            *(str(row[k]) for k in ("sent", "rejected", "decoded", "accepted_wrongly", "resent", "lost")),
        )
    Console().print(table)
    for key in ("crashes", "rejected", "accepted_wrongly", "rss_growth_mb", "still_serving", "job_after"):
        typer.echo(f"{key:>17}: {report[key]}")
