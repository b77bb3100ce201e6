"""``OneHotEncoder``: one indicator column per category of a party's own integer-valued columns.

FATE's parameter names and semantics are accepted (``OneHotEncoderParam``, FATE 1.x)::

    "one_hot_0": {"transform_col_indexes": -1}

=========================  ========================================================================
``transform_col_indexes``  ``-1`` (default): every feature; else a list of feature positions
                           (``null``: none, the names alone)
``transform_col_names``    feature names encoded *in addition to* ``transform_col_indexes`` (as in
                           FATE, they count only when ``transform_col_indexes`` is a list or
                           ``null``: write ``"transform_col_indexes": []`` to encode the named
                           columns alone)
``need_run``               FATE's switch (the runner reads it: ``false`` passes the data through)
=========================  ========================================================================

It usually follows ``HeteroFeatureBinning`` with ``transform_param.transform_type: bin_num``,
whose output holds bin indices ``0, 1, ...`` in place of the values.

**Fit.** The categories of an encoded column are its sorted distinct values. They must be
integers (FATE encodes "integer or string" values and refuses the rest): a missing (NaN) or
infinite value, a value with a fractional part, or one beyond ``2**53`` in magnitude (where
float64 no longer holds every integer) is refused with a DataError naming the column, and so is
a column with more than :data:`MAX_CATEGORIES` (1024, FATE's ``ONE_HOT_LIMIT``) distinct values.

**Output.** Every column keeps its place except the encoded ones, each replaced by its indicator
columns ``<col>_<value>`` (the value written as an integer: ``x3_0``, ``x3_1``, ``x3_-2``) in
increasing value order; the indicator of a row is 1.0 in the column of its value and 0.0 in the
others. This is ``pandas.get_dummies`` of the encoded columns, put back where each column was.
(FATE writes the same names; its column order within a block is that of a Python set.) An
indicator name that is already another feature's name is refused (DataError naming it). Ids,
label and sample weights pass through.

**Unseen values.** Data transformed later with the stored model (a validate or predict set) may
hold an integer value the training data did not: that row gets 0.0 in every indicator of that
column (as in FATE), and the metrics count such rows (``unseen_rows``, and per column
``unseen``). NaN and non-integer values are refused there as at fit.

**Federation**: none. Guest and hosts each encode their own columns and send nothing, so no party
learns anything about another's data. The arbiter does not run it.

**Model** (``model.json``): ``{"module", "role", "party", "params", "schema", "categories":
{name: [int, ...]}, "features": [output names]}`` with the input schema and the encoded columns
in feature order. A component given that model (``input.model``, or ``isometric_model``, or
``pipeline.one_hot_0.model`` in a predict job) fits nothing: it checks the new data against the
schema (missing and extra columns named) and applies the stored categories.

**Sparse data** (``DataTransform``'s ``output_format: sparse``) stays sparse: untouched columns
keep their non-zeros, and an encoded column gives one non-zero per row whose value is a category
(value 0 included: an implicit zero is the category 0), so the output holds at most
``nnz(untouched) + rows × encoded`` non-zeros.

Importing this module registers ``OneHotEncoder`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from scipy import sparse

from fedloom.components.base import Inputs, LocalTransform, Outputs, local_transform_spec, stored_object
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.data import Frame, align

__all__ = [
    "MAX_CATEGORIES",
    "OneHotEncoder",
    "OneHotEncoderParams",
    "encoded_columns",
    "fit_categories",
    "indicator_name",
    "transform",
]

log = logging.getLogger(__name__)

MODULE = "OneHotEncoder"
#: Most distinct values an encoded column may have (FATE's ``ONE_HOT_LIMIT``).
MAX_CATEGORIES = 1024
#: Largest magnitude of a category: every integer up to it is exact in float64.
MAX_MAGNITUDE = 2**53
_LISTED = 5


class OneHotEncoderParams(BaseModel):
    """Parameters of ``OneHotEncoder`` (FATE's ``OneHotEncoderParam`` names; see the module docs).

    Unknown names and wrong types are refused by the job loader as a ConfigError naming the field;
    the rules between fields raise a :class:`~fedloom.core.ConfigError` naming the field.
    """

    model_config = ConfigDict(extra="forbid")

    transform_col_indexes: int | list[int] | None = -1
    transform_col_names: list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> OneHotEncoderParams:
        idx = self.transform_col_indexes
        if isinstance(idx, int) and idx != -1:
            raise ConfigError(
                f"The 'transform_col_indexes' parameter of {MODULE} must be -1 (every feature) or a "
                f"list of feature positions. Got {idx!r}.",
                field="transform_col_indexes",
            )
        if isinstance(idx, list) and any(i < 0 for i in idx):
            raise ConfigError(
                f"The 'transform_col_indexes' parameter of {MODULE} must list feature positions "
                f"(0 or more). Got {idx!r}.",
                field="transform_col_indexes",
            )
        return self

    @property
    def names(self) -> list[str]:
        """``transform_col_names`` (FATE's ``None`` is an empty list)."""
        return list(self.transform_col_names or [])


def _where(table: str | None) -> str:
    return f"table {table}: " if table else ""


def encoded_columns(
    params: OneHotEncoderParams, features: Sequence[str], table: str | None = None
) -> list[int]:
    """Positions of the features to encode, sorted (``-1``: all; else indexes ∪ names).

    Raises
    ------
    DataError
        A position beyond the features (``field="transform_col_indexes"``) or a name that is not a
        feature (``field="transform_col_names"``). FATE logs these and skips them; a typo that
        silently encodes nothing is worse than a failed job.
    """
    n = len(features)
    if params.transform_col_indexes == -1:
        return list(range(n))
    indexes = params.transform_col_indexes if isinstance(params.transform_col_indexes, list) else []
    bad = sorted({i for i in indexes if i >= n})
    if bad:
        raise DataError(
            f"{_where(table)}transform_col_indexes {bad} are beyond the {n} feature column(s) "
            f"(positions 0..{n - 1}).",
            field="transform_col_indexes",
        )
    index = {f: i for i, f in enumerate(features)}
    unknown = [name for name in params.names if name not in index]
    if unknown:
        raise DataError(
            f"{_where(table)}transform_col_names {unknown} are not feature columns "
            f"(features: {list(features)[:10]}).",
            field="transform_col_names",
        )
    return sorted(set(indexes) | {index[name] for name in params.names})


def indicator_name(column: str, value: int) -> str:
    """FATE's name of the indicator of ``value`` in ``column``: ``<column>_<value>``."""
    return f"{column}_{int(value)}"


def _column(x: Any, j: int) -> np.ndarray:
    """Column ``j`` of a dense array or a CSC matrix as a dense ``(n,)`` float64 array."""
    if sparse.issparse(x):
        out = np.zeros(x.shape[0])
        lo, hi = int(x.indptr[j]), int(x.indptr[j + 1])
        out[x.indices[lo:hi]] = x.data[lo:hi]
        return out
    return np.asarray(x[:, j], dtype=np.float64)


def _check_integral(values: np.ndarray, column: str, table: str | None) -> None:
    """A DataError naming ``column`` unless every value is a finite integer within ±2**53."""
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(
            f"{_where(table)}column {column!r} has a missing or infinite value (row {int(bad[0])}: "
            f"{values[bad[0]]!r}); one-hot categories must be integers (fill missing values in "
            "DataTransform first).",
            field=column,
        )
    bad = np.flatnonzero((values != np.floor(values)) | (np.abs(values) > MAX_MAGNITUDE))
    if len(bad):
        raise DataError(
            f"{_where(table)}column {column!r} has the non-integer value {values[bad[0]]!r} (row "
            f"{int(bad[0])}); one-hot categories must be integers within ±2**53 (bin the column "
            "first, e.g. HeteroFeatureBinning with transform_type bin_num).",
            field=column,
        )


def fit_categories(frame: Frame, cols: Sequence[int]) -> dict[str, list[int]]:
    """The sorted distinct values of each column ``cols`` of ``frame`` (see the module docs).

    Returns
    -------
    dict
        ``{feature name: [value, ...]}`` in the order of ``cols``, values as Python ints.

    Raises
    ------
    DataError
        No rows; or a column with a NaN, infinite or non-integer value, or with more than
        :data:`MAX_CATEGORIES` values (naming the column).
    """
    if not cols:
        return {}
    if frame.n_rows == 0:
        raise DataError(f"{_where(frame.table)}no rows to fit the one-hot encoding on.", field="input.data")
    x: Any = frame.sparse_features().tocsc() if frame.is_sparse else frame.features
    out: dict[str, list[int]] = {}
    for j in cols:
        name = frame.feature_names[j]
        values = _column(x, j)
        _check_integral(values, name, frame.table)
        cats = np.unique(values)
        if len(cats) > MAX_CATEGORIES:
            raise DataError(
                f"{_where(frame.table)}column {name!r} has {len(cats)} distinct values; one-hot "
                f"encoding takes at most {MAX_CATEGORIES} per column (bin it first).",
                field=name,
            )
        out[name] = [int(v) for v in cats]
    return out


def _output_names(
    features: Sequence[str], categories: Mapping[str, Sequence[int]], table: str | None
) -> list[str]:
    """The output features: each encoded column replaced by its indicators, in place."""
    names: list[str] = []
    for f in features:
        if f in categories:
            names.extend(indicator_name(f, v) for v in categories[f])
        else:
            names.append(f)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"{_where(table)}the one-hot column {name!r} would repeat a feature name; rename the "
                "column or leave it out of transform_col_indexes / transform_col_names.",
                field=name,
            )
        seen.add(name)
    return names


def transform(frame: Frame, categories: Mapping[str, Sequence[int]]) -> tuple[Frame, dict[str, np.ndarray]]:
    """``frame`` with each column of ``categories`` replaced by its indicator columns.

    Returns
    -------
    tuple
        The new frame (sparse when ``frame`` is) and, per encoded column, the positions of the rows
        whose value is not among its categories (their indicators are all zero).

    Raises
    ------
    DataError
        A column of ``categories`` is not a feature of ``frame``; a NaN or non-integer value in an
        encoded column; an indicator name that repeats a feature name.
    """
    if not categories:
        return frame, {}
    features = frame.feature_names
    index = {f: i for i, f in enumerate(features)}
    missing = [c for c in categories if c not in index]
    if missing:
        raise DataError(f"{_where(frame.table)}no feature column(s) {missing[:_LISTED]}.", field=missing[0])
    names = _output_names(features, categories, frame.table)
    n = frame.n_rows
    x: Any = frame.sparse_features().tocsc() if frame.is_sparse else frame.features
    rows: list[np.ndarray] = []  # sparse output: (row, column, value) triples, one block per input column
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    dense = None if frame.is_sparse else np.zeros((n, len(names)))  # (n, m)
    unseen: dict[str, np.ndarray] = {}
    at = 0  # position of the next output column
    for j, f in enumerate(features):
        if f not in categories:
            if dense is not None:
                dense[:, at] = x[:, j]
            else:
                lo, hi = int(x.indptr[j]), int(x.indptr[j + 1])
                rows.append(x.indices[lo:hi])
                cols.append(np.full(hi - lo, at))
                vals.append(x.data[lo:hi])
            at += 1
            continue
        cats = np.asarray(categories[f], dtype=np.float64)  # sorted
        values = _column(x, j)
        _check_integral(values, f, frame.table)
        code = np.zeros(n, dtype=np.int64)  # (n,) position of each row's value among cats
        seen = np.zeros(n, dtype=bool)
        if len(cats):  # a stored model may hold a column with no category: every row unseen
            code = np.minimum(np.searchsorted(cats, values), len(cats) - 1)
            seen = cats[code] == values
        unseen[f] = np.flatnonzero(~seen)
        hit = np.flatnonzero(seen)
        if dense is not None:
            dense[hit, at + code[hit]] = 1.0
        else:
            rows.append(hit)
            cols.append(at + code[hit])
            vals.append(np.ones(len(hit)))
        at += len(cats)
    if dense is not None:
        feats: Any = dense
    else:
        empty = np.zeros(0, dtype=np.int64)
        r, c = np.concatenate([empty, *rows]), np.concatenate([empty, *cols])
        feats = sparse.csr_matrix((np.concatenate([np.zeros(0), *vals]), (r, c)), shape=(n, len(names)))
        feats.eliminate_zeros()  # explicit zeros of untouched columns stay implicit
    out = Frame(
        frame.ids,
        feats,
        names,
        frame.label,
        match_id_name=frame.match_id_name,
        label_name=frame.label_name,
        table=frame.table,
        weights=frame.weights,
    )
    return out, unseen


def _stored_categories(value: object) -> dict[str, list[int]]:
    """The stored model's ``categories``: per column a strictly increasing list of ints."""
    out: dict[str, list[int]] = {}
    for name, cats in stored_object(value, "categories").items():
        ints = (
            [c for c in cats if isinstance(c, int) and not isinstance(c, bool)]
            if isinstance(cats, list)
            else []
        )
        if ints != cats or any(a >= b for a, b in pairwise(ints)) or len(ints) > MAX_CATEGORIES:
            raise DataError(
                f"the stored model's categories of {name!r} must be an increasing list of at most "
                f"{MAX_CATEGORIES} integers. Got {cats!r}.",
                field=f"categories.{name}",
            )
        out[str(name)] = ints
    return out


class OneHotEncoder(LocalTransform):
    """One-hot encode this party's chosen columns (guest or host; the same class; no messages)."""

    module = MODULE
    params: OneHotEncoderParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        data, stored = self.local_inputs(inputs)
        if stored is None:
            params = self.params
            schema = data.schema
            categories = fit_categories(data, encoded_columns(params, data.feature_names, data.table))
        else:
            params = OneHotEncoderParams.model_validate(stored.get("params") or {})
            schema = stored_object(stored.get("schema"), "schema")
            data = align(data, schema)  # missing / extra columns named
            categories = _stored_categories(stored.get("categories"))
        out, unseen_at = transform(data, categories)
        unseen = {c: len(rows) for c, rows in unseen_at.items() if len(rows)}
        # a row counts once, however many of its columns hold an unseen value
        unseen_rows = len(np.unique(np.concatenate([np.zeros(0, np.int64), *unseen_at.values()])))
        if unseen:
            log.warning(
                "%s: %d row(s) hold values unseen at fit (all-zero indicators): %s",
                self.env.component,
                unseen_rows,
                unseen,
            )
        produced = sum(len(c) for c in categories.values())
        log.info(
            "%s: %d column(s) into %d indicator(s); %d -> %d feature(s), %d row(s)%s",
            self.env.component,
            len(categories),
            produced,
            data.n_features,
            out.n_features,
            out.n_rows,
            " with the stored model" if stored is not None else "",
        )
        model = self.local_model(
            params, schema=schema, categories=categories, features=list(out.feature_names)
        )
        metrics: dict[str, object] = {
            "mode": "fit" if stored is None else "transform",
            "rows": out.n_rows,
            "features_in": data.n_features,
            "features_out": out.n_features,
            "encoded": len(categories),
            "produced": produced,
            "unseen_rows": unseen_rows,
            "unseen": unseen,
        }
        return Outputs(data=[out], model=model, metrics=metrics)


SPEC = local_transform_spec(
    OneHotEncoder,
    OneHotEncoderParams,
    "One indicator column per value of each party's own integer columns (no messages).",
)
