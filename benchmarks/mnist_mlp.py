"""MNIST softmax MLP (784-512-256-128-64-10): fedloom's trainer vs a plain PyTorch loop.

Both train the same network from the same initial weights on the same data (SGD, momentum
0.9, lr 0.01, batch 64) in the same process, single-threaded on CPU; the JSON reports test
accuracy (fraction) and seconds per epoch of each, and fedloom's overhead over plain torch.
``fedavg``: the same network trained by FedAvg with secure aggregation over 3 IID clients (the
training set dealt round-robin into 3 shards), each client a party of a real federation
(:func:`fedloom.testing.run_parties`: one thread per party over the in-memory transport, masks,
codec and all), one local epoch per round and as many rounds as the centralised run has epochs,
so every example is seen as often; ``epoch_seconds`` is the median wall time of a round (the 3
clients train in parallel threads, one torch thread each, on the shared cores).

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

from fedloom.ml.homo.nn import HomoNNArbiter, HomoNNClient
from fedloom.ml.homo.params import HomoNNParams
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


def fedavg(
    init: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, rounds: int, clients: int = 3
) -> tuple[MLP, dict[str, float | int]]:
    """FedAvg over ``clients`` IID shards; returns the global model and round statistics."""
    from fedloom.testing import run_parties

    params = HomoNNParams(
        max_iter=rounds,
        local_epochs=1,
        batch_size=BATCH,
        optimizer="sgd",
        lr=LR,
        momentum=MOMENTUM,
        seed=SEED,
    )

    def factory() -> MLP:
        model = MLP()
        model.load_state_dict(init)
        return model

    def client(i: int):  # type: ignore[no-untyped-def]
        return lambda ctx: HomoNNClient(params, factory).fit(ctx, (x[i::clients], y[i::clients]))

    parties = ["guest:9999"] + [f"host:{10000 + i}" for i in range(clients - 1)]
    fns = {p: client(i) for i, p in enumerate(parties)}
    fns["arbiter:10000"] = lambda ctx: HomoNNArbiter(params).fit(ctx)
    out = run_parties(fns, timeout=600)
    arb = out["arbiter:10000"]
    stats = {
        "rounds": len(arb.rounds),
        "epoch_seconds": statistics.median(r["seconds"] for r in out["guest:9999"].history.rounds),
        "final_train_loss": arb.rounds[-1]["loss"],
    }
    return out["guest:9999"].model, stats


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

    fed_model, fed_stats = fedavg(init, x, y, epochs)
    _, fed_acc = evaluate(fed_model, x_test, y_test)

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
        "fedavg": {
            "clients": 3,
            "secure_aggregation": True,
            "test_accuracy": round(fed_acc, 4),
            "rounds": fed_stats["rounds"],
            "local_epochs_per_round": 1,
            "epoch_seconds": round(float(fed_stats["epoch_seconds"]), 3),
            "gap_to_centralised": round(fed_acc - ours_acc, 4),
        },
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
