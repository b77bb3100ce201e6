"""A training recipe (:mod:`fedloom.models.recipe`) run federated: FedAvg with secure aggregation.

The party functions here run one party each (the launcher starts them as OS processes; see
:mod:`fedloom.runner.nn_federated`). Every client process reads the recipe's whole dataset from
the offline cache and keeps only its share, computed from the split and the seed
(:mod:`fedloom.models.datasets.split`), so no example crosses parties; each client holds out
``train.val_fraction`` of its share for validation. Then :class:`RecipeClient` (a
:class:`~fedloom.ml.homo.nn.HomoNNClient` whose loss and evaluation come from the workload) and
:class:`~fedloom.ml.homo.nn.HomoNNArbiter` run the protocol of :mod:`fedloom.ml.homo.client`::

    for each round r = 1..R:
        client i: E local epochs (the recipe's batch size, optimiser, lr, seed) -> w_i, loss_i, n_i
        secure aggregation: the arbiter learns only  w = Σ n_i·w_i / Σ n_i  and  Σ n_i·loss_i / Σ n_i
        every client loads w; validates it on its held-out share -> aggregated (Σ m_i·acc_i / Σ m_i)
        client 0 (guest) also scores w on the recipe's test split (public benchmark data)

Local optimiser state persists across rounds, and the recipe's learning-rate schedule runs over
the run's local epochs (rounds × local epochs) as the local run's runs over its epochs; early
stopping is not applied (FedAvg runs the fixed number of rounds). Every party checkpoints each
round (:mod:`fedloom.ml.homo.round_checkpoints`), so a killed run resumes where it stopped with
the weights an uninterrupted run would have.

A workload says how a recipe's data become tensors and how a batch is scored
(:class:`Workload`); :class:`RecipeWorkload` serves every recipe through the local run's
:func:`fedloom.models.recipe.prepare_recipe` (images, tabular, the tiny GPT, BERT).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.core.roles import GUEST
from fedloom.ml.homo.arbiter import FedAvgArbiter, FedAvgResult
from fedloom.ml.homo.client import FedAvgHistory, finite_loss
from fedloom.ml.homo.nn import HomoNNClient
from fedloom.ml.homo.params import FedAvgParams, HomoNNParams
from fedloom.ml.homo.round_checkpoints import load_round, save_round
from fedloom.models.datasets.split import chunked_iid, parse_split, split_indices
from fedloom.models.recipe import Recipe, parse_recipe
from fedloom.models.train import TrainConfig, make_schedule, plot_curves

__all__ = [
    "FederatedSettings",
    "RecipeArbiter",
    "RecipeClient",
    "RecipeWorkload",
    "TokenTableModel",
    "Workload",
    "arbiter_party",
    "client_party",
    "homo_params",
    "merge_rounds",
    "plot_rounds",
    "token_model",
    "workload_for",
]

log = logging.getLogger(__name__)

Dataset = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class FederatedSettings:
    """How a recipe is federated.

    Attributes
    ----------
    clients
        Number of clients (the guest and ``clients - 1`` hosts).
    split
        ``iid`` or ``dirichlet:ALPHA`` (:func:`fedloom.models.datasets.split.parse_split`).
    rounds
        Aggregation rounds.
    local_epochs
        Local epochs per round.
    secure_aggregate
        Pairwise-mask secure aggregation (default; off only to measure its cost).
    """

    clients: int = 3
    split: str = "iid"
    rounds: int = 10
    local_epochs: int = 1
    secure_aggregate: bool = True

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        for name in ("clients", "rounds", "local_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"field '{name}': must be an int >= 1. Got {value!r}.", field=name)
        parse_split(self.split)


def homo_params(recipe: Recipe, fed: FederatedSettings) -> HomoNNParams:
    """The recipe's ``train`` section as FedAvg's local training settings."""
    t = recipe.train
    return HomoNNParams(
        max_iter=fed.rounds,
        local_epochs=fed.local_epochs,
        secure_aggregate=fed.secure_aggregate,
        seed=t.seed,
        batch_size=t.batch_size,
        optimizer=t.optimizer,
        lr=t.lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
    )


class Workload(Protocol):
    """What a federated recipe run needs from a kind of recipe."""

    def build(self) -> nn.Module:
        """The recipe's model (the same initial weights on every client)."""

    def client_data(
        self, index: int, fed: FederatedSettings
    ) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        """Client ``index``'s training data, its held-out validation data and a description
        (``samples``, and per-class counts where there are classes) for the run summary."""

    def has_test(self) -> bool:
        """Whether the recipe has a test split."""

    def test(self, model: nn.Module) -> dict[str, float]:
        """Test metrics of ``model`` (``test_loss``, ``test_accuracy``, ...)."""

    def loss(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """Mean training loss of one batch."""

    def evaluate(self, model: nn.Module, data: Dataset) -> tuple[float, float, int]:
        """Mean loss, accuracy and row count of ``model`` on ``data``."""

    def save(self, model: nn.Module, out: Path) -> None:
        """Write the model as the local run does (``model.pt``, a GPT's vocabulary...)."""


def _holdout(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """``fraction`` of ``(x, y)`` held out (seeded), as :func:`fedloom.models.train.fit` splits."""
    if fraction <= 0 or x.shape[0] < 2:
        return (x, y), None
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(x.shape[0] * fraction))
    val, tr = perm[:n_val], perm[n_val:]
    return (x[tr], y[tr]), (x[val], y[val])


#: Context windows per chunk of a text split: consecutive windows overlap (stride 1), so a text
#: corpus is dealt to clients as whole passages of this many windows, never window by window.
TEXT_CHUNK = 512


class RecipeWorkload:
    """Any recipe, through :func:`fedloom.models.recipe.prepare_recipe` (the local run's data,
    model, loss, test metrics and artifacts): images, tabular, the tiny GPT, BERT.

    Classification targets ``(N,)`` split ``iid`` or ``dirichlet:ALPHA``; sequence targets
    ``(N, T)`` (the GPT's windows) only ``iid``, by passages of :data:`TEXT_CHUNK` windows. The
    adversary phase of a GPT recipe is not federated.

    Parameters
    ----------
    recipe
        The validated recipe.
    """

    def __init__(self, recipe: Recipe) -> None:
        from fedloom.models.recipe import prepare_recipe

        self.recipe = recipe
        self.task = prepare_recipe(recipe)

    def build(self) -> nn.Module:
        model: nn.Module = self.task.build_model()
        return model

    def client_data(
        self, index: int, fed: FederatedSettings
    ) -> tuple[Dataset, Dataset | None, dict[str, Any]]:
        x, y, seed = self.task.x, self.task.y, self.recipe.train.seed
        described: dict[str, Any] = {}
        if y.ndim == 1:
            labels = y.numpy()
            share = split_indices(len(labels), fed.clients, fed.split, seed, labels=labels)[index]
            described["class_counts"] = np.bincount(labels[share], minlength=self.task.n_classes).tolist()
        elif parse_split(fed.split).kind == "iid":
            share = chunked_iid(x.shape[0], fed.clients, TEXT_CHUNK, seed)[index]
        else:
            raise ConfigError(
                f"field 'split': {fed.split} splits over class labels; {self.recipe.dataset.name} "
                "has sequences (use iid: passages are dealt to the clients)",
                field="split",
            )
        idx = torch.from_numpy(share)
        train, val = _holdout(x[idx], y[idx], self.recipe.train.val_fraction, seed + index)
        return train, val, {"samples": len(share), **described}

    def has_test(self) -> bool:
        return self.task.x_test is not None and self.task.y_test is not None

    def test(self, model: nn.Module) -> dict[str, float]:
        return {k: float(v) for k, v in self.task.evaluate_test(model).items()}

    def loss(self, model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        from fedloom.ml.homo.nn import make_loss

        fn = self.task.loss_fn or make_loss("auto", model)
        loss: torch.Tensor = fn(model(xb), yb)
        return loss

    def evaluate(self, model: nn.Module, data: Dataset) -> tuple[float, float, int]:
        from fedloom.models.train import evaluate as evaluate_local

        batch = getattr(self.recipe.train, "eval_batch_size", 1024)
        loss, acc = evaluate_local(model, data[0], data[1], batch, self.task.loss_fn)
        return loss, acc, int(data[0].shape[0])

    def save(self, model: nn.Module, out: Path) -> None:
        self.task.save_artifacts(model, out)


def workload_for(recipe: Recipe) -> Workload:
    """The workload of ``recipe`` (every recipe goes through :class:`RecipeWorkload`)."""
    return RecipeWorkload(recipe)


class RecipeClient(HomoNNClient):
    """A Homo NN client whose batch loss and evaluation come from a :class:`Workload`.

    After every round (under the global model) it validates on its held-out share, which the
    arbiter aggregates, and, with ``test``, records the global model's test metrics
    (:meth:`Workload.test`) in :attr:`test_rows` (client 0 does; the test split is public
    benchmark data).
    """

    def __init__(
        self,
        params: HomoNNParams,
        workload: Workload,
        test: bool = False,
        checkpoints: Path | None = None,
        resume: int | None = None,
        train: TrainConfig | None = None,
    ) -> None:
        super().__init__(params, workload.build)
        self.workload = workload
        self.test = test
        self.test_rows: list[dict[str, float]] = []
        self.checkpoints = checkpoints
        self.resume = resume
        self.train = train
        self._sched: torch.optim.lr_scheduler.LRScheduler | None = None
        self._party = ""
        self._prior: list[dict[str, float]] = []

    def federate(self, ctx: Context, start: int = 0) -> FedAvgHistory:
        """The rounds, from round 0 or, resuming, after the checkpointed round ``resume``."""
        self._party = str(ctx.party)
        self._sched = self._schedule()
        if self.resume is not None and self.checkpoints is not None:
            start = self._restore(self.resume)
        history = super().federate(ctx, start)
        history.rounds = self._prior + history.rounds
        return history

    def _schedule(self) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The recipe's learning-rate schedule over this run's local epochs (rounds × local
        epochs), stepped as the local run steps it: the local run's learning rates, epoch by epoch."""
        if self.train is None or self.train.schedule == "none":
            return None
        assert self._opt is not None and self._data is not None
        p = self.params
        n = int(self._data[0].shape[0])
        config = dataclasses.replace(
            self.train,
            epochs=p.max_iter * p.local_epochs,
            batch_size=n if p.batch_size == -1 else p.batch_size,
            grad_accum=1,
        )
        return make_schedule(self._opt, config, n)

    def _restore(self, round_index: int) -> int:
        """Load this client's checkpoint of ``round_index``; the first round to run next."""
        assert self.checkpoints is not None and self._opt is not None
        state = load_round(self.checkpoints, self._party, round_index)
        assert self.model is not None
        self.model.load_state_dict(state["model"])
        self._opt.load_state_dict(state["optimizer"])
        if self._sched is not None and state.get("schedule") is not None:
            self._sched.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        self._prior = list(state["history"])
        self.test_rows = list(state["test_rows"])
        return self.params.max_iter if state["converged"] else round_index + 1

    def round_done(self, round_index: int, history: FedAvgHistory, converged: bool) -> None:
        """Checkpoint the round (see :mod:`fedloom.ml.homo.round_checkpoints`)."""
        if self.checkpoints is None:
            return
        assert self._opt is not None and self.model is not None
        state = {
            "model": self.model.state_dict(),  # the global weights, in the model's own dtypes
            "optimizer": self._opt.state_dict(),
            "schedule": None if self._sched is None else self._sched.state_dict(),
            "rng": torch.get_rng_state(),
            "history": self._prior + history.rounds,
            "test_rows": self.test_rows,
            "converged": converged,
        }
        save_round(self.checkpoints, self._party, round_index, state)

    def local_train(self, round_index: int) -> tuple[float, int]:
        """``local_epochs`` epochs with the shuffles of :meth:`HomoNNClient.local_train`."""
        assert self.model is not None and self._data is not None and self._opt is not None
        p, model, opt = self.params, self.model, self._opt
        x, y = self._data
        n = x.shape[0]
        bs = n if p.batch_size == -1 else p.batch_size
        model.train()
        total = 0.0
        warmup = self.train is not None and self.train.schedule == "warmup_linear"
        per_step, per_epoch = (self._sched, None) if warmup else (None, self._sched)
        for e in range(p.local_epochs):
            epoch = round_index * p.local_epochs + e + 1
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(p.seed * 1_000_003 + epoch))
            total_t = torch.zeros(())
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                opt.zero_grad(set_to_none=True)
                loss = self.workload.loss(model, x[idx], y[idx])
                loss.backward()
                if p.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), p.max_grad_norm)
                opt.step()
                if per_step is not None:
                    per_step.step()
                total_t += loss.detach() * idx.shape[0]
            if per_epoch is not None:
                per_epoch.step()
            advice = f"lower the learning rate (now {p.lr:g}) or set max_grad_norm"
            total = finite_loss(float(total_t) / n, round_index, advice, "train.lr")
        return total, n

    @torch.no_grad()
    def validate(self) -> tuple[float, float, int] | None:
        assert self.model is not None
        if self.test:
            t0 = time.perf_counter()
            row = self.workload.test(self.model)
            self.test_rows.append({**row, "test_seconds": time.perf_counter() - t0})
        return None if self._val is None else self.workload.evaluate(self.model, self._val)


