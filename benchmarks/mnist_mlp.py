"""MNIST softmax MLP (784-512-256-128-64-10): fedloom's trainer vs a plain PyTorch loop.

Both train the same network from the same initial weights on the same data (SGD, momentum
0.9, lr 0.01, batch 64) in the same process, single-threaded on CPU; the JSON reports test
accuracy (fraction) and seconds per epoch of each, and fedloom's overhead over plain torch.
The FedAvg half (3 IID clients) comes with the federated components; ``fedavg`` is null.

Run ``python benchmarks/mnist_mlp.py [--quick] --json`` after ``fedloom datasets fetch mnist``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import torch.nn.functional as F  # noqa: N812

from fedloom.models.datasets import load_image_dataset
from fedloom.models.mlp import MLP
from fedloom.models.train import TrainConfig, evaluate, fit

LR, MOMENTUM, BATCH, SEED = 0.01, 0.9, 64, 0


def load(limit: int | None) -> tuple[torch.Tensor, ...]:
    def prep(split: str, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = load_image_dataset("mnist", split, limit=n)
        x = torch.from_numpy(images).float().div_(255.0).sub_(0.1307).div_(0.3081).reshape(len(images), -1)
        return x, torch.from_numpy(labels)  # (N, 784), (N,)

    return (*prep("train", limit), *prep("test", None))


def plain_torch(model: MLP, x: torch.Tensor, y: torch.Tensor, epochs: int) -> list[float]:
    """The reference loop: shuffle, forward, NLL, backward, step; running loss per epoch."""
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    g = torch.Generator().manual_seed(SEED)
    times = []
    model.train()
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0], generator=g)
        running = 0.0
        for i in range(0, x.shape[0], BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad()
            loss = F.nll_loss(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            running += loss.item()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k training images, 2 epochs")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    epochs = args.epochs or (2 if args.quick else 10)
    x, y, x_test, y_test = load(20_000 if args.quick else None)

    torch.manual_seed(SEED)
    init = MLP().state_dict()

    plain = MLP()
    plain.load_state_dict(init)
    plain_times = plain_torch(plain, x, y, epochs)
    _, plain_acc = evaluate(plain, x_test, y_test)

    ours = MLP()
    ours.load_state_dict(init)
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, optimizer="sgd", lr=LR, momentum=MOMENTUM, seed=SEED)
    result = fit(ours, x, y, cfg)
    _, ours_acc = evaluate(ours, x_test, y_test)
    ours_times = [h["seconds"] for h in result.history]

    med_plain, med_ours = statistics.median(plain_times), statistics.median(ours_times)
    out = {
        "benchmark": "mnist_mlp",
        "quick": args.quick,
        "epochs": epochs,
        "train_examples": int(x.shape[0]),
        "test_examples": int(x_test.shape[0]),
        "threads": torch.get_num_threads(),
        "centralised": {
            "test_accuracy": round(ours_acc, 4),
            "epoch_seconds": round(med_ours, 3),
            "epoch_seconds_all": [round(t, 3) for t in ours_times],
        },
        "plain_torch": {
            "test_accuracy": round(plain_acc, 4),
            "epoch_seconds": round(med_plain, 3),
            "epoch_seconds_all": [round(t, 3) for t in plain_times],
        },
        "overhead": round(med_ours / med_plain - 1.0, 4),
        "fedavg": None,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
