"""Evaluation of predictions: binary, multi-class and regression metrics (scikit-learn) and plots.

Typical use::

    from fedloom.ml.evaluation import evaluate_binary, plot_roc
    res = evaluate_binary(label, score, predicted, pos_label=1)
    res.scores["auc"], res.scores["ks"], res.to_dict()          # JSON, curves thinned
    resolve_metrics("binary", ["f1_score", "lift"])            # ConfigError: lift is not computed
    plot_roc({"train": res.curves["roc"]}, out_dir / "roc.png")

Which metric names are accepted, with FATE's spellings, and the function computing each:
:mod:`fedloom.ml.evaluation.registry` (also :class:`~fedloom.ml.evaluation.registry.Metric` and the
prediction sets its functions read). scikit-learn and matplotlib are imported when a function
runs, not when this package loads.
"""

from fedloom.ml.evaluation.binary import evaluate_binary
from fedloom.ml.evaluation.curves import MAX_CURVE_POINTS, Curve, EvalResult
from fedloom.ml.evaluation.multi import evaluate_multi
from fedloom.ml.evaluation.names import class_name
from fedloom.ml.evaluation.plots import plot_confusion, plot_ks, plot_pr, plot_roc
from fedloom.ml.evaluation.registry import (
    METRICS,
    NOT_COMPUTED,
    REGISTRY,
    TASKS,
    ClassLabel,
    lower_is_better,
    resolve_metrics,
    score_metrics,
)
from fedloom.ml.evaluation.regression import evaluate_regression

__all__ = [
    "MAX_CURVE_POINTS",
    "METRICS",
    "NOT_COMPUTED",
    "REGISTRY",
    "TASKS",
    "ClassLabel",
    "Curve",
    "EvalResult",
    "class_name",
    "evaluate_binary",
    "evaluate_multi",
    "evaluate_regression",
    "lower_is_better",
    "plot_confusion",
    "plot_ks",
    "plot_pr",
    "plot_roc",
    "resolve_metrics",
    "score_metrics",
]
