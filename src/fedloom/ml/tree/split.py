r"""Split finding on gradient / hessian histograms (FATE's ``criterion_method "xgboost"``).

Formulas (per output :math:`k`, summed over outputs for multi-output trees)
-------------------------------------------------------------------------
* L1 soft threshold: :math:`T(G) = \mathrm{sign}(G)\max(|G| - \alpha, 0)` (:math:`\alpha` = ``l1``).
* Leaf weight: :math:`w_k = -T(G_k) / (H_k + \lambda)` (:math:`\lambda` = ``l2``).
* Node score: :math:`S(G, H) = \sum_k T(G_k)^2 / (H_k + \lambda)` (0 where
  :math:`H_k + \lambda \le 0`).
* Gain of a split into left / right: :math:`S(G_L, H_L) + S(G_R, H_R) - S(G, H)` with
  :math:`G_R = G - G_L`, :math:`H_R = H - H_L`, :math:`n_R = n - n_L` from the node totals.

A candidate is admissible when :math:`n_L, n_R \ge \max(1, \text{min\_leaf\_node})` and
:math:`\sum_k H_{L,k}, \sum_k H_{R,k} \ge \text{min\_child\_weight}`; the best admissible
candidate is kept when its gain is :math:`> \text{min\_impurity\_split}`; a node with fewer than
``min_sample_split`` rows is not split. Ties go to the lowest (feature, bin), then to
``missing_left=False`` (:func:`best_split`), or to the lowest candidate index
(:func:`best_split_cumulative`): ``numpy.argmax`` returns the first maximum of a flat array laid
out in that order.

Histogram layout for :func:`best_split`: ``G, H`` of shape ``(n_features, n_bins, n_outputs)``
hold per-bin sums (not cumulative), ``N`` ``(n_features, n_bins)`` the row counts; bins are in
value order and a split at ``(f, b)`` sends the rows with bin :math:`\le b` left. Features with
fewer bins are padded with empty bins (their candidates repeat the last real one and lose the
tie). ``missing_bin[f]`` (or -1) names a bin holding feature ``f``'s missing values: it is left
out of the ordered scan, and every threshold is tried with it on the right
(``missing_left=False``) and on the left (``missing_left=True``). The scan is one cumulative sum
over the whole ``(features, bins, outputs)`` array — no Python loop over bins or features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import ConfigError, DataError

__all__ = [
    "Criterion",
    "Split",
    "best_split",
    "best_split_cumulative",
    "leaf_weight",
    "score",
    "soft_threshold",
]

Totals = tuple[np.ndarray, np.ndarray, int]
"""A node's ``(G, H, n)``: gradient and hessian sums per output ``(n_outputs,)`` and its rows."""


@dataclass(frozen=True)
class Criterion:
    """Regularisation and constraints of the split criterion (FATE ``tree_param``).

    ``criterion_params`` ``[l2]`` or ``[l1, l2]`` map to ``l1`` / ``l2``; the others are FATE's
    ``tree_param`` fields of the same names.
    """

    l1: float = 0.0
    l2: float = 0.1
    min_child_weight: float = 0.0
    min_leaf_node: int = 1
    min_impurity_split: float = 1e-3
    min_sample_split: int = 2

    def __post_init__(self) -> None:
        if not (np.isfinite(self.l1) and self.l1 >= 0):
            raise ConfigError(f"must be a number >= 0. Got {self.l1}.", field="tree_param.criterion_params")
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise ConfigError(f"must be a number >= 0. Got {self.l2}.", field="tree_param.criterion_params")
        if self.min_child_weight < 0:
            raise ConfigError(
                f"must be >= 0. Got {self.min_child_weight}.", field="tree_param.min_child_weight"
            )
        if self.min_leaf_node < 0:
            raise ConfigError(f"must be >= 0. Got {self.min_leaf_node}.", field="tree_param.min_leaf_node")
        if self.min_sample_split < 0:
            raise ConfigError(
                f"must be >= 0. Got {self.min_sample_split}.", field="tree_param.min_sample_split"
            )


@dataclass(frozen=True)
class Split:
    """The best split of a node.

    ``feature`` / ``bin`` index the histogram given to :func:`best_split` (for
    :func:`best_split_cumulative`: ``feature`` is the candidate index and ``bin`` is -1);
    ``G_left``, ``H_left`` ``(n_outputs,)`` and ``n_left`` are the left child's sums (the right
    child's are the node totals minus these).
    """

    gain: float
    feature: int
    bin: int
    missing_left: bool
    G_left: np.ndarray
    H_left: np.ndarray
    n_left: int


def soft_threshold(G: np.ndarray, l1: float) -> np.ndarray:  # noqa: N803 - G is the formula's name
    r""":math:`T(G) = \mathrm{sign}(G) \max(|G| - \alpha, 0)`, elementwise."""
    g = np.asarray(G, dtype=np.float64)
    if l1 == 0:
        return g
    return np.sign(g) * np.maximum(np.abs(g) - l1, 0.0)


