"""The one registry of evaluation metrics: each name, with FATE's spellings, mapped to the function
that computes it, per task (``binary``, ``multi``, ``regression``).

A name is accepted only if a function here computes it: the Evaluation component, the
``evaluate_*`` functions and the validation metrics of the algorithms all resolve names with
:func:`resolve_metrics`. FATE names that fedloom does not compute (``lift``, ``gain``) are refused
with a :class:`~fedloom.core.errors.ConfigError` naming the ``metrics`` field, never dropped.

Each function reads one prediction set (:class:`BinaryData`, :class:`MultiData`,
:class:`RegressionData`), which computes what several metrics share (the ROC curve, per-class
precision / recall / F1) once. scikit-learn is imported when a function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Literal

import numpy as np

from fedloom.core.errors import ConfigError
from fedloom.core.validation import sentence
from fedloom.ml.evaluation.curves import Curve

__all__ = [
    "METRICS",
    "NOT_COMPUTED",
    "REGISTRY",
    "TASKS",
    "BinaryData",
    "ClassLabel",
    "Metric",
    "MultiData",
    "RegressionData",
    "lower_is_better",
    "metric",
    "resolve_metrics",
    "score_metrics",
]

#: The tasks FATE's ``eval_type`` names (``clustering`` is not supported).
TASKS = ("binary", "multi", "regression")

#: FATE metric names fedloom refuses, with the reason (they are never silently dropped).
NOT_COMPUTED = {
    "lift": "FATE's lift curve is not implemented",
    "gain": "FATE's gain curve is not implemented",
}


#: A class label as confs and tables write it.
ClassLabel = int | float | str


def _skm() -> ModuleType:
    from sklearn import metrics

    return metrics


@dataclass
class BinaryData:
    """One binary prediction set: ``y`` (bool, the positive class), the positive-class ``score``
    and the predicted class ``pred`` (bool)."""

    y: np.ndarray
    score: np.ndarray
    pred: np.ndarray

    @property
    def both_classes(self) -> bool:
        """Whether the labels hold both classes (AUC, KS and the curves need them)."""
        return bool(0 < self.y.sum() < len(self.y))

    @cached_property
    def roc(self) -> Curve:
        """The full ROC curve (``drop_intermediate=False``: KS reads every threshold)."""
        fpr, tpr, thr = _skm().roc_curve(self.y, self.score, drop_intermediate=False)
        return Curve(fpr, tpr, thr, "fpr", "tpr")

    def ks_threshold(self) -> float | None:
        """The score threshold at which ``tpr − fpr`` is largest."""
        if not self.both_classes:
            return None
        thr = self.roc.thresholds[int(np.argmax(self.roc.y - self.roc.x))]
        return float(thr) if np.isfinite(thr) else None


def _auc(d: BinaryData) -> float | None:
    return float(_skm().roc_auc_score(d.y, d.score)) if d.both_classes else None


def _ks(d: BinaryData) -> float | None:
    return float(np.max(d.roc.y - d.roc.x)) if d.both_classes else None


def _pr_curve(d: BinaryData) -> Curve | None:
    if not d.both_classes:
        return None
    prec, rec, thr = _skm().precision_recall_curve(d.y, d.score)
    # scikit-learn's last point (recall 0, precision 1) has no threshold
    return Curve(rec, prec, np.append(thr, np.inf), "recall", "precision")


def _roc_curve(d: BinaryData) -> Curve | None:
    return d.roc if d.both_classes else None


def _binary_confusion(d: BinaryData) -> list[list[int]]:
    """``[[tn, fp], [fn, tp]]`` (the caller names the two labels)."""
    cm = _skm().confusion_matrix(d.y, d.pred, labels=[False, True])
    return cm.astype(int).tolist()


@dataclass
class MultiData:
    """One multi-class prediction set: true ``y`` and predicted ``pred`` class names (text), and
    ``classes``, every value of either, sorted."""

    y: np.ndarray
    pred: np.ndarray
    classes: list[str] = field(default_factory=list)

    @cached_property
    def per_class(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Precision, recall, F1 and support of each class (``zero_division=0``)."""
        return _skm().precision_recall_fscore_support(
            self.y, self.pred, labels=self.classes, average=None, zero_division=0
        )

    def macro(self, i: int) -> float:
        """Unweighted mean over the classes of precision (0), recall (1) or F1 (2)."""
        return float(np.mean(self.per_class[i])) if len(self.classes) else 0.0