def _setup(recipe: dict[str, Any], fed: dict[str, Any], threads: int) -> tuple[Recipe, FederatedSettings]:
    torch.set_num_threads(threads)
    r = parse_recipe(recipe)
    settings = FederatedSettings(**fed)
    settings.check()
    return r, settings


def client_party(
    ctx: Context,
    recipe: dict[str, Any],
    fed: dict[str, Any],
    index: int,
    threads: int = 1,
    checkpoints: str | None = None,
    resume_round: int | None = None,
) -> dict[str, Any]:
    """One client of a federated recipe run (a launcher target).

    Parameters
    ----------
    ctx
        This client's context (the guest is client 0, hosts 1..).
    recipe
        The recipe as plain data (:meth:`Recipe.to_dict`).
    fed
        :class:`FederatedSettings` as keyword arguments.
    index
        This client's position in the split.
    threads
        torch threads of this process.
    checkpoints, resume_round
        The folder of round checkpoints; continue after that checkpointed round
        (:mod:`fedloom.ml.homo.round_checkpoints`).

    Returns
    -------
    dict
        ``index``, ``data`` (its share: samples, class counts), ``rounds`` (its history),
        ``test`` (client 0: the global model's test metrics per round), ``model`` (client 0: the
        folder it saved the global model in, as the local run does), ``parameters``.
    """
    r, settings = _setup(recipe, fed, threads)
    # Dropout and other draws of the process' generator: seeded per client, so a run is reproducible
    # (and a resumed one continues the same draws from its checkpoint).
    torch.manual_seed(r.train.seed * 1_000_003 + 7_919 * (index + 1))
    workload = workload_for(r)
    train, val, described = workload.client_data(index, settings)
    first = ctx.role == GUEST
    client = RecipeClient(
        homo_params(r, settings),
        workload,
        test=first and workload.has_test(),
        checkpoints=Path(checkpoints) if checkpoints else None,
        resume=resume_round,
        train=r.train,
    )
    result = client.fit(ctx.sub("recipe_fedavg"), train, val)
    out: dict[str, Any] = {
        "index": index,
        "data": {
            **described,
            "train": int(train[0].shape[0]),
            "val": 0 if val is None else int(val[0].shape[0]),
        },
        "rounds": result.history.rounds,
        "test": client.test_rows,
        "parameters": sum(p.numel() for p in result.model.parameters()),
    }
    if first:
        folder = Path(r.output)
        folder.mkdir(parents=True, exist_ok=True)
        workload.save(result.model, folder)  # as the local run saves it
        out["model"] = str(folder)
    return out


