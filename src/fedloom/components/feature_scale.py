"""``FeatureScale``: standard or min-max scaling of a party's own feature columns.

FATE's parameter names and semantics are accepted (``ScaleParam``, FATE 1.11)::

    "scale_0": {"method": "standard_scale", "scale_col_indexes": -1}

=======================  ==========================================================================
``method``               ``standard_scale`` (default): ``(x - mean) / std``;
                         ``min_max_scale``: ``(x - min) / (max - min)``;
                         ``null``: no scaling (the data pass through). Case-insensitive.
``mode``                 ``normal`` (default): ``feat_upper`` / ``feat_lower`` are values;
                         ``cap``: they are quantiles in ``[0, 1]`` of each column
``feat_upper``           a number or (``normal`` only) one number per feature: the column's
                         upper bound; values above it are clipped to it before scaling
``feat_lower``           the same for the lower bound
``scale_col_indexes``    ``-1`` (default): every feature; else a list of feature positions
``scale_names``          feature names scaled *in addition to* ``scale_col_indexes`` (as in
                         FATE, they count only when ``scale_col_indexes`` is a list: write
                         ``"scale_col_indexes": []`` to scale the named columns alone)
``with_mean``            ``standard_scale``: subtract the mean (else the centre is 0)
``with_std``             ``standard_scale``: divide by the standard deviation (else by 1)
``need_run``             FATE's switch (the runner reads it: ``false`` passes the data through)
=======================  ==========================================================================

The fitted statistics, per scaled column ``j``: the range ``[lower_j, upper_j]`` (the column's
min and max, tightened by ``feat_lower`` / ``feat_upper``: a bound outside the data's range
changes nothing), the ``centre_j`` and the ``scale_j``. Every scaled value is::

    x'_j = (clip(x_j, lower_j, upper_j) - centre_j) / scale_j

- ``min_max_scale``: ``centre = lower``, ``scale = upper - lower``;
- ``standard_scale``: ``centre`` and ``scale`` are the mean and the population standard deviation
  (``ddof=0``, as FATE's summary and scikit-learn's ``StandardScaler``) of the *clipped* column;
- a ``scale`` below ``1e-6`` (a constant column) is taken as 1, as FATE does.

Without bounds this is exactly scikit-learn's ``MinMaxScaler`` / ``StandardScaler`` on the
training data. As in FATE, data transformed later with the model are clipped to the training
range first, so min-max scaled values stay in ``[0, 1]``. ``cap`` quantiles are exact (numpy's
``inverted_cdf``: an observed value), where FATE's quantile summary is approximate (rank error
1e-4).

**Federation**: none. Guest and hosts each fit on their own rows and columns and send nothing, so
no party learns anything about another's data; in a horizontal job each party's statistics are
its own (as in FATE), so the same raw value may scale differently on two parties. The arbiter
does not run it.

**Model** (``model.json``): ``{"module", "role", "party", "params", "method", "schema",
"columns": {name: {"lower", "upper", "centre", "scale"}}}`` with the input schema and only the
scaled columns. A component given that model (``input.model``, or ``isometric_model``: validation
data through ``scale_1`` fed ``scale_0.model``, or ``pipeline.scale_0.model`` in a predict job)
fits nothing: it checks the new data against the schema and applies the stored statistics.

**Sparse data** (``DataTransform``'s ``output_format: sparse``) stays sparse: the statistics are
those of the full columns (implicit zeros included; computed a block of columns at a time, the
same numbers as on the dense data) and only the stored non-zeros are transformed. That is exact
only where a column's implicit zeros stay zero, ``(clip(0) - centre) / scale == 0``: true for
``standard_scale`` with ``with_mean: false`` (and a range holding 0) and for ``min_max_scale`` of a
column whose lower bound is 0. Any other scaling would turn every zero into a non-zero (a dense
matrix), so it is refused naming the parameter (``with_mean`` or ``method``), as scikit-learn
refuses to centre a sparse matrix.

Importing this module registers ``FeatureScale`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictBool, field_validator, model_validator
from scipy import sparse

from fedloom.components.base import (
    Inputs,
    LocalTransform,
    Outputs,
    local_transform_spec,
    stored_float,
    stored_object,
)
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.data import Frame, align

__all__ = ["ColumnScale", "FeatureScale", "FeatureScaleParams", "fit_scale", "scaled_columns", "transform"]

log = logging.getLogger(__name__)

MODULE = "FeatureScale"
#: A spread below this is a constant column: its scale is taken as 1 (FATE's rule).
MIN_SCALE = 1e-6
#: Dense cells per block of columns when fitting on sparse data (about 32 MiB of float64).
SPARSE_BLOCK_CELLS = 1 << 22

Bound = float | list[float] | None


def _fail(name: str, rule: str, value: object) -> ConfigError:
    return ConfigError(f"The '{name}' parameter of {MODULE} {rule}. Got {value!r}.", field=name)


class FeatureScaleParams(BaseModel):
    """Parameters of ``FeatureScale`` (FATE's ``ScaleParam`` names; see the module docs).

    Unknown names and wrong types are refused by the job loader as a ConfigError naming the field;
    the rules between fields raise a :class:`~fedloom.core.ConfigError` naming the field.
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["standard_scale", "min_max_scale"] | None = "standard_scale"
    mode: Literal["normal", "cap"] = "normal"
    scale_col_indexes: int | list[int] = -1
    scale_names: list[str] | None = None
    feat_upper: Bound = None
    feat_lower: Bound = None
    with_mean: StrictBool = True
    with_std: StrictBool = True

    @field_validator("method", "mode", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> FeatureScaleParams:
        idx = self.scale_col_indexes
        if isinstance(idx, int) and idx != -1:
            raise _fail("scale_col_indexes", "must be -1 (every feature) or a list of feature positions", idx)
        if isinstance(idx, list) and any(i < 0 for i in idx):
            raise _fail("scale_col_indexes", "must list feature positions (0 or more)", idx)
        for name in ("feat_upper", "feat_lower"):
            value = getattr(self, name)
            values = value if isinstance(value, list) else [] if value is None else [value]
            if any(not math.isfinite(v) for v in values):
                raise _fail(name, "must be finite", value)
            if self.mode == "cap":
                if isinstance(value, list):
                    raise _fail(
                        name,
                        "must be one quantile in [0, 1] in mode 'cap' (a list needs mode 'normal')",
                        value,
                    )
                if value is not None and not 0.0 <= value <= 1.0:
                    raise _fail(name, "must be a quantile in [0, 1] in mode 'cap'", value)
        upper, lower = self.feat_upper, self.feat_lower
        if upper is not None and lower is not None:
            n = next((len(b) for b in (upper, lower) if isinstance(b, list)), 1)
            ups = upper if isinstance(upper, list) else [upper] * n
            lows = lower if isinstance(lower, list) else [lower] * n
            if len(ups) != len(lows):
                raise _fail("feat_lower", f"must list as many bounds as feat_upper ({len(ups)})", lower)
            if any(lo > up for up, lo in zip(ups, lows, strict=True)):
                raise _fail("feat_lower", "must not exceed feat_upper", lower)
        return self

    @property
    def names(self) -> list[str]:
        """``scale_names`` (FATE's ``None`` is an empty list)."""
        return list(self.scale_names or [])


@dataclass
class ColumnScale:
    """The fitted statistics of one scaled column: ``x' = (clip(x, lower, upper) - centre) / scale``."""

    lower: float
    upper: float
    centre: float
    scale: float

    def to_dict(self) -> dict[str, float]:
        """Plain numbers for ``model.json``."""
        return {"lower": self.lower, "upper": self.upper, "centre": self.centre, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> ColumnScale:
        """Read back what :meth:`to_dict` wrote (DataError for anything else)."""
        lower, upper, centre, scale = (
            stored_float(d.get(k), f"columns.{k}") for k in ("lower", "upper", "centre", "scale")
        )
        return cls(lower, upper, centre, scale)


def scaled_columns(
    params: FeatureScaleParams, features: Sequence[str], table: str | None = None
) -> list[int]:
    """Positions of the features to scale, sorted (FATE's ``_get_scale_column_idx``).

    Raises
    ------
    DataError
        A position or a name that is not a feature of the data.
    """
    n = len(features)
    if params.method is None:
        return []
    if params.scale_col_indexes == -1:
        return list(range(n))
    assert isinstance(params.scale_col_indexes, list)
    where = f"table {table}: " if table else ""
    bad = [i for i in params.scale_col_indexes if i >= n]
    if bad:
        raise DataError(
            f"{where}scale_col_indexes {bad} are beyond the {n} feature column(s) (positions 0..{n - 1}).",
            field="scale_col_indexes",
        )
    chosen = set(params.scale_col_indexes)
    index = {f: i for i, f in enumerate(features)}
    unknown = [name for name in params.names if name not in index]
    if unknown:
        raise DataError(
            f"{where}scale_names {unknown} are not feature columns (features: {list(features)[:10]}).",
            field="scale_names",
        )
    chosen.update(index[name] for name in params.names)
    return sorted(chosen)


def _bounds(value: Bound, name: str, features: Sequence[str], cols: Sequence[int]) -> dict[int, float]:
    """``feat_upper`` / ``feat_lower`` per scaled position: a list has one bound per feature, or
    one per scaled column."""
    if value is None:
        return {}
    if not isinstance(value, list):
        return dict.fromkeys(cols, float(value))
    if len(value) == len(features):
        return {j: float(value[j]) for j in cols}
    if len(value) == len(cols):
        return {j: float(v) for j, v in zip(cols, value, strict=True)}
    raise DataError(
        f"{name} lists {len(value)} bound(s); give one per feature ({len(features)}) or one per scaled "
        f"column ({len(cols)}).",
        field=name,
    )


def _quantile(x: np.ndarray, q: float) -> np.ndarray:
    """The ``q``-quantile of each column of ``x``: the smallest observed value with at least a
    fraction ``q`` of the column at or below it (numpy's ``method="inverted_cdf"``)."""
    n = x.shape[0]
    rank = min(max(math.ceil(q * n) - 1, 0), n - 1)
    return np.sort(x, axis=0)[rank].astype(np.float64)  # (k,)


def fit_scale(frame: Frame, params: FeatureScaleParams) -> dict[str, ColumnScale]:
    """Fit the statistics of the scaled columns of ``frame`` (see the module docs).

    Returns
    -------
    dict
        ``{feature name: ColumnScale}`` for the scaled columns, in feature order.

    Raises
    ------
    DataError
        Column selection that does not fit the data, or no rows to fit on.
    """
    features = frame.feature_names
    cols = scaled_columns(params, features, frame.table)
    if not cols:
        return {}
    if frame.n_rows == 0:
        raise DataError(f"table {frame.table or '?'}: no rows to fit the scaling on.", field="input.data")
    if frame.is_sparse:  # dense blocks of columns: the same statistics as the dense data
        x_all = frame.sparse_features().tocsc()
        step = max(1, SPARSE_BLOCK_CELLS // max(frame.n_rows, 1))
        out: dict[str, ColumnScale] = {}
        for a in range(0, len(cols), step):
            block = cols[a : a + step]
            out.update(_fit_columns(np.asarray(x_all[:, block].toarray()), block, features, params))
        return out
    return _fit_columns(frame.features[:, cols], cols, features, params)


def _fit_columns(
    x: np.ndarray, cols: list[int], features: Sequence[str], params: FeatureScaleParams
) -> dict[str, ColumnScale]:
    """:func:`fit_scale` of the columns ``cols``, whose values are ``x`` (n, k)."""
    lower, upper = x.min(axis=0), x.max(axis=0)
    if params.mode == "cap":
        if isinstance(params.feat_upper, float | int):  # a list is refused in mode 'cap'
            upper = _quantile(x, float(params.feat_upper))
        if isinstance(params.feat_lower, float | int):
            lower = _quantile(x, float(params.feat_lower))
    else:
        ups = _bounds(params.feat_upper, "feat_upper", features, cols)
        lows = _bounds(params.feat_lower, "feat_lower", features, cols)
        for k, j in enumerate(cols):
            if j in ups:  # FATE: a bound below the column's min collapses the column onto it
                upper[k], lower[k] = min(upper[k], ups[j]), min(lower[k], ups[j])
            if j in lows:
                lower[k], upper[k] = max(lower[k], lows[j]), max(upper[k], lows[j])
    if params.method == "min_max_scale":
        centre, spread = lower, upper - lower
    else:
        clipped = np.clip(x, lower, upper)
        centre = clipped.mean(axis=0) if params.with_mean else np.zeros(len(cols))
        spread = clipped.std(axis=0) if params.with_std else np.ones(len(cols))
    spread = np.where(np.abs(spread) < MIN_SCALE, 1.0, spread)
    return {
        features[j]: ColumnScale(float(lower[k]), float(upper[k]), float(centre[k]), float(spread[k]))
        for k, j in enumerate(cols)
    }


def transform(frame: Frame, columns: Mapping[str, ColumnScale]) -> Frame:
    """``frame`` with each column of ``columns`` clipped to its range and scaled; others unchanged.

    Raises
    ------
    DataError
        A column of ``columns`` is not a feature of ``frame``.
    """
    if not columns:
        return frame
    index = {f: i for i, f in enumerate(frame.feature_names)}
    missing = [c for c in columns if c not in index]
    if missing:
        raise DataError(f"table {frame.table or '?'}: no feature column(s) {missing[:5]}.", field=missing[0])
    cols = [index[c] for c in columns]
    stats = list(columns.values())
    lower = np.array([s.lower for s in stats])
    upper = np.array([s.upper for s in stats])
    centre = np.array([s.centre for s in stats])
    scale = np.array([s.scale for s in stats])
    if frame.is_sparse:
        return frame.with_features(_transform_sparse(frame, cols, lower, upper, centre, scale))
    feats = frame.features.copy()
    feats[:, cols] = (np.clip(feats[:, cols], lower, upper) - centre) / scale  # (n, k)
    return Frame(
        frame.ids,
        feats,
        frame.feature_names,
        frame.label,
        match_id_name=frame.match_id_name,
        label_name=frame.label_name,
        table=frame.table,
        weights=frame.weights,
    )


def _transform_sparse(
    frame: Frame,
    cols: list[int],
    lower: np.ndarray,
    upper: np.ndarray,
    centre: np.ndarray,
    scale: np.ndarray,
) -> sparse.csr_matrix:
    """The scaled CSR matrix: only stored values change; a column with implicit zeros must map 0 to 0."""
    x = frame.sparse_features().tocsc(copy=True)
    n = frame.n_rows
    for k, j in enumerate(cols):
        lo, hi = int(x.indptr[j]), int(x.indptr[j + 1])
        if hi - lo < n and (np.clip(0.0, lower[k], upper[k]) - centre[k]) / scale[k] != 0.0:
            field = "method" if centre[k] == lower[k] else "with_mean"  # min-max centres on the lower bound
            raise ConfigError(
                f"table {frame.table or '?'}: scaling column {frame.feature_names[j]!r} of sparse data "
                f"moves its zeros to {(np.clip(0.0, lower[k], upper[k]) - centre[k]) / scale[k]:.6g}, "
                "which would make the matrix dense; use standard_scale with with_mean false (or "
                "min_max_scale on a column whose minimum is 0), or DataTransform's output_format dense.",
                field=field,
            )
        x.data[lo:hi] = (np.clip(x.data[lo:hi], lower[k], upper[k]) - centre[k]) / scale[k]
    out = x.tocsr()
    out.eliminate_zeros()
    return out


class FeatureScale(LocalTransform):
    """Scale this party's features (guest or host; the same class for both; no messages)."""

    module = MODULE
    params: FeatureScaleParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        name = self.env.component
        data, stored = self.local_inputs(inputs)
        if stored is None:
            params = self.params
            columns = fit_scale(data, params)
            schema = data.schema
        else:
            params = FeatureScaleParams.model_validate(stored["params"])
            schema = stored_object(stored.get("schema"), "schema")
            data = align(data, schema)
            scales = stored_object(stored.get("columns"), "columns").items()
            columns = {c: ColumnScale.from_dict(stored_object(s, f"columns.{c}")) for c, s in scales}
        out = transform(data, columns)
        log.info(
            "%s: %s %d of %d feature(s) of %d row(s)%s",
            name,
            params.method or "no scaling:",
            len(columns),
            out.n_features,
            out.n_rows,
            " with the stored model" if stored is not None else "",
        )
        model = self.local_model(
            params,
            method=params.method,
            schema=schema,
            columns={c: s.to_dict() for c, s in columns.items()},
        )
        metrics: dict[str, object] = {
            "mode": "fit" if stored is None else "transform",
            "method": params.method,
            "rows": out.n_rows,
            "features": out.n_features,
            "scaled": len(columns),
        }
        return Outputs(data=[out], model=model, metrics=metrics)


SPEC = local_transform_spec(
    FeatureScale,
    FeatureScaleParams,
    "Standard or min-max scaling of each party's own features (no messages).",
)
