"""The local training loop: plain, explicit, resumable.

``fit(model, x, y, config)`` runs mini-batch training on in-memory tensors with an optional
validation split, early stopping, a learning-rate schedule (per epoch, or the per-step linear
warm-up and decay of BERT fine-tuning), weight decay, gradient accumulation, mixed precision on
CUDA, per-epoch checkpoints (resume continues exactly where it stopped: shuffling is seeded per
epoch and the RNG, optimiser, schedule and gradient-scaler states are saved), a metrics JSON and
loss/accuracy curves (PNG). Metrics are returned as data (:class:`TrainResult`).

Targets may carry extra dimensions (a language model's ``(B, T)`` next-word ids against
``(B, T, V)`` logits): accuracy counts over every target, and ``loss_fn`` replaces the default
loss (e.g. cross-entropy minus an adversary reward).

Files written to ``config.out_dir`` (when set): ``checkpoint.pt`` (last epoch, for resume),
``best.pt`` (weights with the best monitored loss), ``metrics.json``, ``curves.png``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
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

__all__ = [
    "LossFn",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "fit",
    "plot_curves",
    "resolve_device",
    "validate_config",
]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "exponential", "warmup_linear")
DEVICES = ("cpu", "cuda", "auto")

#: ``loss_fn(output, target, reduction) -> loss``: ``reduction`` is ``"mean"`` (training) or
#: ``"sum"`` (evaluation; divided by the number of targets).
LossFn = Callable[..., torch.Tensor]


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
        ``epochs``) or ``exponential`` (×``gamma`` each epoch), stepped once per epoch; or
        ``warmup_linear``: per optimiser step, from 0 up to ``lr`` over the first ``warmup_fraction``
        of the steps, then down to 0 at the last step (BERT fine-tuning).
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
    warmup_fraction
        Fraction of the optimiser steps of the ``warmup_linear`` schedule spent warming up.
    grad_accum
        Mini-batches whose gradients add up before each optimiser step (effective batch
        ``batch_size * grad_accum``); the last step of an epoch may take fewer.
    amp
        Mixed precision (autocast; bfloat16 where supported, else float16 with a gradient
        scaler) when training on CUDA; ignored on CPU.
    device
        ``cpu``, ``cuda`` or ``auto`` (CUDA when present); used by callers that place the model
        and data (:func:`resolve_device`), :func:`fit` trains where they are.
    eval_batch_size
        Rows per forward pass when evaluating.
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
    warmup_fraction: Annotated[float, number(ge=0, lt=1)] = 0.0
    grad_accum: Annotated[int, integer(ge=1)] = 1
    amp: Annotated[bool, flag()] = False
    device: Annotated[str, one_of(*DEVICES)] = "cpu"
    eval_batch_size: Annotated[int, integer(ge=1)] = 1024
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


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when present) as a :class:`torch.device`."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but CUDA is not available", field="train.device")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def _loss_fn(model: nn.Module) -> LossFn:
    """NLL for models that return log-probabilities, cross-entropy for logits."""
    return F.nll_loss if getattr(model, "output", "logits") == "log_probs" else F.cross_entropy


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    loss_fn: LossFn | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` in eval mode, per target.

    Parameters
    ----------
    loss_fn
        ``loss_fn(output, target, reduction="sum")``; default cross-entropy (NLL for
        log-probability models).

    Returns
    -------
    loss, accuracy : float
        Averaged over every target (``y.numel()``: rows, or rows × positions).
    """
    was_training = model.training
    model.eval()
    loss_fn = loss_fn or _loss_fn(model)
    total_loss = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    for i in range(0, x.shape[0], batch_size):
        out = model(x[i : i + batch_size])  # (B, K) or (B, T, V)
        yb = y[i : i + batch_size]  # (B,) or (B, T)
        total_loss += loss_fn(out, yb, reduction="sum").float().cpu()
        correct += (out.argmax(dim=-1) == yb).sum().cpu()
    model.train(was_training)
    n = max(1, y.numel())
    return float(total_loss) / n, int(correct) / n


def _make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


