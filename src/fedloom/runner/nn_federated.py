"""``fedloom nn train RECIPE --federated``: a recipe as a FedAvg job, every party its own OS process.

The launcher (:mod:`fedloom.runner.launcher`) starts ``clients`` client processes (``guest:9999``
is client 0, ``host:10000``, ``host:10001``, ... the others) and ``arbiter:10000``, connected
over mutual-TLS gRPC; each runs a party function of :mod:`fedloom.ml.homo.recipe_fedavg`. When
they are done, the aggregates the arbiter saw and client 0's test scores are merged into one row
per round and written to the recipe's output folder like a local run's files::

    recipe.json     the recipe as run
    metrics.json    {"config": {"federated", "train"}, "history": [per round], "rounds_run",
                     "round_seconds", "clients": [per client: samples, class counts, train/val]}
    curves.png      loss and accuracy per round (train, validation, test)
    model.pt        the final global model's state_dict (written by client 0)
    summary.json    what the command prints
    job/logs/       every party's log
    checkpoints/    every party's last two rounds, and run.json (the settings they belong to)

With ``resume``, every party continues after the newest round all of them checkpointed
(:mod:`fedloom.ml.homo.round_checkpoints`): the same final weights as a run never interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError
from fedloom.core.roles import PartyId
from fedloom.runner.launcher import PartySpec, launch

__all__ = ["parties", "run_federated_recipe"]

log = logging.getLogger(__name__)

TARGET = "fedloom.ml.homo.recipe_fedavg"


def parties(clients: int) -> tuple[list[PartyId], PartyId]:
    """The clients (guest first, then hosts 10000, 10001, ...) and the arbiter."""
    hosts = [PartyId.parse(f"host:{10000 + i}") for i in range(clients - 1)]
    return [PartyId.parse("guest:9999"), *hosts], PartyId.parse("arbiter:10000")


def _check_settings(recipe: Any, fed: Any) -> None:
    """Reject bad federated settings before any process starts."""
    fed.check()
    if fed.split != "iid" and recipe.model.name == "tiny_gpt":
        raise ConfigError(
            f"field 'split': {fed.split} splits over class labels; the tiny GPT's text is split iid "
            "(by passages)",
            field="split",
        )


def _party_specs(
    data: dict[str, Any],
    fed_kwargs: dict[str, Any],
    clients: list[PartyId],
    arbiter: PartyId,
    threads: int,
    checkpoints: dict[str, Any],
) -> list[PartySpec]:
    """One launch spec per client (with its index) and one for the arbiter; ``checkpoints``:
    ``{"checkpoints": folder, "resume_round": round or None}`` for every party."""
    common = {"recipe": data, "fed": fed_kwargs, "threads": threads, **checkpoints}
    specs = [PartySpec(p, f"{TARGET}:client_party", {**common, "index": i}) for i, p in enumerate(clients)]
    specs.append(PartySpec(arbiter, f"{TARGET}:arbiter_party", common))
    return specs


#: Settings a resumed run may change (more rounds); everything else must be as checkpointed.
_RESUMABLE_CHANGES = {("fed", "rounds"), ("train", "epochs")}


def _run_settings(data: dict[str, Any], fed_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the checkpoints belong to, less what a resumed run may change."""
    train = {k: v for k, v in data.get("train", {}).items() if ("train", k) not in _RESUMABLE_CHANGES}
    fed = {k: v for k, v in fed_kwargs.items() if ("fed", k) not in _RESUMABLE_CHANGES}
    return {**data, "train": train, "fed": fed}


def _checkpoints(folder: Path, settings: dict[str, Any], parties: list[str], resume: bool) -> int | None:
    """The round every party resumes after (``None``: start at round 0); a fresh run clears the
    folder and records its settings in ``run.json``.

    Raises
    ------
    ConfigError
        Resuming with other settings than the checkpoints were made with (names what differs).
    """
    from fedloom.ml.homo.round_checkpoints import common_round

    record = folder / "run.json"
    if resume and record.exists():
        saved = json.loads(record.read_text())
        if saved != settings:
            keys = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise ConfigError(
                "--resume: the recipe or federated settings differ from the checkpointed run's "
                f"({', '.join(keys)}); resume with the same settings (only the rounds may grow), "
                "or train without --resume",
                field="--resume",
            )
        found = common_round(folder, parties)
        if found is not None:
            log.info("resuming every party after round %d (%s)", found, folder)
            return found
    if folder.exists():
        for old in folder.glob("*.pt"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=1))
    return None


