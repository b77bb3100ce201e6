"""What a BERT-family encoder does to sentences: the BERT tutorial's first task, as data.

:func:`explore_bert` tokenises each sentence with WordPiece (``[CLS]`` first, ``[SEP]``
last), counts the model's parameters and tensors, runs the padded batch through the encoder
with every hidden state (the embeddings, then one per layer: 7 for MiniLM-L6), mean-pools the
last hidden state over each sentence's real tokens (:meth:`BertEncoder.sentence_vectors`) and
compares the pooled vectors pairwise by cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError

__all__ = ["explore_bert"]


def explore_bert(
    sentences: Sequence[str], model: str | Path | None = None, *, max_length: int = 128
) -> dict[str, Any]:
    """Tokens, ids, sizes, hidden-state shapes, pooled embeddings and their cosine similarities.

    Parameters
    ----------
    sentences
        One or more texts.
    model
        Local model folder; ``None``: the MiniLM package.
    max_length
        Truncation length (tokens, ``[CLS]``/``[SEP]`` included).

    Returns
    -------
    dict
        ``model`` (folder), ``parameters``, ``tensors`` (named parameter tensors),
        ``sentences`` (per sentence: ``text``, ``tokens``, ``ids``), ``hidden_states``
        (shape ``[B, T, C]`` of each, embeddings first), ``embedding_dim``, ``embeddings``
        (pooled vectors, one list per sentence) and ``cosine`` (``B × B`` list of lists).
    """
    import torch

    from fedloom.models.bert import BertEncoder, cosine

    if not sentences:
        raise ConfigError("give at least one sentence", field="sentences")
    enc = BertEncoder(model, max_length=max_length, device="cpu")
    rows = []
    for text in sentences:
        ids = enc.encode(text)
        rows.append({"text": text, "tokens": enc.tokenizer.convert_ids_to_tokens(ids), "ids": ids})
    states = enc.hidden_states(list(sentences))
    vectors = enc.sentence_vectors(list(sentences))  # (B, C)
    sims = cosine(vectors.unsqueeze(1), vectors.unsqueeze(0))  # (B, B)
    named = list(enc.model.named_parameters())
    return {
        "model": str(enc.path),
        "parameters": int(sum(p.numel() for _, p in named)),
        "tensors": len(named),
        "sentences": rows,
        "hidden_states": [list(h.shape) for h in states],
        "embedding_dim": int(vectors.shape[1]),
        "embeddings": vectors.tolist(),
        "cosine": torch.round(sims, decimals=6).tolist(),
    }
