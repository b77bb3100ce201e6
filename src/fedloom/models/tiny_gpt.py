"""A tiny word-level GPT: context of 5 words → next word, nanoGPT style.

Pieces, in order of use:

- :class:`Vocab` — the ``vocab_size - 1`` most common words plus ``<unk>`` (id 0);
- :func:`make_windows` — token ids → ``(N, T)`` inputs and the same windows shifted by one
  as targets, so every position learns its next word (causal language modelling);
- :class:`TinyGPT` — token + position embeddings, ``n_layer`` pre-norm blocks of causal
  multi-head self-attention and a ReLU feed-forward, a final norm and the vocabulary
  softmax; :meth:`TinyGPT.generate` does greedy and sampled autoregressive generation;
- :func:`train_gpt` — AdamW on ``CE − w · E_p[score]``: with ``adversary_weight`` ``w > 0``
  the expected per-word score under the predicted distribution ``p`` is rewarded, shifting
  the output toward high-scoring words (e.g. words with many ``e``; :func:`letter_score`);
- :func:`evaluate_gpt` — next-word top-1 accuracy at full context and the mean score of
  greedy predictions and of ``p``, to report before/after the adversary term.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from pydantic import ConfigDict
from torch import nn

from fedloom.core.errors import ConfigError
from fedloom.core.validation import check, integer, number, parameter_error

__all__ = [
    "UNK",
    "GPTConfig",
    "GPTMetrics",
    "TinyGPT",
    "Vocab",
    "evaluate_gpt",
    "letter_score",
    "make_windows",
    "train_gpt",
]

UNK = "<unk>"


@dataclass
class GPTConfig:
    """Sizes of a :class:`TinyGPT` (defaults: the tiny 5-word model).

    Parameters
    ----------
    vocab_size
        Output classes, ``<unk>`` included.
    context
        Words of context (the block size ``T``).
    n_embd
        Embedding width ``C``.
    n_head
        Attention heads (``n_embd`` must be a multiple).
    n_layer
        Attention blocks.
    n_ff
        Hidden width of each block's feed-forward layer.
    dropout
        Dropout on embeddings, attention output and feed-forward output.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    vocab_size: Annotated[int, integer(ge=2)] = 500  # <unk> and one word at least
    context: Annotated[int, integer(ge=1)] = 5
    n_embd: Annotated[int, integer(ge=1)] = 8
    n_head: Annotated[int, integer(ge=1)] = 2
    n_layer: Annotated[int, integer(ge=1)] = 2
    n_ff: Annotated[int, integer(ge=1)] = 32
    dropout: Annotated[float, number(ge=0, lt=1)] = 0.0

    @classmethod
    def nano(cls, vocab_size: int = 5000) -> GPTConfig:
        """A larger causal nanoGPT-style configuration (about 2.1 M parameters at 5000 words)."""
        return cls(vocab_size=vocab_size, context=32, n_embd=128, n_head=4, n_layer=4, n_ff=512, dropout=0.1)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field out of range (``GPTConfig.n_embd``)."""
        check(self, prefix="GPTConfig")
        if self.n_embd % self.n_head:
            raise parameter_error(
                "GPTConfig.n_embd", f"must be a multiple of n_head={self.n_head}", self.n_embd
            )


class Vocab:
    """Word ↔ id mapping of the most common words; everything else is ``<unk>`` (id 0).

    Parameters
    ----------
    words
        The vocabulary in id order, ``words[0] == "<unk>"``.
    """

    def __init__(self, words: Sequence[str]) -> None:
        if not words or words[0] != UNK:
            raise ConfigError("the first word of a vocabulary must be '<unk>'", field="words")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, tokens: Iterable[str], size: int = 500) -> Vocab:
        """The ``size - 1`` most common tokens (ties broken alphabetically) plus ``<unk>``."""
        counts = Counter(tokens)
        counts.pop(UNK, None)
        common = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: size - 1]
        return cls([UNK, *(w for w, _ in common)])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Ids ``(N,)`` int64 of ``tokens`` (unknown words → 0)."""
        return torch.tensor([self.index.get(t, 0) for t in tokens], dtype=torch.long)

    def decode(self, ids: Iterable[int] | torch.Tensor) -> list[str]:
        """Words of ``ids``."""
        return [self.words[int(i)] for i in ids]


