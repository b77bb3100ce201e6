"""Dense CSV tables: read and check a file, turn a table into a :class:`~fedloom.data.frame.Frame`.

Two steps, so the table store and DataTransform share the checks:

1. :func:`read_csv_table` reads a file into a pandas table: the id column as text, every other
   column as float64 with NaN where a value is missing. It refuses an empty file, a missing id
   column, repeated column names, bad or duplicate ids and values that are not numbers (naming the
   line and column).
2. :func:`frame_from_table` splits a table into ids, label and features (``with_label``,
   ``label_name``, ``label_type``) and fills missing values when asked (``missing_fill``);
   without it a missing value is an error naming the row and column.

Duplicate ids are refused, never resolved: the first few are listed so the file can be fixed.
Missing-value tokens: an empty cell and ``NA``, ``NaN``, ``null``, ``None``, ``N/A``, ``?``
(any case), plus those given in ``missing_impute``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

import numpy as np
import pandas as pd

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame, _check_unique, normalise_ids

__all__ = [
    "MISSING_TOKENS",
    "FrameOptions",
    "column_missing",
    "frame_from_table",
    "missing_fill_values",
    "read_csv",
    "read_csv_table",
]

#: Cell texts read as missing (compared case-insensitively, after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "nan", "null", "none", "n/a", "?"})
_MAX_LISTED = 5

FillMethod = Literal["const", "mean", "median", "min", "max"]


def _where(table: str | None) -> str:
    return f"table {table}: " if table else ""


def column_missing(
    kind: str, name: str, columns: Sequence[Any], table: str | None, advice: str = ""
) -> DataError:
    """``no {kind} column 'name'; the columns are [...]`` (the first twelve), naming the column."""
    cols = [str(c) for c in columns]
    more = " ..." if len(cols) > 12 else ""
    return DataError(
        f"{_where(table)}no {kind} column {name!r}; the columns are {cols[:12]}{more}.{advice}", field=name
    )


def _listed(
    bad: np.ndarray, cells: pd.Series, ids: np.ndarray, where: Callable[[int], str] = lambda i: f"row {i}"
) -> tuple[int, str]:
    """How many ``bad`` rows, and the first few as ``row 3 (id 'a'): 'x'`` for a message."""
    rows = np.flatnonzero(bad)
    return len(rows), ", ".join(
        f"{where(int(i))} (id {ids[i]!r}): {cells.iloc[i]!r}" for i in rows[:_MAX_LISTED]
    )


def _line(i: int, head: bool) -> int:
    """File line (1-based) of data row ``i`` (0-based)."""
    return i + (2 if head else 1)


def read_csv_table(
    path: str | Path,
    *,
    id_column: str | None = None,
    head: bool = True,
    delimiter: str = ",",
    missing_impute: Iterable[str] = (),
    table: str | None = None,
) -> pd.DataFrame:
    """Read a dense CSV file with an id column.

    Parameters
    ----------
    path
        The file.
    id_column
        Name of the id column; default the first column (FATE's convention).
    head
        Whether the first line holds the column names. Without one, columns are named
        ``id, x0, x1, ...``.
    delimiter
        Field separator.
    missing_impute
        Extra cell texts that mean "missing".
    table
        Name used in error messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        The id column first, as text (``object``); every other column float64, NaN where missing.

    Raises
    ------
    DataError
        Empty file, no data rows, missing id column, repeated column names, ids that are empty or
        repeated, values that are not numbers; each names the table, column and line.
    """
    path = Path(path)
    table = table or path.name
    names = _column_names(path, table, head, delimiter)
    id_column = id_column or names[0]
    if id_column not in names:
        raise column_missing("id", id_column, names, table, " Set id_column to one of them.")
    raw = _cells(path, table, head, delimiter, names)
    ids = normalise_ids(raw[id_column].str.strip().to_numpy(dtype=object), table=table, column=id_column)
    _check_unique(ids, table, id_column)
    out: dict[str, Any] = {id_column: ids}
    tokens = MISSING_TOKENS | {t.strip().lower() for t in missing_impute}
    for col in names:
        if col == id_column:
            continue
        out[col] = _to_float(raw[col], col, ids, tokens, table, head)
    return pd.DataFrame(out, columns=[id_column] + [c for c in names if c != id_column])


def _column_names(path: Path, table: str, head: bool, delimiter: str) -> list[str]:
    """The header's column names (checked: none empty or repeated), or ``id, x0, x1...``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise DataError(f"{_where(table)}{str(path)!r} is not UTF-8 text.") from None
    if not first.strip():
        raise DataError(f"{_where(table)}the file {str(path)!r} is empty.")
    cells = [c.strip() for c in next(csv.reader([first], delimiter=delimiter))]
    if not head:
        return ["id"] + [f"x{i}" for i in range(len(cells) - 1)]
    dup = sorted({c for c in cells if cells.count(c) > 1})
    if dup:
        raise DataError(
            f"{_where(table)}column name(s) {dup} appear more than once in the header.", field=dup[0]
        )
    if any(not c for c in cells):
        raise DataError(f"{_where(table)}the header has an empty column name (column {cells.index('') + 1}).")
    return cells


def _cells(path: Path, table: str, head: bool, delimiter: str, names: list[str]) -> pd.DataFrame:
    """Every data row as text, one column per name (a row with more fields is malformed)."""
    try:
        # header=None: the first line fixes the field count and a longer line is a ParserError
        # (with header=0 pandas would quietly turn an extra field into an index).
        raw = pd.read_csv(
            path,
            sep=delimiter,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
            encoding="utf-8-sig",
            engine="c",
        )
    except pd.errors.ParserError as exc:
        raise DataError(f"{_where(table)}malformed CSV: {str(exc).strip()}.") from None
    except UnicodeDecodeError:
        raise DataError(f"{_where(table)}{str(path)!r} is not UTF-8 text.") from None
    if head:
        raw = raw.iloc[1:].reset_index(drop=True)
    if raw.shape[1] != len(names):
        raise DataError(
            f"{_where(table)}malformed CSV: {raw.shape[1]} fields per line, {len(names)} column names."
        )
    raw.columns = names
    if len(raw) == 0:
        raise DataError(f"{_where(table)}the file {str(path)!r} has a header but no data rows.")
    return raw


def _to_float(
    cells: pd.Series, col: str, ids: np.ndarray, tokens: frozenset[str], table: str | None, head: bool
) -> np.ndarray:
    text = cells.str.strip()
    missing = text.str.lower().isin(tokens).to_numpy()
    values = pd.to_numeric(text.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~missing
    bad |= np.isinf(values)
    if bad.any():
        n, shown = _listed(bad, cells, ids, lambda i: f"line {_line(i, head)}")
        raise DataError(
            f"{_where(table)}column {col!r} holds {n} value(s) that are not finite numbers: {shown}.",
            field=col,
        )
    return values


def missing_fill_values(
    df: pd.DataFrame, columns: Sequence[str], method: FillMethod = "const", default_value: float = 0.0
) -> dict[str, float]:
    """The value that fills each column's missing cells (DataTransform keeps these for predict).

    ``const`` uses ``default_value``; ``mean``/``median``/``min``/``max`` use the column's present
    values (``default_value`` for a column with none).
    """
    out: dict[str, float] = {}
    for col in columns:
        if method == "const":
            out[col] = float(default_value)
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        stat = getattr(values, method)()
        out[col] = float(default_value) if pd.isna(stat) else float(stat)
    return out


def frame_from_table(
    df: pd.DataFrame,
    *,
    id_column: str | None = None,
    with_label: bool = False,
    label_name: str = "y",
    label_type: Literal["int", "float"] = "int",
    missing_fill: bool = False,
    missing_fill_method: FillMethod = "const",
    default_value: float = 0.0,
    fill_values: Mapping[str, float] | None = None,
    features: Sequence[str] | None = None,
    table: str | None = None,
    keep_missing: bool = False,
) -> Frame:
    """Split a table into ids, label and dense float64 features.

    Parameters
    ----------
    df
        A table as :func:`read_csv_table` or the table store returns it.
    id_column
        Default: the first column.
    with_label, label_name, label_type
        FATE's DataTransform options: whether ``label_name`` is the label, and whether labels are
        integers (classes) or floats (regression).
    missing_fill, missing_fill_method, default_value
        Fill missing feature values (``const`` with ``default_value``, or a column statistic).
        Without ``missing_fill`` a missing value is an error.
    fill_values
        Fill values per column to use as they are (from the training data's DataTransform model).
    keep_missing
        Keep missing feature values as NaN instead of refusing them (for components that bin
        them; every other component refuses NaN).
    features
        Feature columns to keep, in this order (default: all non-id, non-label columns).
    table
        Name for error messages.

    Raises
    ------
    DataError
        Missing id or label column, bad ids, label values that are missing or not of
        ``label_type``, non-numeric or missing feature values; each names the column and row.
    """
    if df.shape[1] == 0 or len(df) == 0:
        raise DataError(f"{_where(table)}the table is empty.")
    id_column = id_column or str(df.columns[0])
    if id_column not in df.columns:
        raise column_missing("id", id_column, list(df.columns), table)
    ids = normalise_ids(df[id_column].to_numpy(dtype=object), table=table, column=id_column)
    _check_unique(ids, table, id_column)
    label = None
    if with_label:
        if label_name not in df.columns:
            raise column_missing(
                "label", label_name, list(df.columns), table, " Set label_name (with_label is true)."
            )
        label = _label(df[label_name], label_type, ids, table, label_name)
    names = [str(c) for c in df.columns if c != id_column and not (with_label and c == label_name)]
    if features is not None:
        absent = [f for f in features if f not in names]
        if absent:
            raise DataError(f"{_where(table)}missing feature column(s) {absent}.", field=absent[0])
        names = list(features)
    fill = _Fill(missing_fill, missing_fill_method, default_value, fill_values, keep_missing)
    matrix = _feature_matrix(df, names, ids, table, fill)
    return Frame(
        ids=ids,
        features=matrix,
        feature_names=tuple(names),
        label=label,
        match_id_name=id_column,
        label_name=label_name if with_label else None,
        table=table,
    )


@dataclass(frozen=True)
class _Fill:
    """How :func:`frame_from_table` fills missing feature values (see its parameters)."""

    on: bool
    method: FillMethod
    default_value: float
    values: Mapping[str, float] | None
    keep: bool = False


def _feature_matrix(
    df: pd.DataFrame, names: list[str], ids: np.ndarray, table: str | None, fill: _Fill
) -> np.ndarray:
    """The columns ``names`` as a float64 ``(rows, features)`` matrix, missing values filled or refused."""
    if not names:
        return np.zeros((len(df), 0), dtype=np.float64)
    block = df[names]
    if not all(pd.api.types.is_float_dtype(t) or pd.api.types.is_integer_dtype(t) for t in block.dtypes):
        block = pd.DataFrame({c: _coerce(block[c], c, ids, table) for c in names})
    matrix = block.to_numpy(dtype=np.float64, copy=True)
    if np.isinf(matrix).any():
        r, c = np.argwhere(np.isinf(matrix))[0]
        raise DataError(
            f"{_where(table)}column {names[c]!r}, row {r} (id {ids[r]!r}) is infinite.", field=names[c]
        )
    holes = np.isnan(matrix)
    if not holes.any() or (fill.keep and not (fill.on or fill.values)):
        return matrix
    if not (fill.on or fill.values):
        cells = np.argwhere(holes)
        shown = ", ".join(f"row {r} (id {ids[r]!r}) column {names[c]!r}" for r, c in cells[:_MAX_LISTED])
        raise DataError(
            f"{_where(table)}{len(cells)} missing feature value(s): {shown}. Set missing_fill "
            "(with missing_fill_method / default_value) to fill them.",
            field=names[int(cells[0][1])],
        )
    fills = (
        dict(fill.values)
        if fill.values
        else missing_fill_values(block, names, fill.method, fill.default_value)
    )
    for j in np.flatnonzero(holes.any(axis=0)):
        if names[j] not in fills:
            raise DataError(f"{_where(table)}no fill value for column {names[j]!r}.", field=names[j])
        matrix[holes[:, j], j] = fills[names[j]]
    return matrix


def _coerce(col: pd.Series, name: str, ids: np.ndarray, table: str | None) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=np.float64)
    text = col.astype(object)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    present = ~pd.isna(text).to_numpy()
    bad = np.isnan(values) & present
    if bad.any():
        n, shown = _listed(bad, text, ids)
        raise DataError(
            f"{_where(table)}column {name!r} holds {n} value(s) that are not numbers: {shown}.", field=name
        )
    return values


def _label(col: pd.Series, label_type: str, ids: np.ndarray, table: str | None, name: str) -> np.ndarray:
    values = pd.to_numeric(col.astype(object), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        n, shown = _listed(bad, col, ids)
        raise DataError(
            f"{_where(table)}label column {name!r} has {n} missing or non-numeric value(s): {shown}.",
            field=name,
        )
    if label_type == "float":
        return values
    if label_type != "int":
        raise DataError(f"label_type must be 'int' or 'float'. Got {label_type!r}.", field="label_type")
    frac = values != np.round(values)
    if frac.any():
        rows = np.flatnonzero(frac)
        shown = ", ".join(f"row {i} (id {ids[i]!r}): {float(values[i])!r}" for i in rows[:_MAX_LISTED])
        raise DataError(
            f"{_where(table)}label_type is 'int' but label column {name!r} holds non-integers: {shown}. "
            "Use label_type 'float' for regression.",
            field=name,
        )
    return values.astype(np.int64)


class FrameOptions(TypedDict, total=False):
    """:func:`frame_from_table`'s options that :func:`read_csv` passes on."""

    with_label: bool
    label_name: str
    label_type: Literal["int", "float"]
    missing_fill: bool
    missing_fill_method: FillMethod
    default_value: float


def read_csv(
    path: str | Path,
    *,
    id_column: str | None = None,
    missing_impute: Iterable[str] = (),
    head: bool = True,
    delimiter: str = ",",
    **options: Unpack[FrameOptions],
) -> Frame:
    """Read a dense CSV file into a :class:`Frame`: :func:`read_csv_table` + :func:`frame_from_table`
    (``options``: its ``with_label``, ``label_name``, ``label_type``, ``missing_fill``,
    ``missing_fill_method``, ``default_value``)."""
    table = Path(path).name
    df = read_csv_table(
        path, id_column=id_column, head=head, delimiter=delimiter, missing_impute=missing_impute, table=table
    )
    return frame_from_table(df, id_column=str(df.columns[0]), table=table, **options)
