"""Feature-selection filters: which columns each filter keeps, from per-column values.

Pure functions, no messages: the federated part (IV over guest and host columns) is
:mod:`fedloom.ml.hetero.selection`. Every filter takes the *candidate* columns (FATE's
``select_col_indexes`` / ``select_names``, minus what earlier filters dropped) and returns a
boolean mask over them; columns that are not candidates are never touched.

Rules (FATE 1.x semantics, written out)
---------------------------------------
``select_by_value(values, filter_type, threshold, take_high)``, the rule of every metric filter:

- ``threshold``: keep ``v >= threshold`` (``take_high``) or ``v <= threshold``; a per-column
  array of thresholds is accepted (FATE's ``host_thresholds``);
- ``top_k``: keep the ``k`` highest (``take_high``) or lowest values; ties are broken by column
  order (the first listed wins), so the result is deterministic;
- ``top_percentile``: ``top_k`` with ``k = ceil(p · n)`` (``n`` candidates, FATE's rounding).

A NaN value is never kept by a threshold and ranks last in ``top_k``.
:func:`keep_one` is FATE's rule that a filter never leaves a party with no candidate: when the
mask is empty it keeps the best column (highest value when ``take_high``, NaN last).

Statistics (:func:`column_statistics`) ignore missing values (NaN): ``mean`` and the population
variance (``ddof=0``, FATE's summary) of the present values; ``std = sqrt(variance)``;
``cv = std / |mean|`` (``inf`` when the mean is 0 and std > 0, NaN for an all-equal zero column);
``mode_count``: rows holding the most frequent present value after rounding to 8 decimals (as
FATE's percentage filter compares values).

Local filters on those statistics:

=================================  ===============================================================
``unique_value`` (eps)             keep ``std >= eps`` (FATE: a threshold on std, take high)
``variance_value`` (threshold)     keep ``variance >= threshold``
``coefficient_of_variation``       keep ``|cv| >= threshold``
``percentage_value`` (upper_pct)   keep ``mode_count <= ceil(rows · upper_pct)``: drop a column
                                   whose most frequent value covers more rows than that
``outlier_cols`` (q, upper)        keep a column whose ``q``-quantile (an observed value,
                                   ``inverted_cdf``) is ``<= upper``
``manually``                       drop listed positions / names, or keep only listed ones
=================================  ===============================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from fedloom.core.errors import ConfigError, DataError

__all__ = [
    "ColumnStatistics",
    "FilterOutcome",
    "FilterType",
    "MergeType",
    "coefficient_of_variation_mask",
    "column_quantile",
    "column_statistics",
    "keep_one",
    "manually_mask",
    "merge_class_iv",
    "outlier_mask",
    "percentage_value_mask",
    "select_by_value",
    "unique_value_mask",
    "variance_mask",
]

FilterType = Literal["threshold", "top_k", "top_percentile"]
MergeType = Literal["average", "min", "max"]

#: Decimals values are rounded to before counting equal values (FATE's percentage filter).
MODE_DECIMALS = 8


@dataclass(frozen=True)
class FilterOutcome:
    """What one filter did on one party's candidates.

    Attributes
    ----------
    method
        The filter method (``"iv_filter"``, ``"unique_value"``...).
    values
        The metric per candidate column (``None`` where the filter has none: ``manually``).
    kept, dropped
        Candidate names kept / dropped, in column order.
    hosts
        Guest only, federated IV filters: per host party, ``{"values", "kept", "dropped"}`` by
        anonymous column name.
    """

    method: str
    values: dict[str, float | None]
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    hosts: dict[str, dict[str, object]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (NaN and infinities as ``None``)."""
        out: dict[str, object] = {
            "method": self.method,
            "values": {k: _json_float(v) for k, v in self.values.items()},
            "kept": list(self.kept),
            "dropped": list(self.dropped),
        }
        if self.hosts:
            out["hosts"] = self.hosts
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> FilterOutcome:
        """Read back :meth:`to_dict` (DataError on anything else)."""
        try:
            values = d["values"]
            kept, dropped = d["kept"], d["dropped"]
            if not isinstance(values, dict) or not isinstance(kept, list) or not isinstance(dropped, list):
                raise TypeError("values must be an object, kept and dropped lists")
            hosts = d.get("hosts") or {}
            if not isinstance(hosts, dict):
                raise TypeError("hosts must be an object")
            return cls(
                str(d["method"]),
                {str(k): None if v is None else float(v) for k, v in values.items()},
                tuple(str(c) for c in kept),
                tuple(str(c) for c in dropped),
                {str(k): dict(v) for k, v in hosts.items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"the stored model's filter result is not readable: {exc}", field="filters"
            ) from None


def _json_float(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


# -- the metric rule ------------------------------------------------------------------------------
def _rank(values: np.ndarray, take_high: bool) -> np.ndarray:
    """Positions best first: by value (descending when ``take_high``), NaN last, ties by position."""
    key = np.where(np.isnan(values), np.inf, -values if take_high else values)
    return np.argsort(key, kind="stable")


def select_by_value(
    values: Sequence[float] | np.ndarray,
    filter_type: FilterType,
    threshold: float | np.ndarray,
    *,
    take_high: bool = True,
) -> np.ndarray:
    """The mask of values a metric filter keeps (see the module docs).

    Parameters
    ----------
    values
        One metric value per candidate column (NaN: unknown).
    filter_type
        ``threshold``, ``top_k`` or ``top_percentile``.
    threshold
        The threshold (one number or one per column), ``k``, or the fraction ``p`` in [0, 1].
    take_high
        Keep the high values (IV) or the low ones.

    Raises
    ------
    ConfigError
        ``k`` not a positive integer, ``p`` outside [0, 1], or an unknown ``filter_type``.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if filter_type == "threshold":
        t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), v.shape)
        with np.errstate(invalid="ignore"):
            return np.asarray(v >= t if take_high else v <= t) & ~np.isnan(v)
    if filter_type == "top_k":
        k = float(np.asarray(threshold))
        if k != int(k) or k < 1:
            raise ConfigError(f"top_k needs a positive integer k. Got {threshold!r}.", field="threshold")
        count = int(k)
    elif filter_type == "top_percentile":
        p = float(np.asarray(threshold))
        if not 0.0 <= p <= 1.0:
            raise ConfigError(
                f"top_percentile needs a fraction in [0, 1]. Got {threshold!r}.", field="threshold"
            )
        count = math.ceil(p * n)
    else:
        raise ConfigError(
            f"filter_type must be threshold, top_k or top_percentile. Got {filter_type!r}.",
            field="filter_type",
        )
    mask = np.zeros(n, dtype=bool)
    mask[_rank(v, take_high)[:count]] = True
    return mask


def keep_one(mask: np.ndarray, values: Sequence[float] | np.ndarray, *, take_high: bool = True) -> np.ndarray:
    """``mask``, or (when it keeps nothing and there are candidates) only the best value's column."""
    if mask.any() or len(mask) == 0:
        return mask
    out = np.zeros(len(mask), dtype=bool)
    out[_rank(np.asarray(values, dtype=np.float64), take_high)[0]] = True
    return out


def merge_class_iv(iv: float | Mapping[str, float] | None, how: MergeType = "average") -> float:
    """One IV per column: the value itself, or for multi-class (one IV per class, one-vs-rest)
    their mean, min or max (FATE's ``mul_class_merge_type``). ``None`` becomes NaN."""
    if iv is None:
        return math.nan
    if isinstance(iv, Mapping):
        vals = np.array([float(x) for x in iv.values()], dtype=np.float64)
        if not len(vals):
            return math.nan
        if how == "min":
            return float(vals.min())
        if how == "max":
            return float(vals.max())
        return float(vals.mean())
    return float(iv)


# -- local statistics -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnStatistics:
    """Per-column statistics of a dense ``(rows, cols)`` matrix, missing values (NaN) ignored."""

    rows: int
    count: np.ndarray  # (cols,) present values
    mean: np.ndarray
    variance: np.ndarray  # population (ddof=0)
    mode_count: np.ndarray  # rows holding the most frequent present value

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation."""
        return np.sqrt(self.variance)

    @property
    def cv(self) -> np.ndarray:
        """``std / |mean|`` (``inf`` for mean 0 and std > 0; NaN for a constant 0 column)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.std / np.abs(self.mean)


def column_statistics(features: np.ndarray) -> ColumnStatistics:
    """The :class:`ColumnStatistics` of ``features`` (see the module docs)."""
    x = np.asarray(features, dtype=np.float64)
    rows, cols = x.shape
    present = ~np.isnan(x)
    count = present.sum(axis=0)
    filled = np.where(present, x, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = filled.sum(axis=0) / count
        centred = np.where(present, x - mean, 0.0)
        variance = (centred**2).sum(axis=0) / count
    # mode: sort each rounded column (NaN sorts last), then the longest run of equal values
    s = np.sort(np.round(x, MODE_DECIMALS), axis=0)  # (rows, cols)
    mode = np.zeros(cols, dtype=np.int64)
    for j in range(cols):
        col = s[: count[j], j]
        if len(col):
            starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1], True])
            mode[j] = int(np.diff(starts).max())
    return ColumnStatistics(rows, count, mean, variance, mode)


