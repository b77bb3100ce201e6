"""Text from a trained tiny GPT run, and the adversary's score of it.

A run folder written by ``fedloom nn train`` on a ``tiny_gpt`` recipe holds ``model.pt``
(the model after the ``train`` epochs: *before* the adversary term), ``vocab.json``,
``gpt_config.json``, and with an ``adversary`` section ``adversary/model.pt`` (*after* the
term) and ``control/model.pt`` (as long again without it). :func:`generate_from_run` extends
a prompt with each of them and scores the generated words with the recipe's rule (the mean
count of the letter per word, the quantity the adversary term rewards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fedloom.core.errors import ConfigError, DataError
from fedloom.models.tiny_gpt import GPTConfig, TinyGPT, Vocab, letter_score

__all__ = ["Generation", "generate_from_run", "load_gpt_run"]

#: Model files of a run, in the order they are reported: (label, path inside the run folder).
STAGES = (("before", "model.pt"), ("after", "adversary/model.pt"), ("control", "control/model.pt"))


@dataclass
class Generation:
    """One model's continuation of the prompt.

    Parameters
    ----------
    stage
        ``before`` (after the ``train`` epochs), ``after`` (the adversary copy) or ``control``.
    words
        The generated words (the prompt excluded).
    score
        Mean score per generated word under the recipe's rule.
    """

    stage: str
    words: list[str]
    score: float

    @property
    def text(self) -> str:
        """The generated words joined by spaces."""
        return " ".join(self.words)


def load_gpt_run(run_dir: str | Path) -> tuple[dict[str, TinyGPT], Vocab, str]:
    """Models (by stage), vocabulary and scored letter of a tiny-GPT run folder.

    Raises
    ------
    DataError
        The folder is not a finished tiny-GPT run (no ``model.pt``/``vocab.json``/``gpt_config.json``).
    """
    run = Path(run_dir)
    needed = [run / "model.pt", run / "vocab.json", run / "gpt_config.json"]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise DataError(
            f"{run} is not a trained tiny-GPT run (missing {', '.join(missing)}); "
            "train one with `fedloom nn train examples/recipes/tiny_gpt_austen.yaml`",
            field="run_dir",
        )
    vocab = Vocab(json.loads((run / "vocab.json").read_text()))
    config = GPTConfig(**json.loads((run / "gpt_config.json").read_text()))
    letter = "e"
    recipe_file = run / "recipe.json"
    if recipe_file.is_file():
        adversary = json.loads(recipe_file.read_text()).get("adversary") or {}
        letter = adversary.get("letter", letter)
    models: dict[str, TinyGPT] = {}
    for stage, rel in STAGES:
        if (run / rel).is_file():
            model = TinyGPT(config)
            model.load_state_dict(torch.load(run / rel, map_location="cpu", weights_only=True))
            models[stage] = model.eval()
    return models, vocab, letter


def generate_from_run(
    run_dir: str | Path,
    prompt: str,
    *,
    n: int = 20,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    ban_unk: bool = False,
) -> dict[str, Any]:
    """Continue ``prompt`` by ``n`` words with every model of the run; score each continuation.

    Sampling (not ``greedy``) draws from ``softmax(logits / temperature)`` restricted to the
    ``top_k`` most likely words, with a generator seeded by ``seed`` for each model, so a
    command repeated gives the same text; ``greedy`` takes the most likely word each step.

    Returns
    -------
    dict
        ``prompt`` (its words), ``unknown`` (prompt words outside the vocabulary), ``score_rule``,
        ``generations`` (a list of :class:`Generation` as dicts, before / after / control).
    """
    from fedloom.models.datasets import tokenize_words

    if n < 1:
        raise ConfigError(f"must be an integer >= 1. Got {n}.", field="n")
    if temperature <= 0:
        raise ConfigError(f"must be a number > 0. Got {temperature}.", field="temperature")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"must be an integer >= 1. Got {top_k}.", field="top_k")
    models, vocab, letter = load_gpt_run(run_dir)
    words = tokenize_words(prompt)
    if not words:
        raise ConfigError("the prompt has no words", field="prompt")
    scores = letter_score(vocab, letter)
    out = []
    for stage, model in models.items():
        gen = torch.Generator().manual_seed(seed)
        new = model.complete(
            vocab,
            words,
            n,
            greedy=greedy,
            temperature=temperature,
            top_k=top_k,
            ban_unk=ban_unk,
            generator=gen,
        )
        score = float(scores[vocab.encode(new)].mean())
        out.append(Generation(stage, new, score))
    return {
        "prompt": words,
        "unknown": [w for w in words if w not in vocab.index],
        "score_rule": f"count of '{letter}' per word",
        "generations": [{"stage": g.stage, "text": g.text, "words": g.words, "score": g.score} for g in out],
    }