def make_schedule(
    opt: torch.optim.Optimizer, c: TrainConfig, n_train: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``c.schedule`` on ``opt`` over ``c.epochs`` epochs of ``n_train`` rows (``None``: no
    schedule). ``warmup_linear`` steps per optimiser step, the others per epoch."""
    if c.schedule == "warmup_linear":
        # Per optimiser step: (s+1)/(warm+1) while warming up, then (total-s)/(total-warm) to 0.
        batches = math.ceil(n_train / c.batch_size)
        total = max(1, c.epochs * math.ceil(batches / c.grad_accum))
        warm = int(total * c.warmup_fraction)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total - step) / max(1, total - warm))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
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
    loss_fn: LossFn | None = None,
) -> TrainResult:
    """Train ``model`` on ``(x, y)`` in place.

    Parameters
    ----------
    model
        A classifier returning ``(B, K)`` logits, or log-probabilities if it declares
        ``output = "log_probs"``; or a sequence model returning ``(B, T, V)``.
    x, y
        Training inputs ``(N, ...)`` and int64 labels ``(N,)`` (or ``(N, T)``), on the model's
        device.
    config
        Hyper-parameters; validated first.
    x_val, y_val
        Validation data; default: ``config.val_fraction`` of ``(x, y)``, split with ``seed``.
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (model, optimiser, schedule,
        RNG, history, early-stopping state); the result equals an uninterrupted run.
    stop_after
        Stop after this epoch as if interrupted (checkpoint written); for time-sliced runs.
    loss_fn
        ``loss_fn(output, target, reduction="mean"|"sum")`` instead of cross-entropy.

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

    loss = loss_fn or _loss_fn(model)
    opt = _make_optimizer(model, c)
    sched = make_schedule(opt, c, x.shape[0])
    amp = _Amp.on(x.device, c.amp)
    keep_best = c.restore_best and x_val is not None
    ckpt_path = out / "checkpoint.pt" if out else None
    state = _Progress()
    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = _resume(ckpt_path, model, opt, sched, amp, keep_best, c.epochs)
    result = state.result

    model.train()
    for epoch in range(state.start_epoch, c.epochs + 1):
        row = _epoch_row(model, (x, y), (x_val, y_val), opt, sched, amp, loss, c, epoch, result.history)
        result.history.append(row)
        log.info("epoch %d: %s", epoch, row)
        _track_best(state, model, row, c, keep_best, out)
        if out is not None:
            _save_checkpoint(out, model, opt, sched, amp, epoch, result, state.best_loss, state.bad_epochs)
            _write_metrics(out, c, result)
        if result.stopped_early:
            log.info("early stopping at epoch %d (best %d)", epoch, result.best_epoch)
            break
        if stop_after is not None and epoch >= stop_after:
            break

    _finish(state, model, c, keep_best, out)
    return result


def _epoch_row(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor | None, torch.Tensor | None],
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    amp: _Amp,
    loss: LossFn,
    c: TrainConfig,
    epoch: int,
    history: list[dict[str, float]],
) -> dict[str, float]:
    """Train one epoch and validate, so the loop in :func:`fit` only handles logging and stopping."""
    (x, y), (x_val, y_val) = train, val
    t0 = time.perf_counter()
    bar = _progress(c, epoch, x.shape[0], history)
    row = _train_epoch(model, x, y, opt, sched, amp, loss, c, epoch, bar)
    if sched is not None and c.schedule != "warmup_linear":  # it steps per optimiser step
        sched.step()
    if x_val is not None and y_val is not None:
        row["val_loss"], row["val_accuracy"] = evaluate(model, x_val, y_val, c.eval_batch_size, loss)
    row["seconds"] = time.perf_counter() - t0
    if bar is not None:
        bar.close(row)
    return row


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
    amp: _Amp,
    keep_best: bool,
    epochs: int,
) -> _Progress:
    """Load model, optimiser, schedule, scaler and RNGs from ``checkpoint.pt``; its progress."""
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    if sched is not None and saved.get("schedule") is not None:
        sched.load_state_dict(saved["schedule"])
    if saved.get("scaler") is not None:
        amp.scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"])
    if saved.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(saved["cuda_rng"]))
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


@dataclass
class _Amp:
    """Mixed precision on CUDA: autocast dtype and the gradient scaler (float16 only)."""

    enabled: bool
    dtype: torch.dtype
    scaler: Any

    @classmethod
    def on(cls, device: torch.device, wanted: bool) -> _Amp:
        enabled = wanted and device.type == "cuda"
        bf16 = enabled and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if bf16 else torch.float16
        # bfloat16 has float32's exponent range: no loss scaling needed.
        scaler = torch.amp.GradScaler("cuda", enabled=enabled and not bf16)
        return cls(enabled, dtype, scaler)