def unique_value_mask(stats: ColumnStatistics, eps: float) -> np.ndarray:
    """Keep ``std >= eps`` (a column of one value, or all missing, is dropped)."""
    return select_by_value(stats.std, "threshold", eps)


def variance_mask(stats: ColumnStatistics, threshold: float) -> np.ndarray:
    """Keep ``variance >= threshold``."""
    return select_by_value(stats.variance, "threshold", threshold)


def coefficient_of_variation_mask(stats: ColumnStatistics, threshold: float) -> np.ndarray:
    """Keep ``|std / mean| >= threshold``."""
    return select_by_value(stats.cv, "threshold", threshold)


def percentage_value_mask(stats: ColumnStatistics, upper_pct: float) -> np.ndarray:
    """Keep a column unless its most frequent value is on more than ``ceil(rows · upper_pct)`` rows."""
    limit = math.ceil(stats.rows * upper_pct)
    return np.asarray(stats.mode_count <= limit)


def column_quantile(features: np.ndarray, q: float) -> np.ndarray:
    """Each column's ``q``-quantile of its present values: the smallest observed value with at
    least a fraction ``q`` of them at or below it (``inverted_cdf``); NaN for an all-missing column."""
    x = np.asarray(features, dtype=np.float64)
    out = np.full(x.shape[1], np.nan)
    for j in range(x.shape[1]):
        col = np.sort(x[~np.isnan(x[:, j]), j])
        if len(col):
            out[j] = col[min(max(math.ceil(q * len(col)) - 1, 0), len(col) - 1)]
    return out


