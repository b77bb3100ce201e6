r"""Decision trees of a boosted model, and a plaintext single-party histogram GBDT.

:class:`Tree` / :class:`Node` are the stored form shared by the federated protocol (a node is
owned by the guest or by one host; only the owner knows its feature and threshold) and by
:class:`HistogramGBDT`, a complete booster over pre-binned data that the guest uses for its own
features and for ``complete_secure`` trees.

HistogramGBDT, per boosting round
---------------------------------
1. :math:`g, h` = the objective's derivatives at the current scores (times sample weights);
   with GOSS (:func:`~fedloom.ml.tree.goss.goss_sample`) the tree is built on the sampled rows
   only, their :math:`g, h` multiplied by the GOSS weights.
2. Softmax with ``multi_output=False``: one tree per class :math:`k` on :math:`(g_{:,k}, h_{:,k})`
   (``Tree.class_index = k``); otherwise one tree whose leaves hold a vector of
   ``n_outputs`` values (``class_index = None``).
3. A tree grows depth-wise (level by level, nodes in id order; root id 0, children numbered in
   breadth-first order): every node of depth :math:`<` ``max_depth`` gets per-bin histograms
   :math:`G, H, N` of its rows, and :func:`~fedloom.ml.tree.split.best_split` picks its split
   or makes it a leaf. **Histogram subtraction**: of two siblings only the one with fewer rows is
   built from rows; the other is parent − built child.
4. A leaf stores ``learning_rate`` · :math:`w`, :math:`w = -T(G)/(H+\lambda)` over the leaf's
   rows; the scores of every row (sampled or not) move by its leaf's value.

A row goes left at node ``(feature f, bin b, missing_left)`` when its bin is :math:`\le b`,
except that a row in ``f``'s missing bin goes left exactly when ``missing_left``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.tree.goss import goss_sample
from fedloom.ml.tree.objectives import Objective
from fedloom.ml.tree.split import Criterion, best_split, leaf_weight

__all__ = ["HistogramGBDT", "Node", "Tree", "histograms"]

Hist = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per-bin ``(G, H, N)`` of one node (see :func:`histograms`)."""


@dataclass
class Node:
    """One tree node.

    ``weight``: a leaf's values per output, learning rate applied (``None`` for internal nodes).
    ``owner``: ``"guest"`` or ``"host-<party_id>"``. ``feature`` / ``bin`` / ``threshold``: the
    owner's feature index, bin and value threshold (a party that does not own the node keeps
    ``None``). ``sum_grad`` / ``sum_hess``: the node's :math:`G, H` per output; ``n`` its rows.
    """

    id: int
    depth: int
    is_leaf: bool
    weight: list[float] | None = None
    owner: str = "guest"
    feature: int | None = None
    bin: int | None = None
    threshold: float | None = None
    missing_left: bool = False
    left: int | None = None
    right: int | None = None
    gain: float = 0.0
    n: int = 0
    sum_grad: list[float] = field(default_factory=list)
    sum_hess: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Node:
        """Inverse of :meth:`to_dict` (DataError naming the field on a malformed node)."""
        try:
            node = cls(
                id=int(d["id"]),
                depth=int(d["depth"]),
                is_leaf=bool(d["is_leaf"]),
                weight=None if d.get("weight") is None else [float(v) for v in d["weight"]],
                owner=str(d.get("owner", "guest")),
                feature=None if d.get("feature") is None else int(d["feature"]),
                bin=None if d.get("bin") is None else int(d["bin"]),
                threshold=None if d.get("threshold") is None else float(d["threshold"]),
                missing_left=bool(d.get("missing_left", False)),
                left=None if d.get("left") is None else int(d["left"]),
                right=None if d.get("right") is None else int(d["right"]),
                gain=float(d.get("gain", 0.0)),
                n=int(d.get("n", 0)),
                sum_grad=[float(v) for v in d.get("sum_grad", [])],
                sum_hess=[float(v) for v in d.get("sum_hess", [])],
            )
        except KeyError as e:
            raise DataError(f"tree node lacks {e.args[0]!r}.", field=f"trees.nodes.{e.args[0]}") from None
        except (TypeError, ValueError) as e:
            raise DataError(f"malformed tree node: {e}.", field="trees.nodes") from None
        if node.is_leaf and node.weight is None:
            raise DataError(f"leaf {node.id} has no weight.", field="trees.nodes.weight")
        if not node.is_leaf and (node.left is None or node.right is None):
            raise DataError(f"internal node {node.id} lacks a child.", field="trees.nodes.left")
        return node


