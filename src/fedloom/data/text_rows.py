"""Sparse and tag rows: FATE's ``sparse`` (svmlight), ``tag`` and ``tag_value`` input formats.

A table of such rows holds the id column and one text column (the rest of each line, as FATE's
upload keeps it): :func:`read_text_table` reads a file that way; the table store does so when
FATE's upload conf says ``"meta": {"input_format": "sparse" | "tag" | "tag_value"}``.
:func:`parse_text_rows` turns the text into a CSR matrix (``DataTransform``):

==============  ===================================================  =========================
format          one row (``delimitor`` between tokens)               features
==============  ===================================================  =========================
``sparse``      ``[label] index:value index:value ...``              ``x0 .. x{max index}``
``tag``         ``[label] tag tag ...`` (each present tag is 1.0)    the tags, sorted
``tag_value``   ``[label] tag:value tag:value ...``                  the tags, sorted
==============  ===================================================  =========================

``:`` is ``tag_value_delimitor``. The label, when ``with_label``, is the first token. With the
feature names of a trained model (predict data), a tag the model does not know is ignored (it
carries no weight, as in FATE), while a sparse index beyond the model's columns is an error.
A repeated index or tag in one row, a value that is not a finite number and a missing label are
errors naming the row.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame, _check_unique, normalise_ids

__all__ = ["TEXT_FORMATS", "TextFormat", "frame_from_text", "parse_text_rows", "read_text_table"]

TextFormat = Literal["sparse", "tag", "tag_value"]
#: The row-text input formats (``dense`` tables are numeric columns instead).
TEXT_FORMATS: tuple[TextFormat, ...] = ("sparse", "tag", "tag_value")
_SHOWN = 5


def _where(table: str | None) -> str:
    return f"table {table}: " if table else ""


def read_text_table(
    path: str | Path,
    *,
    id_column: str | None = None,
    head: bool = True,
    delimiter: str = ",",
    table: str | None = None,
) -> pd.DataFrame:
    """Read a file of ``id<delimiter>rest of the line`` rows: the id column and one text column.

    With ``head`` the first line names them (``id,value``; the rest of the header, if any, names
    the text column); without one they are ``id`` and ``value``.

    Raises
    ------
    DataError
        Unreadable or empty file, a line without a delimiter after the id, bad or repeated ids.
    """
    path = Path(path)
    table = table or path.name
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise DataError(f"{_where(table)}{str(path)!r} is not UTF-8 text.") from None
    names = ["id", "value"]
    first = 0
    if head:
        if not lines or not lines[0].strip():
            raise DataError(f"{_where(table)}the file {str(path)!r} is empty.")
        cells = next(csv.reader([lines[0]], delimiter=delimiter))
        names = [cells[0].strip() or "id", (delimiter.join(cells[1:]).strip() or "value")]
        first = 1
    if names[0] == names[1]:
        names[1] = "value"
    if id_column is not None and id_column != names[0]:
        raise DataError(
            f"{_where(table)}rows of text keep the id first; the first column is {names[0]!r}, "
            f"not {id_column!r}.",
            field="id_column",
        )
    ids, values = [], []
    for line in lines[first:]:
        if not line.strip():
            continue
        key, sep, rest = line.partition(delimiter)
        if not sep and not key.strip():
            continue
        ids.append(key.strip())
        values.append(rest.strip())
    if not ids:
        raise DataError(f"{_where(table)}the file {str(path)!r} has no data rows.")
    id_arr = normalise_ids(np.array(ids, dtype=object), table=table, column=names[0])
    _check_unique(id_arr, table, names[0])
    return pd.DataFrame({names[0]: id_arr, names[1]: pd.array(values, dtype=object)}, columns=names)


def _tokens(text: str, delimitor: str) -> list[str]:
    parts = text.split() if not delimitor.strip() else text.split(delimitor)
    return [t.strip() for t in parts if t.strip()]


def _number(token: str, what: str, row: int, ids: np.ndarray, table: str | None) -> float:
    try:
        v = float(token)
    except ValueError:
        v = float("nan")
    if not np.isfinite(v):
        raise DataError(
            f"{_where(table)}row {row} (id {ids[row]!r}): {what} {token!r} is not a finite number.",
            field=what,
        )
    return v


def parse_text_rows(
    texts: Sequence[str],
    ids: np.ndarray,
    *,
    input_format: TextFormat,
    delimitor: str = ",",
    tag_value_delimitor: str = ":",
    with_label: bool = False,
    feature_names: Sequence[str] | None = None,
    table: str | None = None,
) -> tuple[sparse.csr_matrix, list[str] | None, list[str]]:
    """Rows of text → ``(CSR features, label tokens or None, feature names)``.

    ``feature_names``: a trained model's columns (predict data), else they come from the rows.

    Raises
    ------
    DataError
        A row without its label, a bad ``index:value`` / ``tag:value`` token, a repeated index or
        tag in a row, an index beyond the model's columns.
    """
    if input_format not in TEXT_FORMATS:
        raise DataError(f"input_format must be one of {list(TEXT_FORMATS)}. Got {input_format!r}.")
    labels: list[str] | None = [] if with_label else None
    rows: list[list[tuple[str, float]]] = []
    for r, text in enumerate(texts):
        toks = _tokens(str(text), delimitor)
        if labels is not None:
            if not toks:
                raise DataError(f"{_where(table)}row {r} (id {ids[r]!r}) has no label.", field="label")
            labels.append(toks.pop(0))
        entries: list[tuple[str, float]] = []
        for tok in toks:
            if input_format == "tag":
                entries.append((tok, 1.0))
                continue
            key, sep, val = tok.rpartition(tag_value_delimitor)
            if not sep or not key:
                shape = "index:value" if input_format == "sparse" else "tag:value"
                raise DataError(
                    f"{_where(table)}row {r} (id {ids[r]!r}): token {tok!r} is not {shape} "
                    f"(tag_value_delimitor {tag_value_delimitor!r}).",
                    field="tag_value_delimitor",
                )
            entries.append((key.strip(), _number(val.strip(), "value", r, ids, table)))
        keys = [k for k, _ in entries]
        if len(set(keys)) != len(keys):
            dup = next(k for i, k in enumerate(keys) if k in keys[:i])
            raise DataError(f"{_where(table)}row {r} (id {ids[r]!r}): {dup!r} appears twice.", field=dup)
        rows.append(entries)
    if input_format == "sparse":
        names = _names(rows, feature_names, ids, table)
        return _sparse_columns(rows, ids, names, table), labels, names
    names = list(feature_names) if feature_names is not None else sorted({k for row in rows for k, _ in row})
    col = {n: j for j, n in enumerate(names)}
    # a tag the model does not know carries no weight
    return _csr(rows, len(names), lambda r, k: col.get(k)), labels, names


def _csr(
    rows: list[list[tuple[str, float]]], n_cols: int, column: Callable[[int, str], int | None]
) -> sparse.csr_matrix:
    """The ``(len(rows), n_cols)`` CSR matrix of the rows' non-zero entries, each key put in
    column ``column(r, key)`` (``None``: dropped), indices sorted within each row."""
    indptr, indices, data = [0], [], []
    for r, row in enumerate(rows):
        for k, v in row:
            j = column(r, k)
            if j is not None and v != 0.0:
                indices.append(j)
                data.append(v)
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
        shape=(len(rows), n_cols),
    )
    matrix.sort_indices()
    return matrix


def _index(key: str, r: int, ids: np.ndarray, table: str | None) -> int:
    if not key.isdigit():
        raise DataError(
            f"{_where(table)}row {r} (id {ids[r]!r}): sparse index {key!r} is not a non-negative integer.",
            field="index",
        )
    return int(key)


def _names(
    rows: list[list[tuple[str, float]]],
    feature_names: Sequence[str] | None,
    ids: np.ndarray,
    table: str | None,
) -> list[str]:
    if feature_names is not None:
        return list(feature_names)
    top = max((_index(k, r, ids, table) for r, row in enumerate(rows) for k, _ in row), default=-1)
    return [f"x{j}" for j in range(top + 1)]


def _sparse_columns(
    rows: list[list[tuple[str, float]]],
    ids: np.ndarray,
    feature_names: Sequence[str],
    table: str | None,
) -> sparse.csr_matrix:
    names = list(feature_names)

    def column(r: int, k: str) -> int:
        j = _index(k, r, ids, table)
        if j >= len(names):
            raise DataError(
                f"{_where(table)}row {r} (id {ids[r]!r}): sparse index {j} is beyond the model's "
                f"{len(names)} feature column(s).",
                field="index",
            )
        return j

    return _csr(rows, len(names), column)


def frame_from_text(
    df: pd.DataFrame,
    *,
    input_format: TextFormat,
    id_column: str | None = None,
    delimitor: str = ",",
    tag_value_delimitor: str = ":",
    with_label: bool = False,
    label_name: str = "y",
    label_type: Literal["int", "float"] = "int",
    feature_names: Sequence[str] | None = None,
    table: str | None = None,
) -> Frame:
    """A table of text rows (id column + one text column) → a :class:`Frame` with CSR features.

    Raises
    ------
    DataError
        The table does not hold exactly one text column besides the id, or a row is malformed
        (see :func:`parse_text_rows`).
    """
    from fedloom.data.csv_reader import _label  # the dense reader's label checks, shared

    id_column = id_column or str(df.columns[0])
    rest = [c for c in df.columns if c != id_column]
    if len(rest) != 1 or pd.api.types.is_numeric_dtype(df[rest[0]]):
        raise DataError(
            f"{_where(table)}input_format {input_format!r} needs the table as rows of text (the id and "
            f"one text column, as FATE's upload keeps them); this table has numeric column(s) "
            f'{[str(c) for c in rest][:_SHOWN]}. Upload the file with "meta": {{"input_format": '
            f"{input_format!r}}}, or use input_format 'dense'.",
            field="input_format",
        )
    ids = normalise_ids(df[id_column].to_numpy(dtype=object), table=table, column=id_column)
    texts = ["" if pd.isna(v) else str(v) for v in df[rest[0]].tolist()]
    matrix, labels, names = parse_text_rows(
        texts,
        ids,
        input_format=input_format,
        delimitor=delimitor,
        tag_value_delimitor=tag_value_delimitor,
        with_label=with_label,
        feature_names=feature_names,
        table=table,
    )
    label = (
        None
        if labels is None
        else _label(pd.Series(labels, dtype=object), label_type, ids, table, label_name)
    )
    return Frame(
        ids,
        matrix,
        names,
        label=label,
        match_id_name=id_column,
        label_name=label_name if with_label else None,
        table=table,
    )
