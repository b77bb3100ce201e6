"""Binary classification metrics (scikit-learn): AUC, KS, accuracy, precision, recall, F1,
confusion matrix, ROC and precision-recall curves.

- AUC is ``roc_auc_score`` on the positive-class score; KS is ``max(tpr − fpr)`` over the full
  ROC curve (``roc_curve(drop_intermediate=False)``), reported with the threshold reaching it.
- accuracy, precision, recall and F1 compare the predicted class with the label (the
  algorithm's own threshold, FATE's ``predict_result``); without predicted classes the score is
  cut at ``threshold``. A class never predicted gives precision 0 (``zero_division=0``).
- the confusion matrix is ``[[tn, fp], [fn, tp]]`` with ``labels = [negative, positive]``.
- with a single class in the labels, AUC, KS and the curves are undefined: ``None`` and a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fedloom.core.errors import DataError
from fedloom.ml.evaluation.curves import Curve, EvalResult
from fedloom.ml.evaluation.names import class_name
from fedloom.ml.evaluation.registry import REGISTRY, BinaryData, ClassLabel, resolve_metrics

__all__ = ["evaluate_binary"]


def _as_bool(values: np.ndarray, pos_label: ClassLabel) -> np.ndarray:
    """``values == pos_label``, comparing numbers as numbers (``1.0 == 1``) and text as text."""
    try:
        return np.asarray(values, dtype=np.float64) == float(pos_label)
    except (TypeError, ValueError):
        return np.asarray([class_name(v) == class_name(pos_label) for v in values], dtype=bool)


def _binary_data(
    label: np.ndarray | Iterable[ClassLabel],
    score: np.ndarray | Iterable[float],
    predicted: np.ndarray | Iterable[ClassLabel] | None,
    pos_label: ClassLabel,
    threshold: float,
) -> tuple[BinaryData, list[str]]:
    """The prediction set as booleans of the positive class, and the label values (as text)."""
    y = np.asarray(label)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise DataError(f"labels {y.shape} and scores {s.shape} must be two vectors of one length.")
    if not np.isfinite(s).all():
        raise DataError(f"{int((~np.isfinite(s)).sum())} prediction score(s) are NaN or infinite.")
    values = sorted({class_name(v) for v in y})
    if len(values) > 2:
        raise DataError(
            f"binary evaluation needs two label values; the labels hold {len(values)} "
            f"({', '.join(values[:10])}): use eval_type 'multi'.",
            field="label",
        )
    y_true = _as_bool(y, pos_label)
    y_pred = s >= threshold if predicted is None else _as_bool(np.asarray(predicted), pos_label)
    if y_pred.shape != y_true.shape:
        raise DataError(f"labels {y_true.shape} and predicted classes {y_pred.shape} differ in length.")
    return BinaryData(y_true, s, y_pred), values


def evaluate_binary(
    label: np.ndarray | Iterable[ClassLabel],
    score: np.ndarray | Iterable[float],
    predicted: np.ndarray | Iterable[ClassLabel] | None = None,
    *,
    pos_label: ClassLabel = 1,
    threshold: float = 0.5,
    metrics: Iterable[str] | None = None,
) -> EvalResult:
    """Evaluate binary predictions.

    Parameters
    ----------
    label
        True labels, two distinct values at most, shape (n,).
    score
        The score of the positive class (a probability for LR), shape (n,).
    predicted
        Predicted classes, shape (n,); default ``score >= threshold``.
    pos_label
        The label value of the positive class.
    threshold
        Cut-off on ``score`` when ``predicted`` is not given.
    metrics
        Names to compute (see :data:`~fedloom.ml.evaluation.names.METRICS`); default all.

    Returns
    -------
    EvalResult
        ``scores``: ``rows``, ``positives`` and the requested metrics; ``curves``: ``roc``
        (x ``fpr``, y ``tpr``) and ``pr`` (x ``recall``, y ``precision``) when requested, and
        ``roc`` also when ``ks`` is (the KS plot reads it).

    Raises
    ------
    DataError
        More than two label values, lengths that differ, or non-finite scores.
    """
    wanted = resolve_metrics("binary", metrics)
    data, values = _binary_data(label, score, predicted, pos_label, threshold)
    out: dict[str, Any] = {"rows": len(data.y), "positives": int(data.y.sum())}
    if not data.both_classes:
        out["note"] = (
            f"the labels hold one class only ({', '.join(values) or 'no rows'}): AUC and KS undefined"
        )
    curves: dict[str, Curve] = {}
    for name in wanted:
        m = REGISTRY["binary"][name]
        value = m.compute(data)
        if m.kind == "curve":
            if isinstance(value, Curve):
                curves[name] = value
        elif name == "confusion_matrix":
            negatives = [v for v in values if v != class_name(pos_label)]
            out[name] = {
                "labels": [negatives[0] if negatives else "other", class_name(pos_label)],
                "matrix": value,
            }
        else:
            out[name] = value
        if name == "ks" and data.both_classes:
            out["ks_threshold"] = data.ks_threshold()
    if "ks" in wanted and "roc" not in curves and data.both_classes:
        curves = {"roc": data.roc, **curves}  # the KS plot reads the ROC curve
    return EvalResult("binary", out, curves)
