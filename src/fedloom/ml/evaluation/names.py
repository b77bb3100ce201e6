"""Metric names per task, with FATE's spellings accepted as aliases."""

from __future__ import annotations

from collections.abc import Iterable

from fedloom.core.errors import ConfigError

__all__ = ["METRICS", "TASKS", "class_name", "resolve_metrics"]

#: The tasks FATE's ``eval_type`` names (``clustering`` is not supported).
TASKS = ("binary", "multi", "regression")

#: Metrics each task computes, in report order (all of them when none are asked for).
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "ks", "accuracy", "precision", "recall", "f1", "confusion_matrix", "roc", "pr"),
    "multi": ("accuracy", "precision", "recall", "f1", "confusion_matrix"),
    "regression": ("mse", "rmse", "mae", "r2", "explained_variance", "median_absolute_error"),
}

#: FATE's (and scikit-learn's) spellings → ours.
ALIASES = {
    "f1_score": "f1",
    "confusion_mat": "confusion_matrix",
    "roc_curve": "roc",
    "pr_curve": "pr",
    "precision_recall_curve": "pr",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "r2_score": "r2",
    "explained_variance_score": "explained_variance",
}


def resolve_metrics(task: str, names: Iterable[str] | None) -> tuple[str, ...]:
    """The metrics to compute for ``task``: ``names`` (FATE's spellings allowed), in report order;
    every metric of the task when ``names`` is empty or ``None``.

    Raises
    ------
    ConfigError
        Unknown task, or a name the task does not compute (the message lists those it does).
    """
    if task not in METRICS:
        raise ConfigError(f"eval_type must be one of {', '.join(TASKS)}. Got {task!r}.", field="eval_type")
    known = METRICS[task]
    wanted = [ALIASES.get(str(n).lower(), str(n).lower()) for n in names or ()]
    bad = [n for n, w in zip(names or (), wanted, strict=True) if w not in known]
    if bad:
        raise ConfigError(
            f"{task} evaluation does not compute {', '.join(repr(b) for b in bad)}; "
            f"it computes {', '.join(known)}.",
            field="metrics",
        )
    return tuple(m for m in known if m in wanted) if wanted else known


def class_name(value: object) -> str:
    """A class label as text: ``1.0`` → ``"1"``, ``"a"`` → ``"a"`` (JSON keys, plot labels)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return str(int(as_float)) if as_float.is_integer() and not isinstance(value, str) else str(value)
