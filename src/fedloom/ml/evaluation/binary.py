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
from fedloom.ml.evaluation.names import class_name, resolve_metrics

__all__ = ["evaluate_binary"]


def _as_bool(values: np.ndarray, pos_label: Any) -> np.ndarray:
    """``values == pos_label``, comparing numbers as numbers (``1.0 == 1``) and text as text."""
    try:
        return np.asarray(values, dtype=np.float64) == float(pos_label)
    except (TypeError, ValueError):
        return np.asarray([class_name(v) == class_name(pos_label) for v in values], dtype=bool)


def evaluate_binary(
    label: np.ndarray | Iterable[Any],
    score: np.ndarray | Iterable[float],
    predicted: np.ndarray | Iterable[Any] | None = None,
    *,
    pos_label: Any = 1,
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
    from sklearn import metrics as skm

    wanted = resolve_metrics("binary", metrics)
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
    negatives = [v for v in values if v != class_name(pos_label)]
    neg_name = negatives[0] if negatives else "other"

    out: dict[str, Any] = {"rows": len(y), "positives": int(y_true.sum())}
    curves: dict[str, Curve] = {}
    both = 0 < y_true.sum() < len(y_true)
    if not both:
        out["note"] = (
            f"the labels hold one class only ({', '.join(values) or 'no rows'}): AUC and KS undefined"
        )
    if both and {"auc", "ks", "roc"} & set(wanted):
        fpr, tpr, thr = skm.roc_curve(y_true, s, drop_intermediate=False)
        if "auc" in wanted:
            out["auc"] = float(skm.roc_auc_score(y_true, s))
        if "ks" in wanted:
            gap = tpr - fpr
            best = int(np.argmax(gap))
            out["ks"] = float(gap[best])
            out["ks_threshold"] = float(thr[best]) if np.isfinite(thr[best]) else None
        curves["roc"] = Curve(fpr, tpr, thr, "fpr", "tpr")
    else:
        out.update({k: None for k in ("auc", "ks") if k in wanted})
    if both and "pr" in wanted:
        prec, rec, thr = skm.precision_recall_curve(y_true, s)
        # scikit-learn's last point (recall 0, precision 1) has no threshold
        curves["pr"] = Curve(rec, prec, np.append(thr, np.inf), "recall", "precision")
    if "accuracy" in wanted:
        out["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
    if "precision" in wanted:
        out["precision"] = float(skm.precision_score(y_true, y_pred, zero_division=0))
    if "recall" in wanted:
        out["recall"] = float(skm.recall_score(y_true, y_pred, zero_division=0))
    if "f1" in wanted:
        out["f1"] = float(skm.f1_score(y_true, y_pred, zero_division=0))
    if "confusion_matrix" in wanted:
        cm = skm.confusion_matrix(y_true, y_pred, labels=[False, True])
        out["confusion_matrix"] = {
            "labels": [neg_name, class_name(pos_label)],
            "matrix": cm.astype(int).tolist(),
        }
    if "roc" not in wanted and "ks" not in wanted:
        curves.pop("roc", None)
    return EvalResult("binary", out, curves)
