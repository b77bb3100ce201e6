"""A metric curve (ROC, precision-recall, KS) as data: points, thresholds, and a JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Curve", "EvalResult", "thin"]

#: Points a curve keeps in its JSON form (the PNG always draws every point).
MAX_CURVE_POINTS = 256


def thin(n: int, max_points: int) -> np.ndarray:
    """Indexes of at most ``max_points`` points out of ``n``, evenly spread, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _finite_list(values: np.ndarray) -> list[float | None]:
    """Floats, with non-finite values (ROC's first threshold is +inf) as ``None`` (JSON null)."""
    return [float(v) if math.isfinite(float(v)) else None for v in values]


@dataclass
class Curve:
    """Points ``(x[i], y[i])`` reached at ``thresholds[i]`` (a score cut-off).

    Attributes
    ----------
    x, y
        Coordinates, e.g. false and true positive rates for ROC.
    thresholds
        The score threshold of each point (same length as ``x``; ``inf`` where none applies).
    x_name, y_name
        Axis names (``fpr``, ``tpr``, ``recall``, ``precision``...).
    """

    x: np.ndarray
    y: np.ndarray
    thresholds: np.ndarray
    x_name: str
    y_name: str

    def to_dict(self, max_points: int = MAX_CURVE_POINTS) -> dict[str, object]:
        """``{x_name: [...], y_name: [...], "thresholds": [...], "points": n}``, thinned to
        ``max_points`` evenly spread points (``points`` is the full count)."""
        idx = thin(len(self.x), max_points)
        return {
            self.x_name: _finite_list(self.x[idx]),
            self.y_name: _finite_list(self.y[idx]),
            "thresholds": _finite_list(self.thresholds[idx]),
            "points": len(self.x),
        }


@dataclass
class EvalResult:
    """What one evaluation of one prediction set gives.

    Attributes
    ----------
    task
        ``binary``, ``multi`` or ``regression``.
    scores
        Metric name → value (numbers, or small JSON-able dicts such as the confusion matrix).
    curves
        Curve name → :class:`Curve` (binary only: ``roc``, ``pr``, ``ks``).
    """

    task: str
    scores: dict[str, Any]
    curves: dict[str, Curve] = field(default_factory=dict)

    def to_dict(self, max_points: int = MAX_CURVE_POINTS) -> dict[str, object]:
        """Scores, then each curve under ``{name}_curve`` (thinned, see :meth:`Curve.to_dict`)."""
        out = dict(self.scores)
        for name, curve in self.curves.items():
            out[f"{name}_curve"] = curve.to_dict(max_points)
        return out

    def scalars(self) -> dict[str, float | int | None]:
        """Only the scalar scores (what a one-line summary shows)."""
        return {k: v for k, v in self.scores.items() if v is None or isinstance(v, int | float)}