class RecipeArbiter(FedAvgArbiter):
    """The FedAvg arbiter, checkpointing every round into ``checkpoints`` (when given)."""

    def __init__(self, params: FedAvgParams, checkpoints: Path | None, party: str) -> None:
        super().__init__(params)
        self.checkpoints, self.party = checkpoints, party
        self.prior: list[dict[str, float]] = []

    def resume(self, ctx: Context, round_index: int) -> FedAvgResult:
        """The rounds after the checkpointed ``round_index`` (none if that round converged)."""
        assert self.checkpoints is not None
        state = load_round(self.checkpoints, self.party, round_index)
        self.prior = list(state["rounds"])
        start = self.params.max_iter if state["converged"] else round_index + 1
        res = self.fit(ctx, start, state["weights"].numpy(), float(state["loss"]))
        res.rounds = self.prior + res.rounds
        res.converged = res.converged or bool(state["converged"])
        return res

    def round_done(self, round_index: int, result: FedAvgResult, weights: np.ndarray, loss: float) -> None:
        if self.checkpoints is None:
            return
        state = {
            "weights": torch.from_numpy(weights),
            "loss": loss,
            "rounds": self.prior + result.rounds,
            "converged": result.converged,
        }
        save_round(self.checkpoints, self.party, round_index, state)