def run_federated_recipe(
    recipe: Any,
    fed: Any,
    *,
    timeout: float = 600.0,
    threads: int = 1,
    tls: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``recipe`` (:class:`fedloom.models.recipe.Recipe`) federated as ``fed`` says.

    Parameters
    ----------
    recipe
        The validated recipe; its ``output`` folder receives the files of the module docstring.
    fed
        :class:`fedloom.ml.homo.recipe_fedavg.FederatedSettings`.
    timeout
        Each party's receive timeout in seconds (a round's wait includes the slowest client's
        local epochs).
    threads
        torch threads per party process.
    tls
        Mutual TLS between the parties (default).
    resume
        Continue after the newest round every party checkpointed (a fresh start when there is
        none).

    Returns
    -------
    dict
        ``name``, ``output``, ``federated``, ``rounds_run``, ``resumed_after`` (the checkpointed
        round this run continued after, or ``None``), ``round_seconds``, ``final`` (the last
        round's row), ``test_loss`` / ``test_accuracy`` (when the recipe has a test split),
        ``parameters``, ``clients``.

    Raises
    ------
    ConfigError
        Bad federated settings (before any process starts), or ``resume`` with other settings
        than the checkpoints were made with.
    PartyFailedError
        A party failed; names it and its error.
    """
    _check_settings(recipe, fed)
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    data = recipe.to_dict()
    data["train"].pop("out_dir", None)  # parse_recipe derives it from 'output'
    (out / "recipe.json").write_text(json.dumps(data, indent=2))
    fed_kwargs = dataclasses.asdict(fed)
    clients, arbiter = parties(fed.clients)
    folder = out / "checkpoints"
    names = [str(p) for p in (*clients, arbiter)]
    start = _checkpoints(folder, _run_settings(data, fed_kwargs), names, resume)
    ckpt = {"checkpoints": str(folder), "resume_round": start}
    specs = _party_specs(data, fed_kwargs, clients, arbiter, threads, ckpt)
    log.info("federated %s: %d clients (%s), %d rounds", recipe.name, fed.clients, fed.split, fed.rounds)
    res = launch(specs, job_id=f"nn-{recipe.name}", timeout=timeout, job_dir=out / "job", tls=tls)
    res.raise_for_failure()
    return _write_results(recipe, fed_kwargs, res.results(), clients, arbiter, start)


def _write_results(
    recipe: Any,
    fed_kwargs: dict[str, Any],
    results: dict[PartyId, Any],
    clients: list[PartyId],
    arbiter: PartyId,
    start: int | None,
) -> dict[str, Any]:
    """metrics.json, curves.png and summary.json from what the parties returned; the summary."""
    from fedloom.ml.homo.recipe_fedavg import merge_rounds, plot_rounds

    out = Path(recipe.output)
    first = results[clients[0]]
    rows = merge_rounds(results[arbiter]["rounds"], first["test"], fed_kwargs["local_epochs"])
    described = [results[p]["data"] for p in clients]
    round_seconds = sum(r["seconds"] for r in rows) / max(1, len(rows))
    metrics = {
        "config": {"federated": fed_kwargs, "train": dataclasses.asdict(recipe.train)},
        "history": rows,
        "rounds_run": len(rows),
        "round_seconds": round_seconds,
        "clients": described,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_rounds(rows, out / "curves.png")
    summary: dict[str, Any] = {
        "name": recipe.name,
        "output": str(out),
        "federated": fed_kwargs,
        "rounds_run": len(rows),
        "resumed_after": start,
        "round_seconds": round(round_seconds, 4),
        "final": rows[-1] if rows else {},
        "parameters": first["parameters"],
        "clients": [{"party": str(p), **d} for p, d in zip(clients, described, strict=True)],
    }
    if rows and "test_accuracy" in rows[-1]:
        summary["test_loss"], summary["test_accuracy"] = rows[-1]["test_loss"], rows[-1]["test_accuracy"]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
