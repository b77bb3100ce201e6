"""Tiny word-level GPT on Jane Austen: next-word accuracy and the adversary (reward) term.

Trains the default tiny model (vocabulary 500, context 5, embedding 8, 2 heads, 2 blocks,
feed-forward 32) on the first 90% of each novel, evaluates next-word top-1 accuracy on the
last 10%, then continues training two copies for the same number of steps: one with the
adversary term ``loss = CE − w·E_p[count of 'e']`` and one without (control). The JSON
reports accuracy and mean score before/after, sample generations and, without ``--quick``,
a short run of the larger nanoGPT-style configuration.

Run ``python benchmarks/tiny_gpt.py [--quick] --json`` after ``fedloom datasets fetch austen``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import asdict

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from fedloom.models.datasets import load_austen, tokenize_words
from fedloom.models.tiny_gpt import (
    GPTConfig,
    TinyGPT,
    Vocab,
    evaluate_gpt,
    letter_score,
    make_windows,
    train_gpt,
)

PROMPT = ["it", "is", "a", "truth", "universally", "acknowledged", ",", "that", "a", "single", "man"]


def split_corpus() -> tuple[list[str], list[str]]:
    train: list[str] = []
    test: list[str] = []
    for lines in load_austen().values():
        toks = tokenize_words(" ".join(lines))
        cut = int(len(toks) * 0.9)
        train += toks[:cut]
        test += toks[cut:]
    return train, test


def metrics(model: TinyGPT, xt: torch.Tensor, yt: torch.Tensor, scores: torch.Tensor) -> dict[str, float]:
    return {k: round(v, 4) for k, v in asdict(evaluate_gpt(model, xt, yt, scores)).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, no nanoGPT run")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--weight", type=float, default=0.3, help="adversary weight w")
    parser.add_argument("--letter", default="e")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()

    train_toks, test_toks = split_corpus()
    vocab = Vocab.build(train_toks, 500)
    cfg = GPTConfig(vocab_size=len(vocab))
    x, y = make_windows(vocab.encode(train_toks), cfg.context)  # (N, 5) each
    xt, yt = make_windows(vocab.encode(test_toks), cfg.context)
    scores = letter_score(vocab, args.letter)

    base_steps = 1000 if args.quick else 3 * ((x.shape[0] + 255) // 256)
    extra_steps = 300 if args.quick else 1500
    torch.manual_seed(0)
    model = TinyGPT(cfg)
    t0 = time.perf_counter()
    hist = train_gpt(model, x, y, epochs=3, batch_size=256, lr=1e-2, scores=scores, max_steps=base_steps)
    base_seconds = time.perf_counter() - t0
    before = metrics(model, xt, yt, scores)

    adv = copy.deepcopy(model)
    train_gpt(
        adv,
        x,
        y,
        epochs=1,
        lr=3e-3,
        adversary_weight=args.weight,
        scores=scores,
        max_steps=extra_steps,
        seed=1,
    )
    control = copy.deepcopy(model)
    train_gpt(control, x, y, epochs=1, lr=3e-3, scores=scores, max_steps=extra_steps, seed=1)
    gen = torch.Generator().manual_seed(0)
    samples = {
        "prompt": " ".join(PROMPT),
        "greedy": " ".join(model.complete(vocab, PROMPT, 12, greedy=True)),
        "sampled": " ".join(model.complete(vocab, PROMPT, 12, temperature=0.8, top_k=40, generator=gen)),
        "greedy_adversary": " ".join(adv.complete(vocab, PROMPT, 12, greedy=True)),
    }
    out: dict[str, object] = {
        "benchmark": "tiny_gpt",
        "quick": args.quick,
        "corpus": {
            "train_tokens": len(train_toks),
            "test_tokens": len(test_toks),
            "vocab": len(vocab),
            "unk_rate_test": round(float((yt[:, -1] == 0).float().mean()), 4),
        },
        "config": asdict(cfg),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train": {
            "steps": base_steps,
            "seconds": round(base_seconds, 1),
            "final_ce": round(hist[-1]["ce"], 4),
        },
        "test_accuracy": before["accuracy"],
        "adversary": {
            "score": f"count of '{args.letter}' per word",
            "weight": args.weight,
            "extra_steps": extra_steps,
            "before": before,
            "after": metrics(adv, xt, yt, scores),
            "control_no_adversary": metrics(control, xt, yt, scores),
        },
        "samples": samples,
    }
    if not args.quick:
        train_big, test_big = train_toks, test_toks
        nano_vocab = Vocab.build(train_big, 5000)
        ncfg = GPTConfig.nano(len(nano_vocab))
        nx, ny = make_windows(nano_vocab.encode(train_big), ncfg.context, stride=ncfg.context // 2)
        ntx, nty = make_windows(nano_vocab.encode(test_big), ncfg.context, stride=ncfg.context)
        torch.manual_seed(0)
        nano = TinyGPT(ncfg)
        t0 = time.perf_counter()
        train_gpt(nano, nx, ny, epochs=1, batch_size=64, lr=1e-3, max_steps=600)
        out["nano"] = {
            "config": asdict(ncfg),
            "parameters": sum(p.numel() for p in nano.parameters()),
            "steps": 600,
            "seconds": round(time.perf_counter() - t0, 1),
            "test": {
                k: v
                for k, v in metrics(nano, ntx, nty, torch.zeros(len(nano_vocab))).items()
                if k in ("loss", "accuracy", "accuracy_known")
            },
            "greedy": " ".join(nano.complete(nano_vocab, PROMPT, 12, greedy=True, ban_unk=True)),
        }
    out["total_seconds"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