@dataclass
class Tree:
    """A tree: ``nodes[i].id == i``, root 0. ``class_index``: the class of a one-tree-per-class tree."""

    nodes: list[Node]
    class_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"class_index": …, "nodes": [Node.to_dict(), …]}``."""
        return {"class_index": self.class_index, "nodes": [n.to_dict() for n in self.nodes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tree:
        """Inverse of :meth:`to_dict`; checks ids and child links."""
        try:
            raw = d["nodes"]
        except (KeyError, TypeError):
            raise DataError("tree lacks 'nodes'.", field="trees.nodes") from None
        nodes = [Node.from_dict(n) for n in raw]
        ci = d.get("class_index")
        tree = cls(nodes=nodes, class_index=None if ci is None else int(ci))
        tree.check()
        return tree

    def check(self) -> None:
        """DataError unless ids are 0..n-1 in order and children point forward inside the tree."""
        if not self.nodes:
            raise DataError("a tree needs at least one node.", field="trees.nodes")
        for i, node in enumerate(self.nodes):
            if node.id != i:
                raise DataError(f"node {i} has id {node.id}.", field="trees.nodes.id")
            if not node.is_leaf:
                for child in (node.left, node.right):
                    if child is None or not i < child < len(self.nodes):
                        raise DataError(f"node {i} has child {child}.", field="trees.nodes.left")

    def leaf_of(self, decide: Callable[[Node, np.ndarray], np.ndarray], rows: int) -> np.ndarray:
        """The leaf id of every row ``0..rows-1``.

        ``decide(node, idx)`` returns, for the row indices ``idx`` that reached internal node
        ``node``, a boolean array: True where the row goes left. Rows are routed node by node
        (vectorised over the rows of each node), so each node is asked once.
        """
        leaf = np.full(rows, -1, dtype=np.int64)
        stack: list[tuple[int, np.ndarray]] = [(0, np.arange(rows, dtype=np.int64))]
        while stack:
            nid, idx = stack.pop()
            node = self.nodes[nid]
            if node.is_leaf:
                leaf[idx] = nid
                continue
            if idx.size == 0:
                continue
            go_left = np.asarray(decide(node, idx), dtype=bool)
            if go_left.shape != idx.shape:
                raise DataError(
                    f"decision for node {nid} has shape {go_left.shape}, expected {idx.shape}.",
                    field="decision",
                )
            assert node.left is not None and node.right is not None
            stack.append((node.left, idx[go_left]))
            stack.append((node.right, idx[~go_left]))
        return leaf

    def leaf_values(self, leaf: np.ndarray) -> np.ndarray:
        """Leaf values of rows given their leaf ids: ``(rows, len(weight))``."""
        width = max((len(n.weight) for n in self.nodes if n.weight is not None), default=1)
        table = np.zeros((len(self.nodes), width))
        for n in self.nodes:
            if n.weight is not None:
                table[n.id] = n.weight
        return table[leaf]


def histograms(
    bins: np.ndarray, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin sums of ``g``, ``h`` and row counts over ``rows``.

    Parameters
    ----------
    bins
        ``(n, n_features)`` bin indices in ``[0, n_bins)``.
    g, h
        ``(n, n_outputs)``.
    rows
        Row indices to sum over (``None``: all).
    n_bins
        Bins per feature in the output (the largest feature's count).

    Returns
    -------
    G, H, N
        ``(n_features, n_bins, n_outputs)``, ``(…)``, ``(n_features, n_bins)`` — one
        ``numpy.bincount`` per output over the flattened ``(row, feature)`` index.
    """
    sub = bins if rows is None else bins[rows]
    gs = g if rows is None else g[rows]
    hs = h if rows is None else h[rows]
    n_features = sub.shape[1]
    n_out = gs.shape[1]
    flat = (sub.astype(np.int64) + np.arange(n_features, dtype=np.int64) * n_bins).ravel()
    size = n_features * n_bins
    G = np.empty((n_features, n_bins, n_out))  # noqa: N806
    H = np.empty_like(G)  # noqa: N806
    for k in range(n_out):  # outputs are few; rows and features are vectorised
        G[:, :, k] = np.bincount(flat, weights=np.repeat(gs[:, k], n_features), minlength=size).reshape(
            n_features, n_bins
        )
        H[:, :, k] = np.bincount(flat, weights=np.repeat(hs[:, k], n_features), minlength=size).reshape(
            n_features, n_bins
        )
    N = np.bincount(flat, minlength=size).reshape(n_features, n_bins)  # noqa: N806
    return G, H, N


