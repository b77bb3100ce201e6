"""What guest and host do alike: the local filters, and reading IVs from the binning model.

The binning model is :class:`fedloom.ml.hetero.binning.BinningModel`'s ``to_dict()`` (read
as JSON, so that a stored model works the same as a fresh one): ``columns`` (own columns, each
with ``iv``: a number, ``{class: number}`` or ``None``), on the guest ``host_columns`` (anonymous
name → ``{"party", "iv", ...}``), on a host ``anonymous`` (own column → anonymous name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import PartyId
from fedloom.data import Frame
from fedloom.ml.feature.selection import (
    FilterOutcome,
    MergeType,
    coefficient_of_variation_mask,
    column_quantile,
    column_statistics,
    keep_one,
    manually_mask,
    merge_class_iv,
    outlier_mask,
    percentage_value_mask,
    unique_value_mask,
    variance_mask,
)
from fedloom.ml.hetero.selection.params import HeteroFeatureSelectionParams

__all__ = ["anonymous_map", "host_iv", "local_filter", "outcome", "own_iv", "require_binning"]


def outcome(
    method: str,
    names: Sequence[str],
    mask: np.ndarray,
    values: Sequence[float] | np.ndarray | None,
    hosts: dict[str, dict[str, object]] | None = None,
) -> FilterOutcome:
    """The :class:`FilterOutcome` of ``mask`` over ``names``."""
    vals: dict[str, float | None] = {
        n: None if values is None else float(values[i]) for i, n in enumerate(names)
    }
    return FilterOutcome(
        method,
        vals,
        tuple(n for n, k in zip(names, mask, strict=True) if k),
        tuple(n for n, k in zip(names, mask, strict=True) if not k),
        hosts or {},
    )


def local_filter(
    params: HeteroFeatureSelectionParams, method: str, frame: Frame, left: Sequence[str]
) -> FilterOutcome:
    """Run the local filter ``method`` on the columns ``left`` of this party's ``frame``.

    Every metric filter keeps at least one column (FATE's rule; see
    :func:`~fedloom.ml.feature.selection.keep_one`); ``manually`` keeps what it is told.
    """
    if method == "manually":
        m = params.manually_param
        mask = manually_mask(
            left,
            frame.feature_names,
            filter_out_indexes=m.filter_out_indexes,
            filter_out_names=m.filter_out_names,
            left_col_indexes=m.left_col_indexes,
            left_col_names=m.left_col_names,
        )
        return outcome(method, left, mask, None)
    x = frame.select_features(list(left)).features if left else np.zeros((frame.n_rows, 0))
    stats = column_statistics(x)
    values: np.ndarray
    if method == "unique_value":
        values, mask = stats.std, unique_value_mask(stats, params.unique_param.eps)
    elif method == "variance_value":
        values, mask = stats.variance, variance_mask(stats, params.variance_value_param.value_threshold)
    elif method == "coefficient_of_variation_value_thres":
        values = stats.cv
        mask = coefficient_of_variation_mask(stats, params.variance_coe_param.value_threshold)
    elif method == "percentage_value":
        values = stats.mode_count / max(stats.rows, 1)
        mask = percentage_value_mask(stats, params.percentage_value_param.upper_pct)
        # keep the column whose commonest value is least common when all are dropped
        return outcome(method, left, keep_one(mask, values, take_high=False), values)
    elif method == "outlier_cols":
        o = params.outlier_param
        values = column_quantile(x, o.percentile)
        mask = outlier_mask(x, o.percentile, o.upper_threshold)
        return outcome(method, left, keep_one(mask, values, take_high=False), values)
    else:
        raise ConfigError(f"{method!r} is not a local filter", field="filter_methods")
    return outcome(method, left, keep_one(mask, values), values)


def require_binning(binning: Mapping[str, object] | None, method: str) -> Mapping[str, object]:
    """The binning model an IV filter needs (ConfigError naming ``input.isometric_model``)."""
    if binning is None:
        raise ConfigError(
            f"the {method} filter needs a HeteroFeatureBinning model as input.isometric_model",
            field="input.isometric_model",
        )
    return binning


def _section(binning: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = binning.get(key)
    if not isinstance(value, Mapping):
        raise DataError(f"the binning model has no {key!r} object", field=f"isometric_model.{key}")
    return value


def _iv_of(entry: object, where: str, merge: MergeType) -> float:
    iv = entry.get("iv") if isinstance(entry, Mapping) else None
    if iv is None:
        raise DataError(
            f"the binning model has no IV for {where} (local_only binning, or a column not binned)",
            field="isometric_model",
        )
    if not isinstance(iv, int | float | Mapping):
        raise DataError(f"the binning model's IV of {where} is not a number", field="isometric_model")
    return merge_class_iv(iv, merge)


def own_iv(binning: Mapping[str, object], names: Sequence[str], merge: MergeType) -> np.ndarray:
    """The IV of this party's columns ``names`` (DataError naming a column without one)."""
    cols = _section(binning, "columns")
    return np.array([_iv_of(cols.get(n), f"column {n!r}", merge) for n in names], dtype=np.float64)


def _party_matches(recorded: object, party: PartyId) -> bool:
    return isinstance(recorded, str) and recorded.replace("-", ":") == str(party)


def host_iv(
    binning: Mapping[str, object], party: PartyId, names: Sequence[str], merge: MergeType
) -> np.ndarray:
    """The IV of ``party``'s columns known by anonymous ``names`` (guest side)."""
    cols = _section(binning, "host_columns")
    out = []
    for n in names:
        entry = cols.get(n)
        if not isinstance(entry, Mapping) or not _party_matches(entry.get("party"), party):
            raise DataError(f"the binning model has no host column {n!r} of {party}", field="isometric_model")
        out.append(_iv_of(entry, f"host column {n!r}", merge))
    return np.array(out, dtype=np.float64)


def host_columns_of(binning: Mapping[str, object], party: PartyId) -> set[str]:
    """The anonymous names the guest's binning model knows for ``party``."""
    cols = binning.get("host_columns")
    if not isinstance(cols, Mapping):
        return set()
    return {n for n, e in cols.items() if isinstance(e, Mapping) and _party_matches(e.get("party"), party)}


def anonymous_map(binning: Mapping[str, object], names: Sequence[str]) -> dict[str, str]:
    """Host side: the anonymous name of each of ``names`` (DataError naming a column without one)."""
    anon = _section(binning, "anonymous")
    missing = [n for n in names if not isinstance(anon.get(n), str)]
    if missing:
        raise DataError(
            f"the binning model has no anonymous name for column(s) {missing[:5]} (not binned?)",
            field="isometric_model.anonymous",
        )
    return {n: str(anon[n]) for n in names}
