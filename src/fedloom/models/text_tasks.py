"""The text recipes: the tiny GPT on Jane Austen (with its adversary term) and BERT on IMDB.

Both run through the one training loop (:func:`fedloom.models.train.fit`), so they get the
same metrics, curves, checkpoints, progress and exact resume as the image recipes:

- **tiny GPT** — the novels are split per book (the last ``dataset.holdout`` of each is the
  test text), a vocabulary of the ``vocab_size - 1`` most common training words plus
  ``<unk>`` is built, and the text becomes sliding windows of ``context`` ids with their
  next-word targets ``(N, T)``. The loss is cross-entropy over every position. The test
  metrics are those of :func:`fedloom.models.tiny_gpt.evaluate_gpt`: next-word top-1 accuracy
  at full context and the mean score of the predictions. With an ``adversary`` section,
  :func:`run_adversary` trains a copy for more epochs on ``CE − w · E_p[score]`` (and a
  control copy on ``CE`` alone) and reports the score before and after;
- **BERT** — reviews are tokenised once to ``(N, 2, max_length)`` (ids, attention mask);
  :class:`BertClassifier` drops the columns that are padding in a whole batch before the
  encoder, and cross-entropy on its logits is the loss.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

from fedloom.core.errors import DataError

if TYPE_CHECKING:
    from fedloom.models.recipe import Recipe, RecipeTask
    from fedloom.models.tiny_gpt import TinyGPT

__all__ = [
    "BertClassifier",
    "gpt_loss",
    "gpt_test_metrics",
    "prepare_text_task",
    "run_adversary",
    "split_austen",
]


def gpt_loss(scores: torch.Tensor | None = None, weight: float = 0.0) -> Any:
    """The GPT's loss for :func:`~fedloom.models.train.fit`: ``CE − weight · E_p[score]``.

    ``CE`` is the cross-entropy of every position's next word; ``E_p[score] = softmax(logits)
    @ scores`` is the expected per-word score under the predicted distribution, averaged over
    positions (``reduction="mean"``) or summed (``"sum"``), as
    :func:`fedloom.models.tiny_gpt.train_gpt` defines it. ``weight = 0`` is plain language
    modelling.
    """

    def loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        v = out.shape[-1]  # out (B, T, V), y (B, T)
        ce = F.cross_entropy(out.reshape(-1, v), y.reshape(-1), reduction=reduction)
        if not weight or scores is None:
            return ce
        expected = F.softmax(out, dim=-1) @ scores.to(out.device)  # (B, T)
        return ce - weight * (expected.mean() if reduction == "mean" else expected.sum())

    return loss


@functools.cache
def _austen_tokens() -> tuple[tuple[str, ...], ...]:
    """Each novel's tokens; parsed once a process (reading the R database takes seconds)."""
    from fedloom.models.datasets import load_austen, tokenize_words

    return tuple(tuple(tokenize_words(" ".join(lines))) for lines in load_austen().values())


def split_austen(holdout: float) -> tuple[list[str], list[str]]:
    """Training and test tokens: the last ``holdout`` of each novel is test text."""
    train: list[str] = []
    test: list[str] = []
    for toks in _austen_tokens():
        cut = int(len(toks) * (1 - holdout))
        train += toks[:cut]
        test += toks[cut:]
    return train, test


class BertClassifier(nn.Module):
    """A BERT-family sequence classifier fed one tensor ``(B, 2, T)``: ids and attention mask.

    Parameters
    ----------
    path
        Local model folder; ``None``: the MiniLM package (:func:`fedloom.models.bert.minilm_path`).
    num_labels
        Output classes (a new, seeded classification head).
    """

    def __init__(self, path: str | None, num_labels: int) -> None:
        super().__init__()
        from fedloom.models.bert import _resolve, _transformers

        tf = _transformers()
        self.path = _resolve(path)
        self.model = tf.AutoModelForSequenceClassification.from_pretrained(self.path, num_labels=num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, mask = x[:, 0], x[:, 1]  # (B, T) each
        # Columns that are padding in every row change nothing (they are masked out): drop them.
        t = max(1, int(mask.sum(dim=1).max()))
        return self.model(input_ids=ids[:, :t], attention_mask=mask[:, :t]).logits  # (B, K)

    def save_pretrained(self, folder: Path, tokenizer: Any) -> None:
        """Weights, config and tokenizer, loadable with ``from_pretrained(folder)``."""
        self.model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)


def prepare_text_task(recipe: Recipe) -> RecipeTask:
    """The :class:`~fedloom.models.recipe.RecipeTask` of a ``tiny_gpt`` or ``bert`` recipe."""
    return _prepare_gpt(recipe) if recipe.model.name == "tiny_gpt" else _prepare_bert(recipe)


def _prepare_gpt(recipe: Recipe) -> RecipeTask:
    from fedloom.models.recipe import RecipeTask, check_model_params
    from fedloom.models.tiny_gpt import GPTConfig, Vocab, letter_score, make_windows

    ds = recipe.dataset
    cfg = GPTConfig(**check_model_params("tiny_gpt", recipe.model.params))
    train_toks, test_toks = split_austen(ds.holdout)
    vocab = Vocab.build(train_toks, cfg.vocab_size)
    x, y = make_windows(vocab.encode(train_toks), cfg.context)  # (N, T) each
    x, y = x[: ds.limit], y[: ds.limit]
    xt = yt = None
    if ds.test:
        xt, yt = make_windows(vocab.encode(test_toks), cfg.context)
        xt, yt = xt[: ds.test_limit], yt[: ds.test_limit]
    letter = recipe.adversary.letter if recipe.adversary is not None else "e"
    extras = {"vocab": vocab, "scores": letter_score(vocab, letter), "letter": letter}
    return RecipeTask(recipe, x, y, xt, yt, len(vocab), gpt_loss(), extras)