def leaf_weight(G: np.ndarray, H: np.ndarray, c: Criterion) -> np.ndarray:  # noqa: N803
    r"""Leaf weights :math:`w_k = -T(G_k) / (H_k + \lambda)` per output (0 where the denominator is <= 0)."""
    den = np.asarray(H, dtype=np.float64) + c.l2
    num = soft_threshold(G, c.l1)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, -num / safe, 0.0)


def _scores(G: np.ndarray, H: np.ndarray, c: Criterion) -> np.ndarray:  # noqa: N803
    """:math:`\\sum_k T(G_k)^2/(H_k+\\lambda)` over the last axis (0 terms where the denominator is <= 0)."""
    t = soft_threshold(G, c.l1)
    den = np.asarray(H, dtype=np.float64) + c.l2
    safe = np.where(den > 0, den, 1.0)
    return np.sum(np.where(den > 0, t * t / safe, 0.0), axis=-1)


def score(G: np.ndarray, H: np.ndarray, c: Criterion) -> float:  # noqa: N803
    r"""A node's score :math:`S = \sum_k T(G_k)^2 / (H_k + \lambda)`."""
    return float(_scores(np.atleast_1d(G), np.atleast_1d(H), c))


def _totals(totals: Totals, n_outputs: int) -> tuple[np.ndarray, np.ndarray, int]:
    g_tot = np.asarray(totals[0], dtype=np.float64).reshape(-1)
    h_tot = np.asarray(totals[1], dtype=np.float64).reshape(-1)
    if g_tot.shape != (n_outputs,) or h_tot.shape != (n_outputs,):
        raise DataError(
            f"node totals must have {n_outputs} outputs. Got {g_tot.shape}, {h_tot.shape}.", field="totals"
        )
    return g_tot, h_tot, int(totals[2])


def _gains(
    GL: np.ndarray,  # noqa: N803
    HL: np.ndarray,  # noqa: N803
    NL: np.ndarray,  # noqa: N803
    totals: tuple[np.ndarray, np.ndarray, int],
    c: Criterion,
) -> np.ndarray:
    """Gain of every candidate ``(..., n_outputs)``; ``-inf`` where a constraint fails."""
    g_tot, h_tot, n_tot = totals
    GR, HR = g_tot - GL, h_tot - HL  # noqa: N806
    NR = n_tot - NL  # noqa: N806
    gain = _scores(GL, HL, c) + _scores(GR, HR, c) - _scores(g_tot, h_tot, c)
    min_n = max(1, c.min_leaf_node)
    ok = (min_n <= NL) & (min_n <= NR)
    ok &= (HL.sum(axis=-1) >= c.min_child_weight) & (HR.sum(axis=-1) >= c.min_child_weight)
    return np.where(ok, gain, -np.inf)


def _pick(gains: np.ndarray, c: Criterion) -> int | None:
    """Flat index of the first maximal gain, when it beats ``min_impurity_split``."""
    if gains.size == 0:
        return None
    i = int(np.argmax(gains))
    best = gains.flat[i]
    if not np.isfinite(best) or best <= c.min_impurity_split:
        return None
    return i


def best_split(
    G: np.ndarray,  # noqa: N803
    H: np.ndarray,  # noqa: N803
    N: np.ndarray,  # noqa: N803
    totals: Totals,
    c: Criterion,
    *,
    missing_bin: np.ndarray | None = None,
) -> Split | None:
    """The best split over every (feature, bin, missing side) of per-bin histograms.

    Parameters
    ----------
    G, H
        Per-bin gradient / hessian sums, ``(n_features, n_bins, n_outputs)``.
    N
        Per-bin row counts, ``(n_features, n_bins)``.
    totals
        The node's ``(G, H, n)``; the right child is totals − left.
    c
        The criterion.
    missing_bin
        Per feature, the index of its missing-value bin or -1 (``None``: no missing bins).

    Returns
    -------
    Split | None
        ``None`` when the node has fewer than ``min_sample_split`` rows or no admissible candidate
        gains more than ``min_impurity_split``.
    """
    g, h, n = _histograms(G, H, N)
    n_features, n_bins, n_outputs = g.shape
    tot = _totals(totals, n_outputs)
    if tot[2] < c.min_sample_split or n_features == 0 or n_bins == 0:
        return None
    is_miss, g_miss, h_miss, n_miss = _missing_bins(g, h, n, missing_bin)
    GL, HL, NL = _left_candidates(g, h, n, is_miss, g_miss, h_miss, n_miss)  # noqa: N806
    gains = _gains(GL, HL, NL, tot, c)
    gains[is_miss] = -np.inf  # the missing bin is no threshold
    i = _pick(gains, c)
    if i is None:
        return None
    f, b, side = np.unravel_index(i, gains.shape)
    return Split(
        gain=float(gains[f, b, side]),
        feature=int(f),
        bin=int(b),
        missing_left=bool(side),
        G_left=GL[f, b, side].copy(),
        H_left=HL[f, b, side].copy(),
        n_left=round(float(NL[f, b, side])),
    )


