"""Plaintext gradient-boosting math: objectives, split finding, trees, GOSS, feature importance.

No messages and no cryptography: the federated protocol
(:mod:`fedloom.ml.hetero.secureboost`) feeds these functions the sums it decrypts, and
:class:`HistogramGBDT` is a complete single-party booster over pre-binned data.
"""

from fedloom.ml.tree.goss import goss_sample
from fedloom.ml.tree.importance import feature_importance
from fedloom.ml.tree.objectives import Objective, objective_for
from fedloom.ml.tree.split import (
    Criterion,
    Split,
    best_split,
    best_split_cumulative,
    leaf_weight,
    score,
    soft_threshold,
)
from fedloom.ml.tree.tree import HistogramGBDT, Node, Tree, histograms

__all__ = [
    "Criterion",
    "HistogramGBDT",
    "Node",
    "Objective",
    "Split",
    "Tree",
    "best_split",
    "best_split_cumulative",
    "feature_importance",
    "goss_sample",
    "histograms",
    "leaf_weight",
    "objective_for",
    "score",
    "soft_threshold",
]
