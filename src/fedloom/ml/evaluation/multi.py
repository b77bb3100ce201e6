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
from fedloom.ml.evaluation.names import class_name, resolve_metrics

__all__ = ["evaluate_multi"]


def _texts(values: np.ndarray) -> np.ndarray:
    return np.asarray([class_name(v) for v in values], dtype=object)


def _sort_key(name: str) -> tuple[int, float, str]:
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def evaluate_multi(
    label: np.ndarray | Iterable[Any],
    predicted: np.ndarray | Iterable[Any],
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
    from sklearn import metrics as skm

    wanted = resolve_metrics("multi", metrics)
    y = _texts(np.asarray(label))
    p = _texts(np.asarray(predicted))
    if y.shape != p.shape:
        raise DataError(f"labels {y.shape} and predicted classes {p.shape} differ in length.")
    classes = sorted(set(y) | set(p), key=_sort_key)
    out: dict[str, Any] = {"rows": len(y), "classes": classes}
    if "accuracy" in wanted:
        out["accuracy"] = float(skm.accuracy_score(y, p))
    if {"precision", "recall", "f1"} & set(wanted):
        prec, rec, f1, support = skm.precision_recall_fscore_support(
            y, p, labels=classes, average=None, zero_division=0
        )
        macro = skm.precision_recall_fscore_support(y, p, labels=classes, average="macro", zero_division=0)
        for i, name in enumerate(("precision", "recall", "f1")):
            if name in wanted:
                out[name] = float(macro[i])
        out["per_class"] = {
            c: {
                **({"precision": float(prec[k])} if "precision" in wanted else {}),
                **({"recall": float(rec[k])} if "recall" in wanted else {}),
                **({"f1": float(f1[k])} if "f1" in wanted else {}),
                "support": int(support[k]),
            }
            for k, c in enumerate(classes)
        }
    if "confusion_matrix" in wanted:
        cm = skm.confusion_matrix(y, p, labels=classes)
        out["confusion_matrix"] = {"labels": classes, "matrix": cm.astype(int).tolist()}
    return EvalResult("multi", out)
