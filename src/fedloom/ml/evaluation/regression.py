"""Regression metrics (scikit-learn): MSE, RMSE, MAE, R², explained variance, median absolute
error, each on the predicted value against the label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from fedloom.core.errors import DataError
from fedloom.ml.evaluation.curves import EvalResult
from fedloom.ml.evaluation.registry import REGISTRY, RegressionData, resolve_metrics

__all__ = ["evaluate_regression"]


def evaluate_regression(
    label: np.ndarray | Iterable[float],
    predicted: np.ndarray | Iterable[float],
    *,
    metrics: Iterable[str] | None = None,
) -> EvalResult:
    """Evaluate regression predictions.

    Parameters
    ----------
    label, predicted
        True and predicted values, shape (n,) each.
    metrics
        Names to compute (``mse``, ``rmse``, ``mae``, ``r2``, ``explained_variance``,
        ``median_absolute_error``, or FATE's long spellings); default all.

    Returns
    -------
    EvalResult
        ``scores``: ``rows`` and the requested metrics (R² is ``None`` for fewer than two rows).

    Raises
    ------
    DataError
        Lengths differ, or a value is not a finite number.
    """
    wanted = resolve_metrics("regression", metrics)
    try:
        y = np.asarray(label, dtype=np.float64)
        p = np.asarray(predicted, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"regression evaluation needs numeric labels and predictions: {exc}") from None
    if y.ndim != 1 or y.shape != p.shape:
        raise DataError(f"labels {y.shape} and predictions {p.shape} must be two vectors of one length.")
    bad = int((~np.isfinite(y)).sum() + (~np.isfinite(p)).sum())
    if bad:
        raise DataError(f"{bad} label or predicted value(s) are NaN or infinite.")
    data = RegressionData(y, p)
    out: dict[str, Any] = {"rows": len(y)}
    for name in wanted:
        value = REGISTRY["regression"][name].compute(data)
        out[name] = float(value) if isinstance(value, int | float) else None
    return EvalResult("regression", out)