def _prepare_bert(recipe: Recipe) -> RecipeTask:
    from fedloom.models.bert import _resolve, _transformers
    from fedloom.models.datasets import load_imdb
    from fedloom.models.recipe import BertParams, RecipeTask, check_model_params

    ds = recipe.dataset
    p = BertParams(**check_model_params("bert", recipe.model.params))
    tokenizer = _transformers().AutoTokenizer.from_pretrained(_resolve(p.path))

    def encode(texts: list[str]) -> torch.Tensor:
        enc = tokenizer(
            texts, padding="max_length", truncation=True, max_length=p.max_length, return_tensors="pt"
        )
        return torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1)  # (N, 2, T)

    texts, labels = load_imdb("train", limit=ds.limit, path=ds.path)
    if labels.size and int(labels.max()) >= p.num_labels:
        raise DataError(
            f"IMDB labels go up to {int(labels.max())}; num_labels is {p.num_labels}", field="labels"
        )
    xt = yt = None
    if ds.test:
        test_texts, test_labels = load_imdb("test", limit=ds.test_limit, path=ds.path)
        xt, yt = encode(test_texts), torch.from_numpy(test_labels)
    return RecipeTask(
        recipe, encode(texts), torch.from_numpy(labels), xt, yt, p.num_labels, None, {"tokenizer": tokenizer}
    )


def gpt_test_metrics(model: TinyGPT, task: RecipeTask) -> dict[str, Any]:
    """``test_loss``, ``test_accuracy`` (next word at full context), ``test_accuracy_known``
    (targets in the vocabulary), ``test_greedy_score`` and ``test_expected_score``."""
    m = _gpt_metrics(model, task)
    return {f"test_{k}": v for k, v in m.items()}


def _gpt_metrics(model: TinyGPT, task: RecipeTask) -> dict[str, float]:
    from fedloom.models.tiny_gpt import evaluate_gpt

    dev = next(model.parameters()).device
    m = evaluate_gpt(model, task.x_test.to(dev), task.y_test.to(dev), task.extras["scores"].to(dev))
    return {k: round(v, 6) for k, v in asdict(m).items()}


def _fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's weights, in ``state_dict`` order."""
    import hashlib

    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_adversary(task: RecipeTask, model: TinyGPT, out: Path, *, resume: bool = False) -> dict[str, Any]:
    """Train the adversary copy (and the control) of a trained GPT; the score before and after.

    Each copy starts from ``model``'s weights and trains ``adversary.epochs`` epochs (AdamW at
    ``adversary.lr``, constant, the recipe's batch size) in its own folder
    (``OUTPUT/adversary``, ``OUTPUT/control``: checkpoint, metrics, ``model.pt``), so each
    resumes on its own.

    Returns
    -------
    dict
        ``score`` (the rule), ``weight``, ``epochs``, ``windows``, ``before`` / ``after`` /
        ``control`` (held-out metrics, :func:`gpt_test_metrics` without the prefix; ``None``
        without a test split or a control), ``shift`` (after − before of ``expected_score``,
        ``greedy_score`` and ``accuracy``).
    """
    from fedloom.models.train import TrainConfig, fit

    recipe = task.recipe
    adv = recipe.adversary
    assert adv is not None
    x, y = task.x, task.y
    if adv.limit is not None and adv.limit < x.shape[0]:
        idx = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(adv.seed))[: adv.limit]
        x, y = x[idx], y[idx]
    dev = next(model.parameters()).device
    has_test = task.x_test is not None
    report: dict[str, Any] = {
        "score": f"count of '{adv.letter}' per word ({adv.score})",
        "weight": adv.weight,
        "epochs": adv.epochs,
        "windows": int(x.shape[0]),
        "before": _gpt_metrics(model, task) if has_test else None,
    }
    phases = {"after": ("adversary", adv.weight)}
    if adv.control:
        phases["control"] = ("control", 0.0)
    base = _fingerprint(model)
    for k, (key, (folder, weight)) in enumerate(phases.items()):
        copy_ = copy.deepcopy(model)
        # A phase's checkpoint continues only the base weights it started from (a resumed run
        # whose base phase trained further starts the phase again).
        stamp = out / folder / "base.sha256"
        fresh = not (stamp.is_file() and stamp.read_text() == base)
        (out / folder).mkdir(parents=True, exist_ok=True)
        stamp.write_text(base)
        torch.manual_seed(adv.seed * 1_000 + k)  # dropout draws of the phase, whatever ran before
        cfg = TrainConfig(
            epochs=adv.epochs,
            batch_size=recipe.train.batch_size,
            optimizer="adamw",
            lr=adv.lr,
            weight_decay=recipe.train.weight_decay,
            max_grad_norm=recipe.train.max_grad_norm,
            seed=adv.seed,
            out_dir=str(out / folder),
            progress=recipe.train.progress,
        )
        loss = gpt_loss(task.extras["scores"], weight)
        fit(copy_, x.to(dev), y.to(dev), cfg, resume=resume and not fresh, loss_fn=loss)
        torch.save(copy_.state_dict(), out / folder / "model.pt")
        report[key] = _gpt_metrics(copy_, task) if has_test else None
    report.setdefault("control", None)
    if has_test:
        before, after = report["before"], report["after"]
        report["shift"] = {
            k: round(after[k] - before[k], 6) for k in ("expected_score", "greedy_score", "accuracy")
        }
    (out / "adversary.json").write_text(json.dumps(report, indent=2))
    return report
