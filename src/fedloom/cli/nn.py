"""``fedloom nn``: local deep-learning runs from a recipe.

``fedloom nn train RECIPE [--resume] [--epochs N] [--output DIR]``. Bad recipes raise
:class:`fedloom.core.errors.ConfigError` naming the field; missing datasets raise
:class:`fedloom.core.errors.DataError` with the fetch command.
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Deep-learning models: local training from recipes.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Deep-learning models: local training from recipes."""


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="Recipe file (.yaml/.yml/.json)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT/checkpoint.pt if present."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override train.epochs."),
    output: str | None = typer.Option(None, "--output", help="Override the output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar per epoch."),
) -> None:
    """Train the model a recipe describes; write metrics.json, curves.png, checkpoints, summary.json."""
    from fedloom.models.recipe import load_recipe, run_recipe
    from fedloom.models.train import validate_config

    r = load_recipe(recipe)
    if epochs is not None:
        r.train.epochs = epochs
    if output is not None:
        r.output = r.train.out_dir = output
    r.train.progress = progress
    validate_config(r.train)
    summary = run_recipe(r, resume=resume)
    typer.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":  # python -m fedloom.cli.nn ...
    app()
