"""The local training loop: plain, explicit, resumable.

``fit(model, x, y, config)`` runs mini-batch training on in-memory tensors with an optional
validation split, early stopping, a learning-rate schedule, weight decay, per-epoch
checkpoints (resume continues exactly where it stopped: shuffling is seeded per epoch and
RNG, optimiser and schedule states are saved), a metrics JSON and loss/accuracy curves (PNG).
Metrics are returned as data (:class:`TrainResult`).

Files written to ``config.out_dir`` (when set): ``checkpoint.pt`` (last epoch, for resume),
``best.pt`` (weights with the best monitored loss), ``metrics.json``, ``curves.png``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from pydantic import ConfigDict
from torch import nn

from fedloom.core.errors import ConfigError
from fedloom.core.validation import check, flag, integer, number, one_of, rule

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "evaluate", "fit", "plot_curves", "validate_config"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "exponential")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`fit`. Making one only stores the values: :func:`fit` and
    :func:`validate_config` check them against the rule in each field's annotation.

    Parameters
    ----------
    epochs
        Number of passes over the training data.
    batch_size
        Mini-batch size.
    optimizer
        ``sgd`` (with ``momentum``), ``adam`` or ``adamw``.
    lr
        Initial learning rate.
    momentum
        SGD momentum.
    weight_decay
        L2 penalty (decoupled for ``adamw``).
    schedule
        ``none``, ``step`` (×``gamma`` every ``step_size`` epochs), ``cosine`` (to 0 over
        ``epochs``) or ``exponential`` (×``gamma`` each epoch); stepped once per epoch.
    step_size
        Epochs between decays of the ``step`` schedule.
    gamma
        Decay factor of ``step`` and ``exponential``.
    val_fraction
        Fraction of the training data held out for validation (0: none) unless validation
        data is passed to :func:`fit`.
    early_stopping_patience
        Stop after this many epochs without improvement of the monitored loss (validation
        loss if there is validation data, else training loss); ``None`` disables it.
    min_delta
        Smallest decrease of the monitored loss that counts as an improvement.
    restore_best
        At the end, load the weights of the epoch with the lowest validation loss (when
        there is validation data).
    max_grad_norm
        Clip the gradient norm to this value (``None``: no clipping).
    seed
        Seeds the validation split and the per-epoch shuffling.
    out_dir
        Folder for checkpoints, metrics and curves (``None``: write nothing).
    progress
        Show a progress bar (rich) per epoch.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    epochs: Annotated[int, integer(ge=1)] = 10
    batch_size: Annotated[int, integer(ge=1)] = 64
    optimizer: Annotated[str, one_of(*OPTIMIZERS)] = "sgd"
    lr: Annotated[float, number(gt=0)] = 0.01
    momentum: Annotated[float, number(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, number(ge=0)] = 0.0
    schedule: Annotated[str, one_of(*SCHEDULES)] = "none"
    step_size: Annotated[int, integer(ge=1)] = 5
    gamma: Annotated[float, number(gt=0, le=1)] = 0.1
    val_fraction: Annotated[float, number(ge=0, lt=1)] = 0.0
    early_stopping_patience: Annotated[int | None, integer(ge=1, optional=True)] = None
    min_delta: Annotated[float, number(ge=0)] = 0.0
    restore_best: Annotated[bool, flag()] = True
    max_grad_norm: Annotated[float | None, number(gt=0, optional=True)] = None
    seed: Annotated[int, integer(ge=0)] = 0
    out_dir: Annotated[str | None, rule("null or a path", lambda v: v is None or isinstance(v, str))] = None
    progress: Annotated[bool, flag()] = False


def validate_config(config: TrainConfig, *, prefix: str = "train") -> None:
    """Check every field of ``config`` (its pydantic rules); raise :class:`ConfigError` naming
    the first bad one as ``{prefix}.{field}``."""
    check(config, prefix=prefix)


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Parameters
    ----------
    history
        One dict per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``,
        ``val_loss``/``val_accuracy`` (when validating), ``seconds``.
    best_epoch
        Epoch (1-based) with the lowest monitored loss.
    stopped_early
        Whether early stopping ended training.
    epochs_run
        Epochs completed in total (including those before a resume).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    epochs_run: int = 0

    @property
    def epoch_seconds(self) -> float:
        """Mean wall time of an epoch."""
        return sum(h["seconds"] for h in self.history) / max(1, len(self.history))


def _loss_fn(model: nn.Module) -> Any:
    """NLL for models that return log-probabilities, cross-entropy for logits."""
    return F.nll_loss if getattr(model, "output", "logits") == "log_probs" else F.cross_entropy


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` in eval mode.

    Returns
    -------
    loss, accuracy : float
    """
    was_training = model.training
    model.eval()
    loss_fn = _loss_fn(model)
    total_loss = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    for i in range(0, x.shape[0], batch_size):
        out = model(x[i : i + batch_size])  # (B, K)
        yb = y[i : i + batch_size]
        total_loss += loss_fn(out, yb, reduction="sum").float().cpu()
        correct += (out.argmax(dim=-1) == yb).sum().cpu()
    model.train(was_training)
    n = max(1, x.shape[0])
    return float(total_loss) / n, int(correct) / n