def _histograms(
    G: np.ndarray,  # noqa: N803
    H: np.ndarray,  # noqa: N803
    N: np.ndarray,  # noqa: N803
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The histograms as float arrays, checked against the layout :func:`best_split` documents."""
    g = np.asarray(G, dtype=np.float64)
    h = np.asarray(H, dtype=np.float64)
    n = np.asarray(N, dtype=np.float64)
    if g.ndim != 3 or h.shape != g.shape or n.shape != g.shape[:2]:
        raise DataError(
            f"histograms must be G, H (features, bins, outputs) and N (features, bins). "
            f"Got {g.shape}, {h.shape}, {n.shape}.",
            field="histogram",
        )
    return g, h, n


def _missing_bins(
    g: np.ndarray, h: np.ndarray, n: np.ndarray, missing_bin: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each feature's missing bin as a mask, and its sums (zero without one), to scan it apart."""
    n_features, n_bins = n.shape
    miss = np.full(n_features, -1, dtype=np.int64) if missing_bin is None else np.asarray(missing_bin)
    if miss.shape != (n_features,) or np.any(miss >= n_bins):
        raise DataError(f"missing_bin must be ({n_features},) with values < {n_bins}.", field="missing_bin")
    has_miss = miss >= 0
    is_miss = np.zeros((n_features, n_bins), dtype=bool)
    is_miss[np.flatnonzero(has_miss), miss[has_miss]] = True
    feat = np.arange(n_features)
    m_idx = np.where(has_miss, miss, 0)
    g_miss = np.where(has_miss[:, None], g[feat, m_idx], 0.0)  # (F, K)
    h_miss = np.where(has_miss[:, None], h[feat, m_idx], 0.0)
    n_miss = np.where(has_miss, n[feat, m_idx], 0.0)  # (F,)
    return is_miss, g_miss, h_miss, n_miss


def _left_candidates(
    g: np.ndarray,
    h: np.ndarray,
    n: np.ndarray,
    is_miss: np.ndarray,
    g_miss: np.ndarray,
    h_miss: np.ndarray,
    n_miss: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left sums of every (feature, bin, missing side) candidate, by one cumulative scan."""
    cg = np.cumsum(np.where(is_miss[:, :, None], 0.0, g), axis=1)  # (F, B, K)
    ch = np.cumsum(np.where(is_miss[:, :, None], 0.0, h), axis=1)
    cn = np.cumsum(np.where(is_miss, 0.0, n), axis=1)  # (F, B)

    # Candidates laid out (F, B, side), side 0 = missing right: argmax's first maximum is the
    # lowest (feature, bin), then missing_left=False.
    GL = np.stack([cg, cg + g_miss[:, None, :]], axis=2)  # (F, B, 2, K)  # noqa: N806
    HL = np.stack([ch, ch + h_miss[:, None, :]], axis=2)  # noqa: N806
    NL = np.stack([cn, cn + n_miss[:, None]], axis=2)  # (F, B, 2)  # noqa: N806
    return GL, HL, NL


def best_split_cumulative(
    GL: np.ndarray,  # noqa: N803
    HL: np.ndarray,  # noqa: N803
    NL: np.ndarray,  # noqa: N803
    totals: Totals,
    c: Criterion,
) -> Split | None:
    """The best of candidates given as LEFT sums, in any order (e.g. decrypted host candidates).

    Parameters
    ----------
    GL, HL
        Left-child gradient / hessian sums, ``(n_candidates, n_outputs)``.
    NL
        Left-child row counts, ``(n_candidates,)``.
    totals, c
        As :func:`best_split`.

    Returns
    -------
    Split | None
        ``feature`` = the winning candidate's index (ties: the lowest), ``bin`` = -1,
        ``missing_left`` = False (the candidate's owner knows its meaning).
    """
    gl = np.asarray(GL, dtype=np.float64)
    hl = np.asarray(HL, dtype=np.float64)
    nl = np.asarray(NL, dtype=np.float64).reshape(-1)
    if gl.ndim == 1:
        gl, hl = gl[:, None], hl[:, None]
    if gl.ndim != 2 or hl.shape != gl.shape or nl.shape != gl.shape[:1]:
        raise DataError(
            f"candidates must be GL, HL (candidates, outputs), NL (candidates,). "
            f"Got {gl.shape}, {hl.shape}, {nl.shape}.",
            field="candidates",
        )
    tot = _totals(totals, gl.shape[1])
    if tot[2] < c.min_sample_split:
        return None
    gains = _gains(gl, hl, nl, tot, c)
    i = _pick(gains, c)
    if i is None:
        return None
    return Split(
        gain=float(gains[i]),
        feature=i,
        bin=-1,
        missing_left=False,
        G_left=gl[i].copy(),
        H_left=hl[i].copy(),
        n_left=round(float(nl[i])),
    )
