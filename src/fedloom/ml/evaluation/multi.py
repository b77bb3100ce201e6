"""Multi-class metrics (scikit-learn): accuracy, per-class and macro precision / recall / F1,
and the confusion matrix.

Classes are every value seen in the labels or the predictions, sorted; ``per_class`` holds
``precision``, ``recall``, ``f1`` and ``support`` for each (``zero_division=0``: a class never
predicted has precision 0). ``precision``, ``recall`` and ``f1`` at the top level are the macro
averages (unweighted mean over classes), as FATE's multi-class evaluation reports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fedloom.core.errors import DataError
from fedloom.ml.evaluation.curves import EvalResult
from fedloom.ml.evaluation.names import class_name
from fedloom.ml.evaluation.registry import REGISTRY, ClassLabel, MultiData, resolve_metrics

__all__ = ["evaluate_multi"]


def _texts(values: np.ndarray) -> np.ndarray:
    return np.asarray([class_name(v) for v in values], dtype=object)


def _sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def evaluate_multi(
    label: np.ndarray | Iterable[ClassLabel],
    predicted: np.ndarray | Iterable[ClassLabel],
    *,
    metrics: Iterable[str] | None = None,
) -> EvalResult:
    """Evaluate multi-class predictions.

    Parameters
    ----------
    label, predicted
        True and predicted classes, shape (n,) each (numbers or text; ``1.0`` equals ``1``).
    metrics
        Names to compute (``accuracy``, ``precision``, ``recall``, ``f1``, ``confusion_matrix``);
        default all.

    Returns
    -------
    EvalResult
        ``scores``: ``rows``, ``classes`` and the requested metrics (``per_class`` comes with any
        of precision / recall / F1).

    Raises
    ------
    DataError
        The two vectors differ in length.
    """
    wanted = resolve_metrics("multi", metrics)
    y = _texts(np.asarray(label))
    p = _texts(np.asarray(predicted))
    if y.shape != p.shape:
        raise DataError(f"labels {y.shape} and predicted classes {p.shape} differ in length.")
    data = MultiData(y, p, sorted(set(y) | set(p), key=_sort_key))
    out: dict[str, Any] = {"rows": len(y), "classes": data.classes}
    for name in wanted:
        if name == "confusion_matrix" and {"precision", "recall", "f1"} & set(wanted):
            out["per_class"] = _per_class(data, wanted)
        out[name] = REGISTRY["multi"][name].compute(data)
    if "per_class" not in out and {"precision", "recall", "f1"} & set(wanted):
        out["per_class"] = _per_class(data, wanted)
    return EvalResult("multi", out)


def _per_class(data: MultiData, wanted: tuple[str, ...]) -> dict[str, dict[str, float | int]]:
    """``{class: {precision, recall, f1 (those wanted), support}}``."""
    out: dict[str, dict[str, float | int]] = {}
    for c, (prec, rec, f1, support) in zip(data.classes, zip(*data.per_class, strict=True), strict=True):
        scores = {"precision": prec, "recall": rec, "f1": f1}
        out[c] = {**{n: float(v) for n, v in scores.items() if n in wanted}, "support": int(support)}
    return out