def _make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


def _make_schedule(opt: torch.optim.Optimizer, c: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    if c.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=c.step_size, gamma=c.gamma)
    if c.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs)
    if c.schedule == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=c.gamma)
    return None


def _split(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    if fraction <= 0:
        return x, y, None, None
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(x.shape[0] * fraction))
    val, tr = perm[:n_val], perm[n_val:]
    return x[tr], y[tr], x[val], y[val]


@dataclass
class _Progress:
    """What :func:`fit` tracks across epochs and saves in ``checkpoint.pt`` to resume."""

    result: TrainResult = field(default_factory=TrainResult)
    best_loss: float = math.inf
    bad_epochs: int = 0
    start_epoch: int = 1
    best_state: dict[str, torch.Tensor] | None = None  # in memory, for restore_best without out_dir


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``model`` on ``(x, y)`` in place.

    Parameters
    ----------
    model
        A classifier returning ``(B, K)`` logits, or log-probabilities if it declares
        ``output = "log_probs"``.
    x, y
        Training inputs ``(N, ...)`` and int64 labels ``(N,)``, on the model's device.
    config
        Hyper-parameters; validated first.
    x_val, y_val
        Validation data; default: ``config.val_fraction`` of ``(x, y)``, split with ``seed``.
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (model, optimiser, schedule,
        RNG, history, early-stopping state); the result equals an uninterrupted run.
    stop_after
        Stop after this epoch as if interrupted (checkpoint written); for time-sliced runs.

    Returns
    -------
    TrainResult
    """
    c = config or TrainConfig()
    validate_config(c)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ConfigError(f"x has {x.shape[0]} rows and y {y.shape[0]}; need the same, > 0", field="data")
    out = Path(c.out_dir) if c.out_dir else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    if x_val is None:
        x, y, x_val, y_val = _split(x, y, c.val_fraction, c.seed)

    opt = _make_optimizer(model, c)
    sched = _make_schedule(opt, c)
    keep_best = c.restore_best and x_val is not None
    ckpt_path = out / "checkpoint.pt" if out else None
    state = _Progress()
    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = _resume(ckpt_path, model, opt, sched, keep_best, c.epochs)
    result = state.result

    model.train()
    for epoch in range(state.start_epoch, c.epochs + 1):
        t0 = time.perf_counter()
        bar = _progress(c, epoch, x.shape[0])
        row = _train_epoch(model, x, y, opt, c, epoch, bar)
        if sched is not None:
            sched.step()
        if x_val is not None and y_val is not None:
            row["val_loss"], row["val_accuracy"] = evaluate(model, x_val, y_val, max(c.batch_size, 1024))
        row["seconds"] = time.perf_counter() - t0
        if bar is not None:
            bar.close(row)
        result.history.append(row)
        log.info("epoch %d: %s", epoch, row)
        _track_best(state, model, row, c, keep_best, out)
        if out is not None:
            _save_checkpoint(out, model, opt, sched, epoch, result, state.best_loss, state.bad_epochs)
            _write_metrics(out, c, result)
        if result.stopped_early:
            log.info("early stopping at epoch %d (best %d)", epoch, result.best_epoch)
            break
        if stop_after is not None and epoch >= stop_after:
            break

    _finish(state, model, c, keep_best, out)
    return result


def _finish(state: _Progress, model: nn.Module, c: TrainConfig, keep_best: bool, out: Path | None) -> None:
    """Count the epochs; when training is over, restore the best weights and draw the curves."""
    result = state.result
    result.epochs_run = len(result.history)
    finished = result.stopped_early or result.epochs_run >= c.epochs
    if finished and keep_best and state.best_state is not None:
        model.load_state_dict(state.best_state)
    if out is not None:
        _write_metrics(out, c, result)
        if finished:
            plot_curves(result.history, out / "curves.png")


def _resume(
    ckpt_path: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    keep_best: bool,
    epochs: int,
) -> _Progress:
    """Load model, optimiser, schedule and RNG from ``checkpoint.pt``; the progress it recorded."""
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    if sched is not None and saved.get("schedule") is not None:
        sched.load_state_dict(saved["schedule"])
    torch.set_rng_state(saved["rng"])
    state = _Progress(
        TrainResult(history=list(saved["history"]), best_epoch=int(saved["best_epoch"])),
        best_loss=float(saved["best_loss"]),
        bad_epochs=int(saved["bad_epochs"]),
        start_epoch=int(saved["epoch"]) + 1,
    )
    if keep_best and (ckpt_path.parent / "best.pt").is_file():
        state.best_state = torch.load(ckpt_path.parent / "best.pt", map_location="cpu", weights_only=True)
    log.info("resuming from %s at epoch %d", ckpt_path, state.start_epoch)
    if saved.get("stopped_early"):
        state.result.stopped_early = True
        state.start_epoch = epochs + 1
    return state


def _train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    c: TrainConfig,
    epoch: int,
    bar: _Bar | None,
) -> dict[str, float]:
    """One pass over ``(x, y)`` in an order seeded by ``epoch``; the epoch's training row."""
    n = x.shape[0]
    loss_fn = _loss_fn(model)
    lr = opt.param_groups[0]["lr"]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.seed * 1_000_003 + epoch))
    perm = perm.to(x.device)
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for i in range(0, n, c.batch_size):
        idx = perm[i : i + c.batch_size]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        logits = model(xb)  # (B, K)
        loss = loss_fn(logits, yb)
        loss.backward()
        if c.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
        opt.step()
        with torch.no_grad():
            total_loss += loss.detach() * yb.shape[0]
            correct += (logits.argmax(dim=-1) == yb).sum()
        if bar is not None and (i // c.batch_size) % 20 == 0:
            bar.update(min(n, i + c.batch_size))
    row: dict[str, float] = {
        "epoch": epoch,
        "lr": lr,
        "train_loss": float(total_loss) / n,
        "train_accuracy": int(correct) / n,
    }
    if not math.isfinite(row["train_loss"]):
        raise ConfigError(
            f"training diverged at epoch {epoch} (loss {row['train_loss']}); lower the learning rate "
            f"(now {lr:g}) or set max_grad_norm",
            field="train.lr",
        )
    return row


def _track_best(
    state: _Progress,
    model: nn.Module,
    row: dict[str, float],
    c: TrainConfig,
    keep_best: bool,
    out: Path | None,
) -> None:
    """Record whether the monitored loss improved; keep the best weights; decide early stopping."""
    monitored = row.get("val_loss", row["train_loss"])
    if monitored < state.best_loss - c.min_delta:
        state.best_loss, state.result.best_epoch, state.bad_epochs = monitored, int(row["epoch"]), 0
        if keep_best:
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if out is not None:
            torch.save(model.state_dict(), out / "best.pt")
    else:
        state.bad_epochs += 1
    if c.early_stopping_patience is not None and state.bad_epochs >= c.early_stopping_patience:
        state.result.stopped_early = True


def _save_checkpoint(
    out: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    result: TrainResult,
    best_loss: float,
    bad_epochs: int,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict() if sched is not None else None,
        "rng": torch.get_rng_state(),
        "epoch": epoch,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "best_loss": best_loss,
        "bad_epochs": bad_epochs,
        "stopped_early": result.stopped_early,
    }
    tmp = out / "checkpoint.pt.part"
    torch.save(state, tmp)
    tmp.replace(out / "checkpoint.pt")


def _write_metrics(out: Path, c: TrainConfig, result: TrainResult) -> None:
    payload = {
        "config": asdict(c),
        "history": result.history,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epochs_run": len(result.history),
        "epoch_seconds": result.epoch_seconds,
    }
    (out / "metrics.json").write_text(json.dumps(payload, indent=2))


def plot_curves(history: list[dict[str, float]], path: str | Path) -> Path | None:
    """Loss and accuracy per epoch (train and, when present, validation) as a PNG.

    Returns ``None`` (and logs a warning) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; no curves written to %s", path)
        return None
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in ("train", "val"):
        if history and f"{split}_loss" in history[0]:
            ax_loss.plot(epochs, [h[f"{split}_loss"] for h in history], marker="o", label=split)
            ax_acc.plot(epochs, [h[f"{split}_accuracy"] for h in history], marker="o", label=split)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


class _Bar:
    """A rich progress bar for one epoch (created only when ``config.progress``)."""

    def __init__(self, epoch: int, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress(
            f"epoch {epoch}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=False
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=total)

    def update(self, done: int) -> None:
        self._progress.update(self._task, completed=done)

    def close(self, row: dict[str, float]) -> None:
        self._progress.update(self._task, completed=self._progress.tasks[0].total)
        self._progress.stop()
        extra = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
        self._progress.console.print(f"  {extra}, {row['seconds']:.1f} s")


def _progress(c: TrainConfig, epoch: int, total: int) -> _Bar | None:
    return _Bar(epoch, total) if c.progress else None