def arbiter_party(
    ctx: Context,
    recipe: dict[str, Any],
    fed: dict[str, Any],
    threads: int = 1,
    checkpoints: str | None = None,
    resume_round: int | None = None,
) -> dict[str, Any]:
    """The arbiter of a federated recipe run (a launcher target): aggregates, sees no data.

    ``checkpoints``: the folder of round checkpoints; ``resume_round``: continue after that
    checkpointed round (:mod:`fedloom.ml.homo.round_checkpoints`).

    Returns
    -------
    dict
        ``rounds`` (per round: ``loss``, ``samples``, ``val_loss`` / ``val_accuracy``,
        ``weight_change``, ``seconds``), ``clients``.
    """
    r, settings = _setup(recipe, fed, threads)
    folder = Path(checkpoints) if checkpoints else None
    arbiter = RecipeArbiter(homo_params(r, settings).fedavg(), folder, str(ctx.party))
    sub = ctx.sub("recipe_fedavg")
    res = arbiter.fit(sub) if resume_round is None or folder is None else arbiter.resume(sub, resume_round)
    return {"rounds": res.rounds, "clients": res.clients}


def merge_rounds(
    arbiter_rounds: list[dict[str, float]], test_rows: list[dict[str, float]], local_epochs: int
) -> list[dict[str, float]]:
    """One metrics row per round, as the local run's ``metrics.json`` rows are per epoch.

    ``round`` is 1-based, ``epoch`` the local epochs done by then; ``train_loss`` is the
    arbiter's weighted mean of the clients' last local epoch; ``val_*`` aggregated over the
    clients' held-out shares; ``test_*`` client 0's score of the global model.
    """
    rows = []
    for i, a in enumerate(arbiter_rounds):
        row: dict[str, float] = {
            "round": int(a["round"]) + 1,
            "epoch": (int(a["round"]) + 1) * local_epochs,
            "train_loss": a["loss"],
            "samples": a["samples"],
        }
        for key in ("val_loss", "val_accuracy", "weight_change"):
            if key in a:
                row[key] = a[key]
        if i < len(test_rows):
            row.update({k: v for k, v in test_rows[i].items() if k != "test_seconds"})
        row["seconds"] = a["seconds"]
        rows.append(row)
    return rows


