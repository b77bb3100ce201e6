"""Evaluation plots as PNG files (matplotlib's Agg renderer: no display, no global pyplot state).

Each function takes one or more named series (the legend text is the key) and writes one file:
``roc.png`` (ROC curves with the chance diagonal), ``pr.png`` (precision-recall curves), ``ks.png``
(true and false positive rates against the score threshold, the KS gap marked) and
``confusion.png`` (a confusion matrix with counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fedloom.ml.evaluation.curves import Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_ks", "plot_pr", "plot_roc"]

_DPI = 110


def _figure(width: float = 5.5, height: float = 4.5) -> Figure:
    # A bare Figure renders PNG with the Agg canvas and touches no pyplot / backend state.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=_DPI, format="png")
    tmp.replace(path)
    return path


def plot_roc(series: Mapping[str, Curve], path: Path, title: str = "ROC") -> Path:
    """ROC curves (``x`` false positive rate, ``y`` true positive rate), one per series."""
    fig = _figure()
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="chance")
    for name, curve in series.items():
        ax.plot(curve.x, curve.y, linewidth=1.5, label=name)
    ax.set(
        xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.02)
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_pr(series: Mapping[str, Curve], path: Path, title: str = "precision-recall") -> Path:
    """Precision-recall curves (``x`` recall, ``y`` precision), one per series."""
    fig = _figure()
    ax = fig.subplots()
    for name, curve in series.items():
        ax.step(curve.x, curve.y, where="post", linewidth=1.5, label=name)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_ks(series: Mapping[str, Curve], path: Path) -> Path:
    """One panel per ROC series: TPR and FPR against the threshold, the KS gap marked."""
    n = max(len(series), 1)
    fig = _figure(5.5, 3.6 * n)
    axes = np.atleast_1d(fig.subplots(n, 1))
    for ax, (name, roc) in zip(axes, series.items(), strict=False):
        thr = np.asarray(roc.thresholds, dtype=np.float64)
        finite = thr[np.isfinite(thr)]
        top = float(finite.max()) if finite.size else 1.0
        thr = np.where(np.isfinite(thr), thr, top)  # ROC's first point has threshold +inf
        gap = roc.y - roc.x
        best = int(np.argmax(gap))
        ax.plot(thr, roc.y, label="true positive rate")
        ax.plot(thr, roc.x, label="false positive rate")
        ax.vlines(thr[best], roc.x[best], roc.y[best], colors="red", linestyles="--", label="KS")
        ax.set(
            xlabel="score threshold",
            ylabel="rate",
            title=f"KS {gap[best]:.4f} at threshold {thr[best]:.4g} ({name})",
            ylim=(0, 1.02),
        )
        ax.invert_xaxis()
        ax.legend(loc="lower right", fontsize="small")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path, title: str) -> Path:
    """A confusion matrix (rows: true class, columns: predicted class) with the counts written in."""
    m = np.asarray(matrix, dtype=np.int64)
    size = 2.5 + 0.45 * len(labels)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(m, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels=list(labels))
    ax.set_yticks(ticks, labels=list(labels))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    cut = m.max() / 2 if m.size else 0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > cut else "black")
    return _save(fig, path)
