"""``DataTransform``: a stored table → a :class:`~fedloom.data.Frame` (ids, label, features).

FATE's parameter names are accepted (``DataTransformParam``, FATE 1.x):

=======================  ================================================================
``input_format``         ``dense`` (numeric columns), ``sparse`` (svmlight, also spelt
                         ``svmlight``), ``tag``, ``tag_value`` (or ``tag`` with
                         ``tag_with_value``): rows of text, see :mod:`fedloom.data.text_rows`
``output_format``        ``dense`` or ``sparse`` (a CSR matrix, kept sparse by row
                         selection, FeatureScale and the hetero GLMs)
``delimitor``            between the tokens of a text row (blank: any whitespace)
``tag_with_value``, ``tag_value_delimitor``   ``tag:value`` tokens (``index:value`` for sparse)
``with_label``           whether ``label_name`` is the label (else it is a feature)
``label_name``           label column, default ``y``
``label_type``           ``int`` / ``int64`` / ``long`` (classes) or ``float`` / ``float64``
``missing_fill``         fill missing feature values (else a missing value is an error)
``missing_fill_method``  ``designated`` / ``null`` (``default_value``), ``mean``, ``median``,
                         ``min``, ``max``
``default_value``        a number, a list (one per feature, in order) or ``{column: value}``
``missing_impute``       extra values that mean "missing" (e.g. ``[-999]``)
``keep_missing``         fedloom's: without ``missing_fill``, keep missing values as NaN
                         (``HeteroFeatureBinning`` gives them a bin of their own; every other
                         component refuses NaN, naming the column)
``outlier_replace``      replace the values in ``outlier_impute`` …
``outlier_replace_method``, ``outlier_replace_value``   … with a statistic or a designated value
``with_match_id``, ``match_id_name``, ``match_id_index``  the id column (the table's own)
``data_type``, ``exclusive_data_type``  accepted; features are always float64
=======================  ================================================================

``missing_fill`` and ``outlier_replace`` work on dense input only (a text row has no missing
cells: an absent index is a zero); with another ``input_format`` they are refused.

The model output records the schema (id, label, feature names and order), the fill and
outlier values and the parameters, so a component fed ``data_transform_0.model`` (predict, or
validation data) transforms new data exactly the same way and refuses a table whose columns
differ (:func:`fedloom.data.check_compatible`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from fedloom.components.base import Component, Inputs, Outputs, Table, model_of, stored_float, stored_object
from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.core.roles import GUEST, HOST
from fedloom.data import Frame, check_compatible, frame_from_table, make_schema
from fedloom.data.schema import schema_features
from fedloom.data.text_rows import frame_from_text
from fedloom.dsl import ModuleSpec, register_module

__all__ = ["DataTransform", "DataTransformParams"]

log = logging.getLogger(__name__)

FillValue = float | list[float] | dict[str, float]
_STAT_METHODS = ("mean", "median", "min", "max")
#: FATE values fedloom refuses, per parameter, with the reason.
_REFUSED = {
    "input_format": ((), ""),
    "output_format": (("tag", "tag_value", "svmlight"), "output_format is 'dense' or 'sparse'; {v!r} is not"),
    "label_type": (("str",), "labels are stored as numbers; use 'int' (classes) or 'float' (regression)"),
}
#: Other spellings of a format.
_ALIASES = {"svmlight": "sparse", "libsvm": "sparse", "tag_with_value": "tag_value"}


class DataTransformParams(BaseModel):
    """Parameters of ``DataTransform`` (FATE's names; see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    input_format: Literal["dense", "sparse", "tag", "tag_value"] = "dense"
    output_format: Literal["dense", "sparse"] = "dense"
    delimitor: str = ","
    data_type: Literal["float64", "float", "int", "int64", "long"] = "float64"
    exclusive_data_type: dict[str, str] | None = None
    tag_with_value: bool = False
    tag_value_delimitor: str = ":"
    with_label: bool = False
    label_name: str = "y"
    label_type: Literal["int", "int64", "long", "float", "float64"] = "int"
    missing_fill: bool = False
    missing_fill_method: Literal["designated", "mean", "median", "min", "max"] | None = None
    default_value: FillValue | None = 0.0
    missing_impute: list[float | str] | None = None
    keep_missing: bool = False
    outlier_replace: bool = False
    outlier_replace_method: Literal["designated", "mean", "median", "min", "max"] | None = None
    outlier_impute: list[float | str] | None = None
    outlier_replace_value: FillValue = 0.0
    with_match_id: bool = False
    match_id_name: str = ""
    match_id_index: int = 0

    @field_validator("input_format", "output_format", "label_type", mode="before")
    @classmethod
    def _supported(cls, v: object, info: ValidationInfo) -> object:
        """FATE's spellings in any case; the formats fedloom does not store refused with the reason."""
        if not isinstance(v, str):
            return v
        refused, why = _REFUSED[str(info.field_name)]
        if v.lower() in refused:
            raise ValueError(why.format(v=v))
        if info.field_name == "input_format":
            return _ALIASES.get(v.lower(), v.lower())
        return v.lower()

    @field_validator("missing_fill", "outlier_replace")
    @classmethod
    def _dense_only(cls, v: bool, info: ValidationInfo) -> bool:
        fmt = info.data.get("input_format", "dense")
        if v and fmt != "dense":
            raise ValueError(
                f"{info.field_name} works on dense input only; input_format {fmt!r} has no missing "
                "cells (an absent index or tag is a zero)"
            )
        return v

    @model_validator(mode="after")
    def _tag_with_value(self) -> DataTransformParams:
        """FATE's ``tag`` with ``tag_with_value: true`` is the ``tag_value`` format."""
        if self.input_format == "tag" and self.tag_with_value:
            self.input_format = "tag_value"
        return self

    @property
    def label_kind(self) -> Literal["int", "float"]:
        """``int`` or ``float``."""
        return "float" if self.label_type in ("float", "float64") else "int"


def _per_column(value: FillValue | None, columns: Sequence[str], field: str) -> dict[str, float]:
    """A scalar, list (feature order) or dict of fill values → ``{column: value}``."""
    if value is None:
        return dict.fromkeys(columns, 0.0)
    if isinstance(value, Mapping):
        missing = [c for c in columns if c not in value]
        if missing:
            raise DataError(f"{field} gives no value for column(s) {missing[:5]}.", field=field)
        return {c: float(value[c]) for c in columns}
    if isinstance(value, list):
        if len(value) != len(columns):
            raise DataError(
                f"{field} lists {len(value)} value(s) but there are {len(columns)} feature columns.",
                field=field,
            )
        return {c: float(v) for c, v in zip(columns, value, strict=True)}
    return dict.fromkeys(columns, float(value))


def _numbers(values: list[float | str] | None) -> list[float]:
    out = []
    for v in values or []:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            continue  # text tokens were turned into NaN when the table was stored
    return out


def _statistic(block: pd.DataFrame, method: str, fallback: dict[str, float]) -> dict[str, float]:
    out = {}
    for col in block.columns:
        stat = getattr(block[col], method)()
        out[str(col)] = fallback[str(col)] if pd.isna(stat) else float(stat)
    return out


class DataTransform(Component):
    """Parse a table into a Frame on one party (guest or host; the same class for both)."""

    module = "DataTransform"
    params: DataTransformParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        data = inputs.one("data", "train_data", "test_data", "validate_data", "eval_data")
        table = data if isinstance(data, Table) else Table(data.to_pandas(), data.match_id_name, data.table)
        model = model_of(inputs.models, self.module, self.env.component)
        frame, info = transform(table, self.params, model)
        log.info("%s: %s", self.env.component, frame)
        if info.missing_filled or info.outliers_replaced:
            filled, replaced = info.missing_filled, info.outliers_replaced
            log.info("filled %d missing value(s), replaced %d outlier(s)", filled, replaced)
        metrics: dict[str, object] = {
            "rows": frame.n_rows,
            "features": frame.n_features,
            "with_label": frame.has_label,
            "missing_filled": info.missing_filled,
            "outliers_replaced": info.outliers_replaced,
        }
        if frame.label is not None and frame.label.dtype.kind in "iu":
            classes, counts = np.unique(frame.label, return_counts=True)
            metrics["label_counts"] = {str(c): int(n) for c, n in zip(classes, counts, strict=True)}
        out_model: dict[str, object] = {
            "module": self.module,
            "params": self.params.model_dump(mode="json") if model is None else model["params"],
            "schema": frame.schema,
            "fill_values": info.fill_values,
            "outlier_values": info.outlier_values,
            "table": table.name,
        }
        return Outputs(data=[frame], model=out_model, metrics=metrics)


@dataclass
class TransformInfo:
    """What :func:`transform` did besides the Frame: the values it filled in, and how often."""

    fill_values: dict[str, float] | None = None
    outlier_values: dict[str, float] | None = None
    missing_filled: int = 0
    outliers_replaced: int = 0


def transform(
    table: Table, params: DataTransformParams, model: Mapping[str, object] | None = None
) -> tuple[Frame, TransformInfo]:
    """Turn ``table`` into a Frame with ``params``; with a ``model`` of an earlier run, reuse its
    parameters, fill values and schema (new data is checked against the schema).

    Raises
    ------
    DataError
        Missing label or id column, non-numeric values, missing values without ``missing_fill``,
        columns that differ from the model's schema.
    """
    if model is not None:
        params = DataTransformParams.model_validate(model.get("params"))
    _check_id_column(table, params)
    if params.input_format != "dense":
        return _from_text(table, params, model), TransformInfo()
    frame, info = _dense(table, params, model)
    return (frame.to_sparse() if params.output_format == "sparse" else frame), info


def _from_text(table: Table, params: DataTransformParams, model: Mapping[str, object] | None) -> Frame:
    """Rows of text (``sparse`` / ``tag`` / ``tag_value``) → a Frame, sparse unless ``output_format``
    is ``dense``; with a ``model``, its columns (predict data)."""
    names = None
    with_label = params.with_label
    if model is not None:
        names = list(schema_features(stored_object(model.get("schema"), "schema")))
        schema_label = stored_object(model.get("schema"), "schema").get("label")
        with_label = with_label and schema_label is not None and _rows_have_label(table, params)
    frame = frame_from_text(
        table.df,
        input_format=params.input_format,  # type: ignore[arg-type]  # not "dense" here
        id_column=table.id_column,
        delimitor=params.delimitor,
        tag_value_delimitor=params.tag_value_delimitor,
        with_label=with_label,
        label_name=params.label_name,
        label_type=params.label_kind,
        feature_names=names,
        table=table.name,
    )
    return frame.to_dense() if params.output_format == "dense" else frame


def _rows_have_label(table: Table, params: DataTransformParams) -> bool:
    """Whether predict rows still carry the label: their first token is not a feature token."""
    col = [c for c in table.df.columns if c != table.id_column]
    if len(col) != 1 or not len(table.df):
        return True
    first = str(table.df[col[0]].iloc[0]).strip()
    tokens = first.split() if not params.delimitor.strip() else first.split(params.delimitor)
    head = tokens[0].strip() if tokens else ""
    return params.input_format == "tag" or (bool(head) and params.tag_value_delimitor not in head)


def _dense(
    table: Table, params: DataTransformParams, model: Mapping[str, object] | None
) -> tuple[Frame, TransformInfo]:
    df = table.df.copy()
    with_label = params.with_label
    if model is not None and with_label and params.label_name not in df.columns:
        with_label = False  # predict data may come without its label
    features = [c for c in df.columns if c != table.id_column and not (with_label and c == params.label_name)]
    if model is not None:
        schema = stored_object(model.get("schema"), "schema")
        check_compatible(schema, make_schema(features), table=table.name)
        features = list(schema_features(schema))
    missing_values = _numbers(params.missing_impute)
    if missing_values and features:
        block = df[features]
        df[features] = block.mask(block.isin(missing_values))
    info = TransformInfo()
    if params.outlier_replace and features:
        info.outlier_values, info.outliers_replaced = _replace_outliers(df, features, params, model)
    holes = int(df[features].isna().to_numpy().sum()) if features else 0
    if params.missing_fill:
        info.missing_filled = holes
        method, designated = params.missing_fill_method, params.default_value
        block = df[features]
        info.fill_values = _column_values(model, "fill_values", block, method, designated, "default_value")
    frame = frame_from_table(
        df,
        id_column=table.id_column,
        with_label=with_label,
        label_name=params.label_name,
        label_type=params.label_kind,
        fill_values=info.fill_values,
        features=features,
        table=table.name,
        keep_missing=params.keep_missing and not params.missing_fill,
    )
    return frame, info


def _check_id_column(table: Table, params: DataTransformParams) -> None:
    if (params.with_match_id or params.match_id_name) and params.match_id_name not in ("", table.id_column):
        raise DataError(
            f"table {table.name}: match_id_name {params.match_id_name!r} is not the table's id column "
            f"{table.id_column!r}; the id column is chosen when the table is uploaded (--id-column).",
            field="match_id_name",
        )


def _replace_outliers(
    df: pd.DataFrame, features: list[str], params: DataTransformParams, model: Mapping[str, object] | None
) -> tuple[dict[str, float], int]:
    """Replace the ``outlier_impute`` values of ``df`` in place; the values used and the count."""
    outliers = _numbers(params.outlier_impute)
    block = df[features]
    mask = block.isin(outliers) if outliers else pd.DataFrame(False, index=block.index, columns=features)
    values = _column_values(
        model,
        "outlier_values",
        block.mask(mask),
        params.outlier_replace_method,
        params.outlier_replace_value,
        "outlier_replace_value",
    )
    for col in features:
        if mask[col].any():
            df.loc[mask[col], col] = values[col]
    return values, int(mask.to_numpy().sum())


def _column_values(
    model: Mapping[str, object] | None,
    key: str,
    block: pd.DataFrame,
    method: str | None,
    designated: FillValue | None,
    field: str,
) -> dict[str, float]:
    """One value per column: the stored model's ``key`` when it has them (predict data is filled
    as the training data was), else the ``method`` statistic of ``block`` (falling back to the
    ``designated`` value of a column with none), else the designated values."""
    stored = None if model is None else model.get(key)
    if stored:
        return {c: stored_float(v, f"{key}.{c}") for c, v in stored_object(stored, key).items()}
    values = _per_column(designated, list(block.columns), field)
    if method is None or method not in _STAT_METHODS:
        return values
    return _statistic(block, method, values)


SPEC = register_module(
    ModuleSpec(
        "DataTransform",
        roles={GUEST, HOST},
        params_model=DataTransformParams,
        inputs={"data", "train_data", "validate_data", "test_data", "eval_data", "model"},
        outputs={"data", "model"},
        requires_data=True,
        entry={GUEST: DataTransform, HOST: DataTransform},
        description="Parse a dense or sparse / tag table into ids, label and features; fill missing values.",
    )
)
