r"""Gradient-based one-side sampling (GOSS, Ke et al. 2017; FATE's ``run_goss``).

With :math:`a` = ``top_rate`` and :math:`b` = ``other_rate`` over :math:`n` rows: rank rows by
:math:`\sum_k |g_{ik}|` (descending, ties by row index), keep the top :math:`\lfloor a n \rfloor`
rows with weight 1, draw :math:`\lfloor b n \rfloor` of the remaining rows uniformly without
replacement and give them weight :math:`(1 - a) / b`, so that the sampled gradient sums are
unbiased estimates of the full sums. The caller multiplies :math:`g` and :math:`h` of the
selected rows by the weights and builds the tree on those rows only.
"""

from __future__ import annotations

import numpy as np

from fedloom.core.errors import ConfigError

__all__ = ["goss_sample"]


def goss_sample(
    g: np.ndarray, top_rate: float, other_rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample rows by gradient magnitude.

    Parameters
    ----------
    g
        Gradients ``(n,)`` or ``(n, n_outputs)``; multi-output rows rank by :math:`\\sum_k |g_k|`.
    top_rate, other_rate
        :math:`a, b` with :math:`0 \\le a`, :math:`0 < b`, :math:`a + b \\le 1`.
    rng
        The random generator (seeded by the caller's ``random_seed``).

    Returns
    -------
    rows, weights
        Selected row indices in increasing order (int64) and each one's weight multiplier
        (1 for the top rows, :math:`(1 - a) / b` for the sampled others).
    """
    if not 0.0 <= top_rate <= 1.0:
        raise ConfigError(f"must be in [0, 1]. Got {top_rate}.", field="top_rate")
    if not 0.0 < other_rate <= 1.0:
        raise ConfigError(f"must be in (0, 1]. Got {other_rate}.", field="other_rate")
    if top_rate + other_rate > 1.0:
        raise ConfigError(
            f"top_rate + other_rate must be <= 1. Got {top_rate} + {other_rate}.", field="other_rate"
        )
    a = np.abs(np.asarray(g, dtype=np.float64))
    magnitude = a.reshape(a.shape[0], -1).sum(axis=1)
    n = magnitude.shape[0]
    n_top = int(n * top_rate)
    n_other = int(n * other_rate)
    order = np.argsort(-magnitude, kind="stable")  # stable: ties keep row order
    top = order[:n_top]
    rest = order[n_top:]
    other = rng.choice(rest, size=min(n_other, rest.size), replace=False) if rest.size else rest
    rows = np.concatenate([top, other]).astype(np.int64)
    weights = np.concatenate([np.ones(top.size), np.full(other.size, (1.0 - top_rate) / other_rate)])
    sort = np.argsort(rows, kind="stable")
    return rows[sort], weights[sort]
