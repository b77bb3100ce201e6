"""``fedloom nn``: local deep-learning runs from a recipe, GPT generation, BERT exploration.

- ``fedloom nn train RECIPE [--resume] [--epochs N] [--output DIR]``: every recipe of
  ``examples/recipes`` (MNIST / Fashion / transfer / Otto, the tiny GPT on Austen, BERT on IMDB);
- ``fedloom nn generate RUN_DIR --prompt "..." [--greedy | --temperature T --top-k K] [--n N]``:
  text from a trained tiny GPT, before / after the adversary term, with its score;
- ``fedloom nn explore-bert [--model DIR] SENTENCE...``: WordPiece tokens and ids, sizes,
  hidden-state shapes, pooled embeddings and their cosine similarities.

Bad recipes raise :class:`fedloom.core.errors.ConfigError` naming the field; missing datasets
raise :class:`fedloom.core.errors.DataError` with the fetch command.
"""

from __future__ import annotations

import json
from typing import Any

import typer

app = typer.Typer(
    help="Deep-learning models: training from recipes, GPT generation, BERT exploration.",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Deep-learning models: training from recipes, GPT generation, BERT exploration."""


@app.command("train")
def train_cmd(
    recipe: str = typer.Argument(..., help="Recipe file (.yaml/.yml/.json)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from OUTPUT's checkpoints (federated: every party's) if present."
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="Override train.epochs."),
    output: str | None = typer.Option(None, "--output", help="Override the output folder."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar per epoch."),
    federated: bool = typer.Option(False, "--federated", help="FedAvg, secure aggregation, party processes."),
    clients: int = typer.Option(3, "--clients", help="Federated: number of clients."),
    split: str = typer.Option("iid", "--split", help="Federated: iid or dirichlet:ALPHA (over labels)."),
    rounds: int | None = typer.Option(None, "--rounds", help="Federated: rounds (default: train.epochs)."),
    local_epochs: int = typer.Option(1, "--local-epochs", help="Federated: local epochs per round."),
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
    if federated:  # every client and the arbiter as OS processes (fedloom.runner.nn_federated)
        from fedloom.ml.homo.recipe_fedavg import FederatedSettings
        from fedloom.runner.nn_federated import run_federated_recipe

        fed = FederatedSettings(clients, split, rounds or r.train.epochs, local_epochs)
        typer.echo(json.dumps(run_federated_recipe(r, fed, resume=resume), indent=2))
        return
    summary = run_recipe(r, resume=resume)
    typer.echo(json.dumps(summary, indent=2))


@app.command("generate")
def generate_cmd(
    run_dir: str = typer.Argument(..., help="Folder of a trained tiny-GPT run (fedloom nn train ...)."),
    prompt: str = typer.Option(..., "--prompt", "-p", help="Text to continue."),
    greedy: bool = typer.Option(False, "--greedy", help="Most likely word each step (deterministic)."),
    temperature: float = typer.Option(1.0, "--temperature", "-t", help="Sampling temperature (> 0)."),
    top_k: int | None = typer.Option(None, "--top-k", "-k", help="Sample among the K most likely words."),
    n: int = typer.Option(20, "--n", "-n", help="Words to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling."),
    ban_unk: bool = typer.Option(False, "--ban-unk", help="Never emit <unk>."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Continue PROMPT with the trained GPT (before and after the adversary term) and score it."""
    from fedloom.models.generate import generate_from_run

    result = generate_from_run(
        run_dir, prompt, n=n, greedy=greedy, temperature=temperature, top_k=top_k, seed=seed, ban_unk=ban_unk
    )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"prompt: {' '.join(result['prompt'])}")
    if result["unknown"]:
        typer.echo(f"(not in the vocabulary, read as <unk>: {', '.join(result['unknown'])})")
    for g in result["generations"]:
        typer.echo(f"[{g['stage']}] {g['text']}")
        typer.echo(f"    score ({result['score_rule']}): {g['score']:.3f}")


@app.command("explore-bert")
def explore_bert_cmd(
    sentences: list[str] = typer.Argument(..., help="One or more sentences."),
    model: str | None = typer.Option(
        None, "--model", help="Local model folder (default: the MiniLM package)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (embeddings in full)."),
) -> None:
    """WordPiece tokens and ids, sizes, hidden-state shapes, pooled embeddings, cosine similarities."""
    from fedloom.models.explore import explore_bert

    result = explore_bert(sentences, model)
    if as_json:
        typer.echo(json.dumps(result))
        return
    _print_exploration(result)


def _print_exploration(result: dict[str, Any]) -> None:
    """The exploration as rich tables: tokens, hidden states, embeddings, cosine similarities."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)

    def table(title: str, *columns: str) -> Table:
        console.print(f"\n[bold]{title}[/bold]")  # a heading line: table titles wrap to the table width
        t = Table()
        for col in columns:
            t.add_column(col)
        return t

    console.print(f"model {result['model']}")
    console.print(f"parameters {result['parameters']:,} in {result['tensors']} tensors")
    tokens = table("WordPiece tokens ([CLS] first, [SEP] last)", "#", "tokens", "ids")
    for i, row in enumerate(result["sentences"]):
        tokens.add_row(str(i), " ".join(row["tokens"]), " ".join(map(str, row["ids"])))
    console.print(tokens)
    states = table(f"{len(result['hidden_states'])} hidden states (batch, tokens, width)", "state", "shape")
    for i, shape in enumerate(result["hidden_states"]):
        states.add_row("embeddings" if i == 0 else f"layer {i}", str(tuple(shape)))
    console.print(states)
    emb = table(
        f"mean-pooled sentence embeddings ({result['embedding_dim']} values)", "#", "first 5 values", "norm"
    )
    for i, vec in enumerate(result["embeddings"]):
        norm = sum(v * v for v in vec) ** 0.5
        emb.add_row(str(i), " ".join(f"{v:+.3f}" for v in vec[:5]), f"{norm:.3f}")
    console.print(emb)
    sims = table("cosine similarity", "", *(str(j) for j in range(len(result["cosine"]))))
    for i, row in enumerate(result["cosine"]):
        sims.add_row(str(i), *(f"{v:.3f}" for v in row))
    console.print(sims)


if __name__ == "__main__":  # python -m fedloom.cli.nn ...
    app()
