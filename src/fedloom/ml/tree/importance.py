"""Feature importance of boosted trees: split counts and total gain per feature (FATE's two types).

FATE's ``feature_importance_type`` ``"split"`` counts how many internal nodes split on a feature;
``"gain"`` sums those nodes' split gains. Both are returned; the caller shows the one asked for.
Host features reach the guest under anonymous names through ``names``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fedloom.ml.tree.tree import Node, Tree

__all__ = ["feature_importance"]


def feature_importance(trees: Sequence[Tree], names: Callable[[Node], str]) -> dict[str, dict[str, float]]:
    """``{feature name: {"split": count, "gain": total gain}}`` over every internal node.

    Parameters
    ----------
    trees
        The trees (leaves are skipped).
    names
        The feature name of an internal node (e.g. the guest's column name, or a host's anonymous
        name for a node owned by that host).

    Returns
    -------
    dict
        Features in order of first use (tree order, then node id).
    """
    out: dict[str, dict[str, float]] = {}
    for tree in trees:
        for node in tree.nodes:
            if node.is_leaf:
                continue
            entry = out.setdefault(names(node), {"split": 0.0, "gain": 0.0})
            entry["split"] += 1.0
            entry["gain"] += float(node.gain)
    return out
