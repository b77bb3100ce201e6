"""FedAvg party functions run by the launcher test, each in its own OS process (imported by name)."""

from __future__ import annotations

from typing import Any

import torch

from fedloom.context import Context
from fedloom.ml.homo.nn import HomoNNArbiter, HomoNNClient, evaluate
from fedloom.ml.homo.params import HomoNNParams
from fedloom.models.mlp import MLP, MLPConfig

PARAMS = {"max_iter": 3, "local_epochs": 1, "batch_size": 32, "lr": 0.05}


def blobs(seed: int, n: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """Three Gaussian classes in 8 dimensions; the centres are the same for every seed."""
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return centres[y] + torch.randn(n, 8, generator=g), y


def factory() -> MLP:
    return MLP(MLPConfig(8, (16,), 3))


def client(ctx: Context, seed: int) -> dict[str, Any]:
    torch.set_num_threads(1)
    result = HomoNNClient(HomoNNParams(**PARAMS), factory).fit(ctx, blobs(seed))
    _, acc, _ = evaluate(result.model, blobs(99))
    weights = torch.cat([p.detach().reshape(-1) for p in result.model.parameters()])
    return {"accuracy": acc, "rounds": result.history.n_rounds, "checksum": float(weights.double().sum())}


def arbiter(ctx: Context) -> dict[str, Any]:
    res = HomoNNArbiter(HomoNNParams(**PARAMS)).fit(ctx)
    return {"rounds": len(res.rounds), "samples": res.rounds[-1]["samples"], "loss": res.rounds[-1]["loss"]}
