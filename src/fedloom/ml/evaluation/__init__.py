"""Evaluation of predictions: binary, multi-class and regression metrics (scikit-learn) and plots.

Typical use::

    from fedloom.ml.evaluation import evaluate_binary, plot_roc
    res = evaluate_binary(label, score, predicted, pos_label=1)
    res.scores["auc"], res.scores["ks"], res.to_dict()          # JSON, curves thinned
    plot_roc({"train": res.curves["roc"]}, out_dir / "roc.png")

scikit-learn and matplotlib are imported when a function runs, not when this package loads.
"""

from fedloom.ml.evaluation.binary import evaluate_binary
from fedloom.ml.evaluation.curves import MAX_CURVE_POINTS, Curve, EvalResult
from fedloom.ml.evaluation.multi import evaluate_multi
from fedloom.ml.evaluation.names import METRICS, TASKS, class_name, resolve_metrics
from fedloom.ml.evaluation.plots import plot_confusion, plot_ks, plot_pr, plot_roc
from fedloom.ml.evaluation.regression import evaluate_regression

__all__ = [
    "MAX_CURVE_POINTS",
    "METRICS",
    "TASKS",
    "Curve",
    "EvalResult",
    "class_name",
    "evaluate_binary",
    "evaluate_multi",
    "evaluate_regression",
    "plot_confusion",
    "plot_ks",
    "plot_pr",
    "plot_roc",
    "resolve_metrics",
]