def _train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    amp: _Amp,
    loss_fn: LossFn,
    c: TrainConfig,
    epoch: int,
    bar: _Bar | None,
) -> dict[str, float]:
    """One pass over ``(x, y)`` in an order seeded by ``epoch``; the epoch's training row.

    Gradients of ``grad_accum`` consecutive mini-batches add up (each loss divided by
    ``grad_accum``) before one optimiser step; the epoch's last step takes what is left. The
    ``warmup_linear`` schedule steps after every optimiser step.
    """
    n = x.shape[0]
    lr = opt.param_groups[0]["lr"]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.seed * 1_000_003 + epoch))
    perm = perm.to(x.device)
    total_loss = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    targets = 0
    batches = math.ceil(n / c.batch_size)
    opt.zero_grad(set_to_none=True)
    for b in range(batches):
        idx = perm[b * c.batch_size : (b + 1) * c.batch_size]
        xb, yb = x[idx], y[idx]
        with torch.autocast(x.device.type, dtype=amp.dtype, enabled=amp.enabled):
            out = model(xb)  # (B, K) or (B, T, V)
            loss = loss_fn(out.float(), yb)
        amp.scaler.scale(loss / c.grad_accum).backward()
        if (b + 1) % c.grad_accum == 0 or b == batches - 1:
            amp.scaler.unscale_(opt)
            if c.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
            amp.scaler.step(opt)
            amp.scaler.update()
            opt.zero_grad(set_to_none=True)
            if sched is not None and c.schedule == "warmup_linear":
                sched.step()
        with torch.no_grad():
            total_loss += loss.detach() * yb.shape[0]
            correct += (out.argmax(dim=-1) == yb).sum()
        targets += yb.numel()
        if bar is not None:
            bar.update(min(n, (b + 1) * c.batch_size), total_loss, b + 1 == batches)
    row: dict[str, float] = {
        "epoch": epoch,
        "lr": lr,
        "train_loss": float(total_loss) / n,
        "train_accuracy": int(correct) / max(1, targets),
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
        if out is not None:  # written aside, then renamed: a kill never leaves half a file
            torch.save(model.state_dict(), out / "best.pt.part")
            (out / "best.pt.part").replace(out / "best.pt")
    else:
        state.bad_epochs += 1
    if c.early_stopping_patience is not None and state.bad_epochs >= c.early_stopping_patience:
        state.result.stopped_early = True


def _save_checkpoint(
    out: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler | None,
    amp: _Amp,
    epoch: int,
    result: TrainResult,
    best_loss: float,
    bad_epochs: int,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict() if sched is not None else None,
        "scaler": amp.scaler.state_dict() if amp.scaler.is_enabled() else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
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


def plot_curves(
    history: list[dict[str, float]],
    path: str | Path,
    x: str = "epoch",
    splits: tuple[str, ...] = ("train", "val"),
    titles: tuple[str, str] = ("loss", "accuracy"),
) -> Path | None:
    """Loss and accuracy per ``x`` (``epoch``, or a federated run's ``round``) as a PNG: one line
    per split of ``splits`` whose ``{split}_loss`` / ``{split}_accuracy`` the rows hold.

    Returns ``None`` (and logs a warning) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed; no curves written to %s", path)
        return None
    steps = [h[x] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split in splits:
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            if history and f"{split}_{metric}" in history[0]:
                ax.plot(steps, [h[f"{split}_{metric}"] for h in history], marker="o", label=split)
    ax_loss.set(xlabel=x, ylabel="loss", title=titles[0])
    ax_acc.set(xlabel=x, ylabel="accuracy", title=titles[1])
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


class _Bar:
    """A rich progress bar for one epoch (created only when ``config.progress``).

    Shows the epoch, examples done, the running mean training loss, throughput (examples/s),
    the epoch's time left, and after each epoch the run's time left (remaining epochs × the
    mean epoch time so far).
    """

    def __init__(self, epoch: int, epochs: int, total: int, history: list[dict[str, float]]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._epoch, self._epochs, self._history = epoch, epochs, history
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[rate]:.0f} ex/s"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=total, loss=float("nan"), rate=0.0)

    def update(self, done: int, loss_sum: torch.Tensor, last: bool) -> None:
        now = time.perf_counter()
        if not last and now - self._last < 0.5:  # reading the loss syncs a GPU: twice a second
            return
        self._last = now
        rate = done / max(now - self._t0, 1e-9)
        self._progress.update(self._task, completed=done, loss=float(loss_sum) / max(1, done), rate=rate)

    def close(self, row: dict[str, float]) -> None:
        self._progress.update(self._task, completed=self._progress.tasks[0].total)
        self._progress.stop()
        extra = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "seconds"))
        done = [h["seconds"] for h in self._history] + [row["seconds"]]
        left = (self._epochs - self._epoch) * sum(done) / len(done)
        self._progress.console.print(f"  {extra}, {row['seconds']:.1f} s; run time left ~{left:.0f} s")


def _progress(c: TrainConfig, epoch: int, total: int, history: list[dict[str, float]]) -> _Bar | None:
    return _Bar(epoch, c.epochs, total, history) if c.progress else None