def plot_rounds(rows: list[dict[str, float]], path: str | Path) -> Path | None:
    """Loss and accuracy per round (train, validation, test where present) as a PNG, the two
    panels of the local run's ``curves.png`` with rounds on the x axis.

    Returns ``None`` (and logs a warning) when matplotlib is not installed.
    """
    titles = ("loss (FedAvg)", "accuracy (global model)")
    return plot_curves(rows, path, x="round", splits=("train", "val", "test"), titles=titles)


#: Recipe models a HomoNN DSL job may name for tables of token ids (``model: {"name": ...}``).
TOKEN_MODELS = ("tiny_gpt", "bert")


class TokenTableModel(nn.Module):
    """A text model of a recipe on a table of token ids, for the HomoNN DSL component.

    A table row is ``T`` token ids as float features (exact below 2^24); the output is the
    log-probabilities of the row's class ``(B, K)``, which HomoNN trains with NLL and turns into
    FATE's predictions:

    - ``tiny_gpt``: the row is a context window, the class the next word (``K`` = vocabulary);
      the log-softmax of the last position's logits.
    - ``bert``: the row is a padded review (pad id 0, so the attention mask is ``ids != 0``), the
      class its sentiment; the log-softmax of the classifier's logits.
    """

    output = "log_probs"

    def __init__(self, name: str, inner: nn.Module) -> None:
        super().__init__()
        self.name = name
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = x.round().long()  # (B, T)
        if self.name == "tiny_gpt":
            logits = self.inner(ids)[:, -1, :]  # (B, T, V) -> (B, V)
        else:
            logits = self.inner(torch.stack([ids, (ids != 0).long()], dim=1))  # (B, 2, T) -> (B, K)
        return torch.log_softmax(logits, dim=-1)


def token_model(name: str, params: dict[str, Any], n_classes: int, in_features: int) -> nn.Module:
    """The recipe model ``name`` (:data:`TOKEN_MODELS`) wrapped for tables of ``in_features``
    token ids (:class:`TokenTableModel`)."""
    from fedloom.models.recipe import MODELS

    return TokenTableModel(name, MODELS[name][0]((in_features,), n_classes, params))