def _multi_confusion(d: MultiData) -> dict[str, object]:
    cm = _skm().confusion_matrix(d.y, d.pred, labels=d.classes)
    return {"labels": d.classes, "matrix": cm.astype(int).tolist()}


@dataclass
class RegressionData:
    """One regression prediction set: true ``y`` and predicted ``pred`` values (float64)."""

    y: np.ndarray
    pred: np.ndarray


def _two_rows(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable[[RegressionData], float | None]:
    """``fn(y, pred)``, or ``None`` with fewer than two rows (R² and explained variance)."""
    return lambda d: fn(d.y, d.pred) if len(d.y) > 1 else None


def _regression(name: str) -> Callable[[RegressionData], float]:
    return lambda d: getattr(_skm(), name)(d.y, d.pred)


Kind = Literal["score", "table", "curve"]
#: What a metric's function gives: a number (``None`` where undefined), a table or a curve.
MetricValue = float | None | list[list[int]] | dict[str, object] | Curve


@dataclass(frozen=True)
class Metric:
    """A metric: its name, FATE's (and scikit-learn's) other spellings, and its function.

    Attributes
    ----------
    name
        fedloom's name (the key it is reported under).
    compute
        ``compute(data)``: a number (``None`` where undefined), a small table, or a :class:`Curve`.
    aliases
        Other spellings accepted in confs (``f1_score``, ``root_mean_squared_error``...).
    kind
        ``score`` (a number: what validation and early stopping can watch), ``table`` (the
        confusion matrix) or ``curve`` (ROC, precision-recall).
    lower_is_better
        For early stopping: whether a smaller value is better (errors) or a larger one (scores).
    """

    name: str
    compute: Callable[..., MetricValue]
    aliases: tuple[str, ...] = ()
    kind: Kind = "score"
    lower_is_better: bool = False


def _skm_score(name: str, **kw: object) -> Callable[[BinaryData | MultiData], float]:
    return lambda d: float(getattr(_skm(), name)(d.y, d.pred, **kw))


#: Every metric fedloom computes, per task, in report order.
REGISTRY: dict[str, dict[str, Metric]] = {
    task: {m.name: m for m in metrics}
    for task, metrics in {
        "binary": (
            Metric("auc", _auc),
            Metric("ks", _ks),
            Metric("accuracy", _skm_score("accuracy_score")),
            Metric("precision", _skm_score("precision_score", zero_division=0)),
            Metric("recall", _skm_score("recall_score", zero_division=0)),
            Metric("f1", _skm_score("f1_score", zero_division=0), ("f1_score",)),
            Metric("confusion_matrix", _binary_confusion, ("confusion_mat",), "table"),
            Metric("roc", _roc_curve, ("roc_curve",), "curve"),
            Metric("pr", _pr_curve, ("pr_curve", "precision_recall_curve"), "curve"),
        ),
        "multi": (
            Metric("accuracy", _skm_score("accuracy_score")),
            Metric("precision", lambda d: d.macro(0)),
            Metric("recall", lambda d: d.macro(1)),
            Metric("f1", lambda d: d.macro(2), ("f1_score",)),
            Metric("confusion_matrix", _multi_confusion, ("confusion_mat",), "table"),
        ),
        "regression": (
            Metric("mse", _regression("mean_squared_error"), ("mean_squared_error",), lower_is_better=True),
            Metric(
                "rmse",
                _regression("root_mean_squared_error"),
                ("root_mean_squared_error",),
                lower_is_better=True,
            ),
            Metric("mae", _regression("mean_absolute_error"), ("mean_absolute_error",), lower_is_better=True),
            Metric("r2", _two_rows(lambda y, p: _skm().r2_score(y, p)), ("r2_score",)),
            Metric(
                "explained_variance",
                _two_rows(lambda y, p: _skm().explained_variance_score(y, p)),
                ("explained_variance_score",),
            ),
            Metric("median_absolute_error", _regression("median_absolute_error"), lower_is_better=True),
        ),
    }.items()
}

#: Metric names each task computes, in report order (all of them when none are asked for).
METRICS: dict[str, tuple[str, ...]] = {task: tuple(metrics) for task, metrics in REGISTRY.items()}

_SPELLINGS: dict[str, dict[str, str]] = {
    task: {spelling: m.name for m in metrics.values() for spelling in (m.name, *m.aliases)}
    for task, metrics in REGISTRY.items()
}


def metric(task: str, name: str) -> Metric | None:
    """The metric ``name`` (any accepted spelling, any case) of ``task``; ``None`` if unknown."""
    canonical = _SPELLINGS.get(task, {}).get(str(name).lower())
    return REGISTRY[task][canonical] if canonical else None


def lower_is_better(task: str, name: str) -> bool:
    """Whether a smaller value of metric ``name`` is better (errors: MSE, RMSE, MAE...)."""
    m = metric(task, name)
    return m is not None and m.lower_is_better


def resolve_metrics(
    task: str,
    names: Iterable[str] | None,
    *,
    owner: str | None = None,
    component: str | None = None,
    scores_only: bool = False,
) -> tuple[str, ...]:
    """The metrics to compute for ``task``: ``names`` (FATE's spellings allowed) in report order;
    every metric of the task when ``names`` is empty or ``None``.

    Parameters
    ----------
    owner
        The algorithm or module whose ``metrics`` parameter lists ``names`` (for the message).
    scores_only
        Accept only numbers (validation metrics, early stopping), not tables or curves.

    Raises
    ------
    ConfigError
        Unknown task, or a name the task does not compute (the message lists those it does);
        the error's field is ``eval_type`` or ``metrics``.
    """
    if task not in REGISTRY:
        raise ConfigError(
            sentence("eval_type", f"must be one of {', '.join(TASKS)}", task),
            component=component,
            field="eval_type",
        )
    given = [str(n) for n in names or ()]
    found = {n: metric(task, n) for n in given}
    bad = [n for n, m in found.items() if m is None or (scores_only and m.kind != "score")]
    if bad:
        known = ", ".join(m.name for m in REGISTRY[task].values() if not scores_only or m.kind == "score")
        why = "; ".join(f"{b}: {NOT_COMPUTED[b.lower()]}" for b in bad if b.lower() in NOT_COMPUTED)
        why = f" ({why})" if why else ""
        listed = ", ".join(repr(b) for b in bad)
        if owner:
            msg = f"The 'metrics' parameter of {owner} must list {task} metrics among {known}."
            msg += f" Got {listed}{why}."
        else:
            msg = f"{task} evaluation does not compute {listed}{why}; it computes {known}."
        raise ConfigError(msg, component=component, field="metrics")
    wanted = {m.name for m in found.values() if m is not None}
    default = (m.name for m in REGISTRY[task].values() if not scores_only or m.kind == "score")
    return tuple(m for m in METRICS[task] if m in wanted) if wanted else tuple(default)


def _prediction_set(
    task: str, y: np.ndarray, score: np.ndarray, pred: np.ndarray, pos_label: ClassLabel
) -> BinaryData | MultiData | RegressionData:
    from fedloom.ml.evaluation.names import class_name

    if task == "binary":
        return BinaryData(
            np.asarray(y) == pos_label, np.asarray(score, dtype=np.float64), np.asarray(pred) == pos_label
        )
    if task == "multi":
        yt = np.asarray([class_name(v) for v in y], dtype=object)
        pt = np.asarray([class_name(v) for v in pred], dtype=object)
        return MultiData(yt, pt, sorted(set(yt) | set(pt)))
    return RegressionData(np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64))


def score_metrics(
    task: str,
    names: Sequence[str],
    y: np.ndarray,
    score: np.ndarray,
    pred: np.ndarray,
    *,
    pos_label: ClassLabel = 1,
) -> dict[str, float]:
    """The scores ``names`` of one prediction set, keyed by the names as given (FATE's spellings
    stay the keys); ``nan`` where a score is undefined (AUC of one class). For validation passes
    and early stopping.

    Parameters
    ----------
    y
        True labels (binary: compared with ``pos_label``) or values (regression).
    score
        The positive-class score (binary) or the predicted value (regression).
    pred
        The predicted class (binary, multi); unused for regression.

    Raises
    ------
    ConfigError
        A name that is not a score of ``task`` (check names first with :func:`resolve_metrics`
        and ``scores_only=True``).
    """
    data = _prediction_set(task, y, score, pred, pos_label)
    out: dict[str, float] = {}
    for name in names:
        m = metric(task, name)
        if m is None or m.kind != "score":
            raise ConfigError(f"{task} evaluation has no score named {name!r}", field="metrics")
        value = m.compute(data)
        out[name] = float(value) if isinstance(value, int | float) else float("nan")
    return out