def _go_left(column: np.ndarray, split_bin: int, missing: int, missing_left: bool) -> np.ndarray:
    left = column <= split_bin
    if missing >= 0:
        is_missing = column == missing
        left = np.where(is_missing, missing_left, left)
    return left


def _child_histograms(
    fbins: np.ndarray, g: np.ndarray, h: np.ndarray, lr: np.ndarray, rr: np.ndarray, parent: Hist, n_bins: int
) -> tuple[Hist, Hist]:
    """Left and right children's histograms: build the smaller child, its sibling is parent − child."""
    small, small_is_left = (lr, True) if lr.size <= rr.size else (rr, False)
    hs = histograms(fbins, g, h, small, n_bins)
    other = (parent[0] - hs[0], parent[1] - hs[1], parent[2] - hs[2])
    return (hs, other) if small_is_left else (other, hs)


class HistogramGBDT:
    """A plaintext gradient-boosted decision tree over pre-binned data (one party).

    Parameters
    ----------
    objective
        From :func:`~fedloom.ml.tree.objectives.objective_for`.
    n_trees
        Boosting rounds (FATE ``num_trees``).
    learning_rate
        Multiplies every leaf value.
    max_depth
        Depth of the deepest split nodes + 1 (root depth 0; nodes at ``max_depth`` are leaves).
    criterion
        Split criterion and constraints.
    multi_output
        Softmax only: one tree with vector leaves per round (FATE ``multi_mode "MultiOutput"``)
        instead of one tree per class.
    goss
        ``(top_rate, other_rate)`` to sample rows per round, or ``None``.
    subsample_feature_rate
        Fraction of features (at least one) drawn per tree.
    random_seed
        Seeds GOSS and feature sampling.
    owner
        Written into every node's ``owner``.
    """

    def __init__(
        self,
        objective: Objective,
        *,
        n_trees: int = 5,
        learning_rate: float = 0.3,
        max_depth: int = 3,
        criterion: Criterion | None = None,
        multi_output: bool = False,
        goss: tuple[float, float] | None = None,
        subsample_feature_rate: float = 1.0,
        random_seed: int = 100,
        owner: str = "guest",
    ) -> None:
        if n_trees < 0:
            raise ConfigError(f"must be >= 0. Got {n_trees}.", field="num_trees")
        if max_depth < 0:
            raise ConfigError(f"must be >= 0. Got {max_depth}.", field="tree_param.max_depth")
        if not 0.0 < subsample_feature_rate <= 1.0:
            raise ConfigError(
                f"must be in (0, 1]. Got {subsample_feature_rate}.", field="subsample_feature_rate"
            )
        self.objective = objective
        self.n_trees = n_trees
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.criterion = criterion if criterion is not None else Criterion()
        self.multi_output = multi_output
        self.goss = goss
        self.subsample_feature_rate = subsample_feature_rate
        self.rng = np.random.default_rng(random_seed)
        self.owner = owner
        self.trees: list[Tree] = []
        self.init_score: np.ndarray = np.zeros(objective.n_outputs)
        self.missing_bin: np.ndarray | None = None
        self.history: list[float] = []

    # -- one tree ---------------------------------------------------------------------------------
    def grow_tree(
        self,
        bins: np.ndarray,
        g: np.ndarray,
        h: np.ndarray,
        rows: np.ndarray | None = None,
        *,
        missing_bin: np.ndarray | None = None,
        features: np.ndarray | None = None,
        class_index: int | None = None,
    ) -> Tree:
        """Grow one tree on ``rows`` (default all) of ``bins`` ``(n, f)`` from ``g, h`` ``(n, K)``.

        ``features``: the candidate feature indices (default all); ``missing_bin``: per feature
        its missing bin or -1. Leaves hold ``learning_rate`` · leaf weight (``K`` values).
        """
        bins = np.asarray(bins)
        n_rows, n_features = bins.shape
        g = np.asarray(g, dtype=np.float64).reshape(n_rows, -1)
        h = np.asarray(h, dtype=np.float64).reshape(n_rows, -1)
        feats = np.arange(n_features) if features is None else np.asarray(features, dtype=np.int64)
        miss_all = np.full(n_features, -1, dtype=np.int64) if missing_bin is None else np.asarray(missing_bin)
        fbins = bins[:, feats]
        miss = miss_all[feats]
        n_bins = int(fbins.max()) + 1 if fbins.size else 1
        c = self.criterion
        root_rows = np.arange(n_rows, dtype=np.int64) if rows is None else np.sort(np.asarray(rows))

        nodes: list[Node] = []
        next_id = 1
        # Each pending node: (id, rows, histograms or None when not needed).
        level: list[tuple[int, np.ndarray, Hist | None]] = [
            (0, root_rows, histograms(fbins, g, h, root_rows, n_bins) if self.max_depth > 0 else None)
        ]
        for depth in range(self.max_depth + 1):
            upcoming: list[tuple[int, np.ndarray, Hist | None]] = []
            for nid, r, hist in level:
                g_tot, h_tot = g[r].sum(axis=0), h[r].sum(axis=0)
                split = None
                if hist is not None and depth < self.max_depth:
                    split = best_split(hist[0], hist[1], hist[2], (g_tot, h_tot, r.size), c, missing_bin=miss)
                base: dict[str, Any] = {"id": nid, "depth": depth, "owner": self.owner, "n": int(r.size)}
                base |= {"sum_grad": g_tot.tolist(), "sum_hess": h_tot.tolist()}
                if split is None:
                    w = self.learning_rate * leaf_weight(g_tot, h_tot, c)
                    nodes.append(Node(is_leaf=True, weight=w.tolist(), **base))
                    continue
                f = split.feature
                left_mask = _go_left(fbins[r, f], split.bin, int(miss[f]), split.missing_left)
                lr, rr = r[left_mask], r[~left_mask]
                left_id, right_id = next_id, next_id + 1
                next_id += 2
                nodes.append(
                    Node(
                        is_leaf=False,
                        feature=int(feats[f]),
                        bin=split.bin,
                        missing_left=split.missing_left,
                        left=left_id,
                        right=right_id,
                        gain=split.gain,
                        **base,
                    )
                )
                hl, hr = None, None  # the children are leaves and need no histograms
                if depth + 1 < self.max_depth:
                    assert hist is not None
                    hl, hr = _child_histograms(fbins, g, h, lr, rr, hist, n_bins)
                upcoming.append((left_id, lr, hl))
                upcoming.append((right_id, rr, hr))
            level = upcoming
            if not level:
                break
        return Tree(nodes=nodes, class_index=class_index)

    # -- boosting ---------------------------------------------------------------------------------
    def _decide(self, bins: np.ndarray) -> Callable[[Node, np.ndarray], np.ndarray]:
        miss = self.missing_bin

        def decide(node: Node, idx: np.ndarray) -> np.ndarray:
            assert node.feature is not None and node.bin is not None
            m = -1 if miss is None else int(miss[node.feature])
            return _go_left(bins[idx, node.feature], node.bin, m, node.missing_left)

        return decide

    def _add_tree(self, score: np.ndarray, tree: Tree, bins: np.ndarray) -> None:
        values = tree.leaf_values(tree.leaf_of(self._decide(bins), bins.shape[0]))
        if tree.class_index is None:
            score += values
        else:
            score[:, tree.class_index] += values[:, 0]

    def fit(
        self,
        bins: np.ndarray,
        y: np.ndarray,
        *,
        missing_bin: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        init: Sequence[Tree] | None = None,
        init_score: np.ndarray | None = None,
    ) -> list[Tree]:
        """Boost ``n_trees`` rounds on ``bins`` ``(n, f)`` (ints) and labels ``y``.

        ``init`` / ``init_score``: warm start from stored trees and their initial score.
        Returns every tree (``init`` first); ``self.history`` holds the training loss after each
        round.
        """
        bins = np.asarray(bins)
        if bins.ndim != 2 or not np.issubdtype(bins.dtype, np.integer):
            raise DataError(f"bins must be a 2-d integer array. Got {bins.dtype} {bins.shape}.", field="bins")
        if bins.size and bins.min() < 0:
            raise DataError("bin indices must be >= 0.", field="bins")
        n = bins.shape[0]
        self.missing_bin = None if missing_bin is None else np.asarray(missing_bin, dtype=np.int64)
        w = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(n, 1)
        K = self.objective.n_outputs  # noqa: N806
        self.init_score = (
            np.asarray(init_score, dtype=np.float64).reshape(K)
            if init_score is not None
            else self.objective.init_score(y, None if w is None else w[:, 0])
        )
        self.trees = list(init or [])
        score = np.tile(self.init_score, (n, 1))
        for tree in self.trees:
            self._add_tree(score, tree, bins)
        self.history = []
        for _ in range(self.n_trees):
            g, h = self.objective.grad_hess(y, score)
            if w is not None:
                g, h = g * w, h * w
            rows = None
            if self.goss is not None:
                rows, mult = goss_sample(g, self.goss[0], self.goss[1], self.rng)
                g, h = g.copy(), h.copy()
                g[rows] *= mult[:, None]
                h[rows] *= mult[:, None]
            feats = self._features(bins.shape[1])
            if K > 1 and not self.multi_output:
                for k in range(K):
                    tree = self.grow_tree(
                        bins,
                        g[:, [k]],
                        h[:, [k]],
                        rows,
                        missing_bin=self.missing_bin,
                        features=feats,
                        class_index=k,
                    )
                    self.trees.append(tree)
                    self._add_tree(score, tree, bins)
            else:
                tree = self.grow_tree(bins, g, h, rows, missing_bin=self.missing_bin, features=feats)
                self.trees.append(tree)
                self._add_tree(score, tree, bins)
            self.history.append(self.objective.loss(y, score, None if w is None else w[:, 0]))
        return self.trees

    def _features(self, n_features: int) -> np.ndarray | None:
        if self.subsample_feature_rate >= 1.0:
            return None
        k = max(1, int(n_features * self.subsample_feature_rate))
        return np.sort(self.rng.choice(n_features, size=k, replace=False))

    def predict(self, bins: np.ndarray) -> np.ndarray:
        """Raw scores ``(n, n_outputs)``: init score + Σ leaf values (``objective.predict`` maps them)."""
        bins = np.asarray(bins)
        score = np.tile(self.init_score, (bins.shape[0], 1))
        for tree in self.trees:
            self._add_tree(score, tree, bins)
        return score
