"""Homo NN: FedAvg of any torch model of :mod:`fedloom.models` (or any ``torch.nn.Module``).

Each client (guest and hosts) builds the model with ``model_factory()`` under ``params.seed``,
the guest's initial weights go to the hosts, and every round each client trains
``params.local_epochs`` epochs on its own data with a plain loop (the same batching and seeded
shuffling as :func:`fedloom.models.train.fit`, optimiser state kept across rounds), then sends
``(n_i·w_i, n_i·loss_i, n_i)`` through secure aggregation; the arbiter divides by ``Σ n_i`` and
sends the global weights back. "Weights" are the whole ``state_dict`` (parameters and buffers
such as BatchNorm statistics) as one float64 vector (:func:`state_to_vector`); torch tensors never
cross parties, only that numpy vector.

With one client, FedAvg is local training: the weights equal :func:`fedloom.models.train.fit`'s
with the same seed up to the fixed-point rounding of secure aggregation (≤ 2^-(f+1) per value
per round).

What each party learns: the arbiter learns the global model each round, the clients' weighted
mean training loss, validation loss and accuracy, and the total sample counts; a client learns
the global model. See :mod:`fedloom.protocols.secure_aggregation` for the threat model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.ml.homo.arbiter import FedAvgArbiter, FedAvgResult
from fedloom.ml.homo.client import FedAvgClient, FedAvgHistory, finite_loss
from fedloom.ml.homo.params import HomoNNParams
from fedloom.ml.torch_layers import make_loss, make_optimizer

__all__ = [
    "HomoNNArbiter",
    "HomoNNClient",
    "HomoNNResult",
    "make_loss",
    "state_to_vector",
    "vector_to_state",
]

log = logging.getLogger(__name__)

_SEEDED_BUILD = threading.Lock()

Dataset = tuple[torch.Tensor, torch.Tensor]


def state_to_vector(model: nn.Module) -> np.ndarray:
    """Every entry of ``model.state_dict()`` (parameters and buffers), flattened in order, as float64."""
    parts = [t.detach().reshape(-1).to(torch.float64).cpu() for t in model.state_dict().values()]
    if not parts:
        return np.zeros(0)
    return torch.cat(parts).numpy()


@torch.no_grad()
def vector_to_state(model: nn.Module, vector: np.ndarray) -> None:
    """Load ``vector`` (from :func:`state_to_vector` of the same architecture) into ``model`` in place.

    Integer buffers (``num_batches_tracked``) are rounded.

    Raises
    ------
    DataError
        The vector's length differs from the model's.
    """
    state = model.state_dict()
    total = sum(t.numel() for t in state.values())
    if vector.shape != (total,):
        raise DataError(f"the weight vector has {vector.shape} values; the model has {total}")
    src = torch.from_numpy(np.ascontiguousarray(vector))
    offset = 0
    for tensor in state.values():
        n = tensor.numel()
        chunk = src[offset : offset + n].reshape(tensor.shape)
        if not tensor.is_floating_point():
            chunk = chunk.round()
        tensor.copy_(chunk.to(tensor.dtype))  # state_dict tensors share storage with the model
        offset += n


def _correct(name: str, out: torch.Tensor, y: torch.Tensor) -> int | None:
    """Correct predictions in a batch, or ``None`` for regression losses."""
    if name in ("BCELoss", "BCEWithLogitsLoss"):
        cut = 0.5 if name == "BCELoss" else 0.0
        return int(((out > cut).to(y.dtype) == y).sum())
    if name in ("auto", "CrossEntropyLoss", "NLLLoss"):
        return int((out.argmax(dim=-1) == y).sum())
    return None


def _optimizer(model: nn.Module, p: HomoNNParams) -> torch.optim.Optimizer:
    return make_optimizer(
        model.parameters(),
        p.optimizer,
        lr=p.lr,
        weight_decay=p.weight_decay,
        momentum=p.momentum,
        extra=p.optimizer_params,
    )


@dataclass
class HomoNNResult:
    """A client's outcome: the trained global model and its round history."""

    model: nn.Module
    history: FedAvgHistory


