"""Recorded schemas, and the check that predict data matches what a model was trained on.

A schema is a plain JSON-able dict (it travels inside model artifacts)::

    {"id": "id", "label": "y", "label_type": "int", "features": ["x0", "x1", ...]}

``label`` / ``label_type`` are ``None`` without a label. :func:`check_compatible` compares
feature *names*: the predict table may order its columns differently (:func:`align` reorders a
frame to the training order) and may lack the label, but it must have every training feature
and no other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame

__all__ = ["align", "check_compatible", "make_schema", "schema_features"]

_MAX_LISTED = 10


def make_schema(
    features: list[str], *, id_name: str = "id", label: str | None = None, label_type: str | None = None
) -> dict[str, Any]:
    """A schema dict (see module docs)."""
    return {
        "id": id_name,
        "label": label,
        "label_type": label_type if label else None,
        "features": [str(f) for f in features],
    }


def schema_features(schema: Mapping[str, Any] | Frame, *, which: str = "schema") -> list[str]:
    """The feature names of a schema (or of a frame's schema).

    Raises
    ------
    DataError
        The schema has no ``features`` list.
    """
    if isinstance(schema, Frame):
        return list(schema.feature_names)
    feats = schema.get("features")
    if not isinstance(feats, list | tuple):
        raise DataError(f"the {which} has no 'features' list.", field="features")
    return [str(f) for f in feats]


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def check_compatible(
    train_schema: Mapping[str, Any] | Frame,
    predict_schema: Mapping[str, Any] | Frame,
    *,
    table: str | None = None,
) -> None:
    """Check that data with ``predict_schema`` can go through a model trained on ``train_schema``.

    Raises
    ------
    DataError
        Listing the training features the predict data lacks and the columns it has that the
        model never saw (``field`` is the first missing, else the first extra, column).
    """
    train = schema_features(train_schema, which="training schema")
    pred = schema_features(predict_schema, which="predict schema")
    missing = [f for f in train if f not in set(pred)]
    extra = [f for f in pred if f not in set(train)]
    if not missing and not extra:
        return
    where = f"table {table}: " if table else ""
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} column(s) the model was trained on: {_listing(missing)}")
    if extra:
        parts.append(f"{len(extra)} column(s) the model never saw: {_listing(extra)}")
    raise DataError(
        f"{where}the data does not match the training schema: {'; '.join(parts)}.",
        field=(missing or extra)[0],
    )


def align(frame: Frame, train_schema: Mapping[str, Any] | Frame) -> Frame:
    """``frame`` with its features in the training order, after :func:`check_compatible`."""
    check_compatible(train_schema, frame, table=frame.table)
    order = schema_features(train_schema)
    return frame if list(frame.feature_names) == order else frame.select_features(order)