def make_windows(ids: torch.Tensor, context: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Sliding windows of ``context`` ids and their next-id targets.

    Returns
    -------
    x, y : torch.Tensor
        ``(N, T)`` each; ``y[n, t]`` is the word after ``x[n, :t+1]``.
    """
    if ids.numel() <= context:
        raise ConfigError(f"need more than {context} tokens, got {ids.numel()}", field="tokens")
    win = ids.unfold(0, context + 1, stride)  # (N, T+1)
    return win[:, :-1].contiguous(), win[:, 1:].contiguous()


def letter_score(vocab: Vocab, letter: str = "e") -> torch.Tensor:
    """Per-word score ``(V,)``: how often ``letter`` occurs in each word (``<unk>`` scores 0)."""
    return torch.tensor([0.0 if w == UNK else float(w.count(letter)) for w in vocab.words])


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position ``t`` sees positions ``<= t``."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.n_head = c.n_head
        self.qkv = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.dropout = c.dropout
        self.resid_drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, C)
        q, k, v = self.qkv(x).split(c, dim=2)  # 3 x (B, T, C)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)  # (B, H, T, C/H)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)  # (B, H, T, C/H)
        y = y.transpose(1, 2).contiguous().view(b, t, c)  # (B, T, C)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + ff(ln(x))``."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(c.n_embd)
        self.attn = CausalSelfAttention(c)
        self.ln2 = nn.LayerNorm(c.n_embd)
        self.ff = nn.Sequential(
            nn.Linear(c.n_embd, c.n_ff), nn.ReLU(), nn.Linear(c.n_ff, c.n_embd), nn.Dropout(c.dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, T, C)
        return x + self.ff(self.ln2(x))  # (B, T, C)


class TinyGPT(nn.Module):
    """Word-level causal transformer language model.

    Parameters
    ----------
    config
        Sizes; validated on construction.
    """

    def __init__(self, config: GPTConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or GPTConfig()
        c.validate()
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = nn.Embedding(c.context, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of the next word at every position of ``idx`` ``(B, T)``."""
        _, t = idx.shape
        if t > self.config.context:
            raise ConfigError(f"input has {t} positions, context is {self.config.context}", field="idx")
        pos = torch.arange(t, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        greedy: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        ban_unk: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Extend ``idx`` ``(B, T0)`` by ``max_new_tokens`` words, one at a time.

        Parameters
        ----------
        greedy
            Take the most likely word; otherwise sample from the softmax.
        temperature
            Divide logits by this before sampling (lower: closer to greedy).
        top_k
            Sample only among the ``top_k`` most likely words.
        ban_unk
            Never emit ``<unk>`` (id 0).
        generator
            Random generator for reproducible sampling.

        Returns
        -------
        torch.Tensor
            ``(B, T0 + max_new_tokens)``.
        """
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            cond = idx[:, -self.config.context :]  # (B, <=T)
            logits = self(cond)[:, -1, :]  # (B, V)
            if ban_unk:
                logits[:, 0] = -math.inf
            if greedy:
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / max(temperature, 1e-6)
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, -math.inf)
                nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        self.train(was_training)
        return idx

    def complete(self, vocab: Vocab, prompt: Sequence[str], n_words: int, **kwargs: object) -> list[str]:
        """Words that follow ``prompt`` (a list of tokens), via :meth:`generate`."""
        ids = vocab.encode(prompt).unsqueeze(0)  # (1, T0)
        out = self.generate(ids, n_words, **kwargs)  # type: ignore[arg-type]
        return vocab.decode(out[0, ids.shape[1] :])


@dataclass
class GPTMetrics:
    """Held-out metrics of a :class:`TinyGPT`.

    Parameters
    ----------
    loss
        Mean cross-entropy at the last (full-context) position.
    accuracy
        Next-word top-1 accuracy at full context (``<unk>`` counts as a word).
    accuracy_known
        The same, over targets that are in the vocabulary.
    greedy_score
        Mean score of the greedy (argmax) predictions.
    expected_score
        Mean of ``E_p[score]`` under the predicted distribution.
    """

    loss: float
    accuracy: float
    accuracy_known: float
    greedy_score: float
    expected_score: float


@torch.no_grad()
def evaluate_gpt(
    model: TinyGPT,
    x: torch.Tensor,
    y: torch.Tensor,
    scores: torch.Tensor | None = None,
    batch_size: int = 4096,
) -> GPTMetrics:
    """Metrics of predicting ``y[:, -1]`` from the full windows ``x`` ``(N, T)``."""
    was_training = model.training
    model.eval()
    v = model.config.vocab_size
    s = scores if scores is not None else torch.zeros(v)
    loss = correct = known = correct_known = 0.0
    greedy = expected = 0.0
    for i in range(0, x.shape[0], batch_size):
        logits = model(x[i : i + batch_size])[:, -1, :]  # (B, V)
        target = y[i : i + batch_size, -1]  # (B,)
        pred = logits.argmax(dim=-1)
        hit = pred == target
        is_known = target != 0
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += float(hit.sum())
        known += float(is_known.sum())
        correct_known += float((hit & is_known).sum())
        greedy += float(s[pred].sum())
        expected += float((F.softmax(logits, dim=-1) @ s).sum())
    model.train(was_training)
    n = max(1, x.shape[0])
    return GPTMetrics(loss / n, correct / n, correct_known / max(1.0, known), greedy / n, expected / n)


def train_gpt(
    model: TinyGPT,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 1,
    batch_size: int = 256,
    lr: float = 3e-3,
    weight_decay: float = 0.01,
    adversary_weight: float = 0.0,
    scores: torch.Tensor | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train on windows ``x``/``y`` ``(N, T)`` with AdamW and a cosine learning-rate decay.

    The loss is ``CE − w · mean(E_p[score])``: cross-entropy over every position, minus the
    adversary weight ``w`` times the expected per-word score under the predicted
    distribution ``p = softmax(logits)``. ``w = 0`` is plain language modelling.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``loss`` (total), ``ce``, ``score`` (mean ``E_p[score]``), ``seconds``.
    """
    if adversary_weight and scores is None:
        raise ConfigError("an adversary weight needs per-word scores", field="scores")
    if adversary_weight < 0:
        raise ConfigError(f"must be >= 0. Got {adversary_weight}.", field="adversary_weight")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    history: list[dict[str, float]] = []
    step = 0
    model.train()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
        ce_sum = score_sum = 0.0
        batches = 0
        for i in range(0, n, batch_size):
            if step >= total:
                break
            idx = perm[i : i + batch_size]
            logits = model(x[idx])  # (B, T, V)
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[idx].reshape(-1))
            loss = ce
            if scores is not None:
                exp_score = (F.softmax(logits, dim=-1) @ scores).mean()  # E_p[score], averaged
                if adversary_weight:
                    loss = ce - adversary_weight * exp_score
                score_sum += float(exp_score.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ce_sum += float(ce.detach())
            batches += 1
            step += 1
        if batches == 0:
            break
        row = {
            "epoch": float(epoch),
            "ce": ce_sum / batches,
            "score": score_sum / batches,
            "loss": ce_sum / batches - adversary_weight * score_sum / batches,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
    return history