class HomoNNClient(FedAvgClient):
    """A Homo NN client (guest or host): trains locally, aggregates securely each round.

    Parameters
    ----------
    params
        FedAvg and local training settings (the arbiter's must agree).
    model_factory
        Builds the model; called once, under ``torch.manual_seed(params.seed)``.

    Examples
    --------
    >>> client = HomoNNClient(HomoNNParams(max_iter=5), lambda: MLP())   # doctest: +SKIP
    >>> result = client.fit(ctx, (x, y))                                  # doctest: +SKIP
    """

    params: HomoNNParams

    def __init__(self, params: HomoNNParams, model_factory: Callable[[], nn.Module]) -> None:
        self.params = params
        self.model_factory = model_factory
        self.model: nn.Module | None = None
        self._data: Dataset | None = None
        self._val: Dataset | None = None
        self._opt: torch.optim.Optimizer | None = None
        self._loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def fit(self, ctx: Context, dataset: Dataset, validate: Dataset | None = None) -> HomoNNResult:
        """Federated training on this client's ``(x, y)``; every client and the arbiter call ``fit``.

        Parameters
        ----------
        ctx
            This party's context (a namespace of its own, e.g. the component's).
        dataset
            ``(x, y)``: inputs ``(N, ...)`` and targets ``(N,)`` (class indices) or as the loss needs.
        validate
            Optional ``(x, y)`` evaluated under the global model after every round.
        """
        p = self.params
        x, y = dataset
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise DataError(f"x has {x.shape[0]} rows and y {y.shape[0]}; need the same number, > 0")
        # Parties may be threads of one process (tests): build under a private, seeded copy of
        # the global generator, one party at a time, so no other thread's draws interleave.
        with _SEEDED_BUILD, torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            self.model = self.model_factory()
        self._data, self._val = dataset, validate
        self._opt = _optimizer(self.model, p)
        self._loss = make_loss(p.loss, self.model)
        history = self.federate(ctx)
        return HomoNNResult(self.model, history)

    def get_weights(self) -> np.ndarray:
        assert self.model is not None
        return state_to_vector(self.model)

    def set_weights(self, weights: np.ndarray) -> None:
        assert self.model is not None
        vector_to_state(self.model, weights)

    def local_train(self, round_index: int) -> tuple[float, int]:
        assert self.model is not None and self._data is not None and self._opt is not None and self._loss
        p, model, opt, loss_fn = self.params, self.model, self._opt, self._loss
        x, y = self._data
        n = x.shape[0]
        bs = n if p.batch_size == -1 else p.batch_size
        model.train()
        total = 0.0
        for e in range(p.local_epochs):
            epoch = round_index * p.local_epochs + e + 1  # global, 1-based: the shuffles of models.train.fit
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(p.seed * 1_000_003 + epoch))
            total_t = torch.zeros(())
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                xb, yb = x[idx], y[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                if p.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), p.max_grad_norm)
                opt.step()
                total_t += loss.detach() * yb.shape[0]
            advice = f"lower the learning rate (now {p.lr:g}) or set max_grad_norm"
            total = finite_loss(float(total_t) / n, round_index, advice, "lr")
        return total, n

    @torch.no_grad()
    def validate(self) -> tuple[float, float, int] | None:
        if self._val is None:
            return None
        assert self.model is not None and self._loss is not None
        return evaluate(self.model, self._val, self.params.loss, self._loss)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    loss_name: str = "auto",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 1024,
) -> tuple[float, float, int]:
    """Mean loss, accuracy (NaN for regression losses) and row count of ``model`` on ``(x, y)``."""
    loss_fn = loss_fn or make_loss(loss_name, model)
    was = model.training
    model.eval()
    x, y = data
    total, correct, regression = 0.0, 0, False
    for i in range(0, x.shape[0], batch_size):
        out = model(x[i : i + batch_size])
        yb = y[i : i + batch_size]
        total += float(loss_fn(out, yb)) * yb.shape[0]
        c = _correct(loss_name, out, yb)
        regression = regression or c is None
        correct += c or 0
    model.train(was)
    n = max(1, x.shape[0])
    return total / n, (float("nan") if regression else correct / n), int(x.shape[0])


class HomoNNArbiter:
    """The Homo NN arbiter: aggregates, never sees data or a single client's weights.

    Parameters
    ----------
    params
        Must agree with the clients' on the federation settings.
    """

    def __init__(self, params: HomoNNParams) -> None:
        self.params = params

    def fit(self, ctx: Context) -> FedAvgResult:
        """Run every round (see :class:`fedloom.ml.homo.arbiter.FedAvgArbiter`)."""
        return FedAvgArbiter(self.params.fedavg()).fit(ctx)


def describe(model: nn.Module) -> dict[str, int]:
    """Parameter and value counts of a model (for summaries)."""
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "state_values": sum(t.numel() for t in model.state_dict().values()),
    }