def outlier_mask(features: np.ndarray, percentile: float, upper_threshold: float) -> np.ndarray:
    """Keep a column whose ``percentile``-quantile (an observed value) is ``<= upper_threshold``."""
    return select_by_value(
        column_quantile(features, percentile), "threshold", upper_threshold, take_high=False
    )


def manually_mask(
    candidates: Sequence[str],
    header: Sequence[str],
    *,
    filter_out_indexes: Sequence[int] | None = None,
    filter_out_names: Sequence[str] | None = None,
    left_col_indexes: Sequence[int] | None = None,
    left_col_names: Sequence[str] | None = None,
) -> np.ndarray:
    """FATE's ``manually`` filter over ``candidates`` (names of ``header``, this party's columns).

    Positions index ``header``. With ``left_*`` only the listed candidates stay; else the
    ``filter_out_*`` ones go. Positions and names that are not this party's columns are ignored,
    as in FATE (one conf's ``common`` part reaches every party).
    """

    def named(indexes: Sequence[int] | None, names: Sequence[str] | None) -> set[str]:
        out = {header[i] for i in indexes or () if 0 <= i < len(header)}
        return out | set(names or ())

    if left_col_indexes is not None or left_col_names is not None:
        left = named(left_col_indexes, left_col_names)
        return np.array([c in left for c in candidates], dtype=bool)
    out = named(filter_out_indexes, filter_out_names)
    return np.array([c not in out for c in candidates], dtype=bool)
