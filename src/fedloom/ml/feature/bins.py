"""Per-column bins: fitting split points (quantile or equal-width), categorical bins, missing bin.

One :class:`ColumnBins` per column says which bin every value falls in:

* **numeric** bins are ascending upper bounds ``s_0 < s_1 < ... < s_{k-1}``; a value ``x`` goes to
  the first ``i`` with ``x <= s_i`` (``np.searchsorted(split_points, x, side="left")``), and a value
  above ``s_{k-1}`` to the last bin ``k-1`` (so bins learnt on training data cover any later value);
* **categorical** bins are the distinct values seen, ascending: bin ``i`` is ``categories[i]``;
* **missing**: NaN never enters a value bin; it goes to index ``n_value_bins``, which is a real bin
  (``has_missing``) when the training column had NaN. An unseen category goes there too.

:func:`fit_bins` fits the split points of every column of a dense matrix:

* ``method="quantile"``: a :class:`~fedloom.ml.feature.quantile.QuantileSummary` per column (NaN
  left out) is queried at ``q = k/bin_num``, ``k = 1..bin_num``; equal answers collapse (ties give
  fewer bins) and the last split point is the column maximum. Each split point is an observed value
  whose rank is within the summary's ``rank_error_bound`` (``<= floor(error · n)``) of ``k·n/bin_num``.
* ``method="bucket"``: equal width, ``s_k = min + (max - min)·k/bin_num``, the last exactly ``max``.

A constant column gets one bin, an all-NaN column none (only its missing bin). Columns are read in
blocks of ``head_size`` rows, each block sorted once for all columns and folded into each column's
summary, so the work is numpy sorts and per-column merges, no per-value Python loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.feature.quantile import QuantileSummary

__all__ = ["ColumnBins", "bin_matrix", "fit_bins"]

_KEYS = ("name", "split_points", "categories", "has_missing")


def _float_tuple(values: Any, field: str, column: str) -> tuple[float, ...]:
    """Finite floats, strictly ascending, as a tuple (DataError naming ``field`` otherwise)."""
    try:
        out = tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    except (TypeError, ValueError):
        msg = f"column '{column}': must be a sequence of numbers. Got {values!r}."
        raise DataError(msg, field=field) from None
    if not all(math.isfinite(v) for v in out):
        raise DataError(f"column '{column}': values must be finite (no NaN or ±inf)", field=field)
    if any(b <= a for a, b in itertools.pairwise(out)):
        msg = f"column '{column}': values must be strictly ascending. Got {list(out)!r}."
        raise DataError(msg, field=field)
    return out


@dataclass(frozen=True)
class ColumnBins:
    """The bins of one column (module docstring for the rules).

    Parameters
    ----------
    name
        Column name.
    split_points
        Numeric columns: strictly ascending finite upper bounds, one per value bin. Empty for a
        categorical column and for a column with no values.
    categories
        Categorical columns: the distinct values seen, strictly ascending; ``None`` for numeric.
    has_missing
        The training column had NaN: bin ``n_value_bins`` is its missing bin.
    """

    name: str
    split_points: tuple[float, ...]
    categories: tuple[float, ...] | None = None
    has_missing: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise DataError(f"the column name must be a string. Got {self.name!r}.", field="name")
        # Normalise to tuples of Python floats (frozen: set through object.__setattr__).
        object.__setattr__(self, "split_points", _float_tuple(self.split_points, "split_points", self.name))
        if self.categories is not None:
            object.__setattr__(self, "categories", _float_tuple(self.categories, "categories", self.name))
            if self.split_points:
                raise DataError(
                    f"column '{self.name}': a categorical column has no split points", field="split_points"
                )
        if not isinstance(self.has_missing, bool | np.bool_):
            raise DataError(f"must be a bool. Got {self.has_missing!r}.", field="has_missing")
        object.__setattr__(self, "has_missing", bool(self.has_missing))

    # ------------------------------------------------------------------ shape
    @property
    def is_categorical(self) -> bool:
        """Bins are the values seen (``categories``), not intervals."""
        return self.categories is not None

    @property
    def n_value_bins(self) -> int:
        """Bins holding values (the missing bin, if any, comes after them)."""
        return len(self.categories) if self.categories is not None else len(self.split_points)

    @property
    def n_bins(self) -> int:
        """All bins: ``n_value_bins`` plus one if ``has_missing``."""
        return self.n_value_bins + int(self.has_missing)

    @property
    def missing_bin(self) -> int | None:
        """Index of the missing bin (``n_value_bins``), or ``None`` without one."""
        return self.n_value_bins if self.has_missing else None

    @cached_property
    def _edges(self) -> NDArray[np.float64]:
        # The last upper bound becomes +inf: every finite value lands in 0..k-1 in one searchsorted,
        # while NaN (ordered after +inf by numpy) lands at k, the missing index.
        return np.r_[np.asarray(self.split_points[:-1], np.float64), np.inf]

    @cached_property
    def _categories(self) -> NDArray[np.float64]:
        return np.asarray(self.categories or (), np.float64)

    # ------------------------------------------------------------------ use
    def index(self, values: ArrayLike) -> NDArray[np.int64]:
        """The bin of each value, same shape, int64.

        Numeric: first ``i`` with ``x <= split_points[i]``, values above the last in the last bin.
        Categorical: the position of ``x`` in ``categories``. NaN, and unseen categories, give
        ``n_value_bins`` (the missing bin; an out-of-range index when ``has_missing`` is False).
        """
        x = np.asarray(values, dtype=np.float64)
        k = self.n_value_bins
        if k == 0:
            return np.zeros(x.shape, np.int64)
        if self.categories is None:
            return np.searchsorted(self._edges, x, side="left").astype(np.int64, copy=False)
        cats = self._categories
        pos = np.searchsorted(cats, x, side="left")
        hit = cats[np.minimum(pos, k - 1)] == x  # NaN compares unequal: not a hit
        return np.where(hit, pos, k).astype(np.int64, copy=False)

    def labels(self) -> list[str]:
        """One label per bin: ``"(-inf, 1.5]"``, ``"(1.5, 2.0]"``, ..., then ``"missing"``.

        Categorical: ``"<name> = 3.0"``. The last numeric bin also holds values above its bound.
        """
        if self.categories is not None:
            out = [f"{self.name} = {c!r}" for c in self.categories]
        else:
            lows = ["-inf", *(repr(s) for s in self.split_points[:-1])]
            out = [f"({lo}, {hi!r}]" for lo, hi in zip(lows, self.split_points, strict=True)]
        if self.has_missing:
            out.append("missing")
        return out

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, object]:
        """JSON-able form: floats as floats (never ±inf or NaN), ``categories`` null when numeric."""
        return {
            "name": self.name,
            "split_points": list(self.split_points),
            "categories": None if self.categories is None else list(self.categories),
            "has_missing": self.has_missing,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnBins:
        """Rebuild from :meth:`to_dict`; :class:`DataError` naming the field on malformed input."""
        if not isinstance(d, Mapping):
            raise DataError(f"column bins must be a mapping. Got {type(d).__name__}.", field="bins")
        unknown = sorted(set(d) - set(_KEYS), key=str)
        if unknown:
            raise DataError(f"unknown key in column bins; expected {list(_KEYS)}", field=str(unknown[0]))
        for key in ("name", "split_points"):
            if key not in d:
                raise DataError("missing from column bins", field=key)
        name = d["name"]
        if not isinstance(name, str):
            raise DataError(f"must be a string. Got {name!r}.", field="name")

        def numbers(key: str) -> list[float]:
            raw = d[key]
            if not isinstance(raw, list | tuple) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in raw
            ):
                raise DataError(f"column '{name}': must be a list of numbers. Got {raw!r}.", field=key)
            return [float(v) for v in raw]

        split_points = numbers("split_points")
        categories = None if d.get("categories") is None else numbers("categories")
        has_missing = d.get("has_missing", False)
        if not isinstance(has_missing, bool):
            raise DataError(f"column '{name}': must be a bool. Got {has_missing!r}.", field="has_missing")
        return cls(name, tuple(split_points), None if categories is None else tuple(categories), has_missing)


# ---------------------------------------------------------------------- fitting
def _dense(features: Any) -> NDArray[np.float64]:
    if hasattr(features, "tocsr"):
        msg = "binning needs a dense feature matrix; densify sparse columns first"
        raise DataError(msg, field="features")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"must be a 2-D (rows, columns) matrix. Got shape {x.shape}.", field="features")
    return x


def fit_bins(
    features: NDArray[np.floating],
    names: Sequence[str],
    *,
    method: Literal["quantile", "bucket"],
    bin_num: int,
    categorical: Collection[str] = (),
    error: float = 0.001,
    compress_thres: int = 10_000,
    head_size: int = 10_000,
) -> list[ColumnBins]:
    """Fit one :class:`ColumnBins` per column of ``features`` (module docstring for the rules).

    Parameters
    ----------
    features
        Dense ``(n_rows, n_cols)`` float matrix; NaN marks a missing value.
    names
        One name per column.
    method
        ``"quantile"`` (summary quantiles at ``k/bin_num``) or ``"bucket"`` (equal width).
    bin_num
        Value bins wanted per numeric column (fewer when values tie).
    categorical
        Names of columns whose distinct values are their bins.
    error, compress_thres, head_size
        The :class:`QuantileSummary` parameters (FATE's names), for ``method="quantile"``.

    Raises
    ------
    ConfigError
        Bad ``method``, ``bin_num`` or summary parameter, or a ``categorical`` name that is no column.
    DataError
        ``features`` is not a dense 2-D matrix, ``names`` does not match its columns, or a column
        holds ±inf (``field`` is the column name).
    """
    x = _dense(features)
    names = list(names)
    if len(names) != x.shape[1] or not all(isinstance(n, str) for n in names):
        raise DataError(f"need one string name per column ({x.shape[1]}). Got {names!r}.", field="names")
    _check_options(names, method, bin_num, categorical, error, compress_thres, head_size)

    n_rows, n_cols = x.shape
    nan = np.isnan(x)
    n_valid = n_rows - nan.sum(axis=0)
    _check_finite(x, names)
    # fmin/fmax skip NaN (an all-NaN column gives NaN, and is never read).
    col_min = np.fmin.reduce(x, axis=0) if n_rows else np.full(n_cols, np.nan)
    col_max = np.fmax.reduce(x, axis=0) if n_rows else np.full(n_cols, np.nan)
    is_cat = _categorical_mask(names, categorical)

    numeric = [c for c in range(n_cols) if not is_cat[c] and n_valid[c] > 0]
    if method == "bucket":
        splits = _bucket_splits(numeric, col_min, col_max, bin_num)
    else:
        splits = _quantile_splits(x, nan, numeric, col_max, bin_num, error, compress_thres, head_size)
    categories = {c: tuple(np.unique(x[:, c][~nan[:, c]]).tolist()) for c in np.flatnonzero(is_cat).tolist()}
    return _column_bins(names, is_cat, n_valid, n_rows, splits, categories)


def _check_options(
    names: list[str],
    method: str,
    bin_num: Any,
    categorical: Collection[str],
    error: float,
    compress_thres: int,
    head_size: int,
) -> None:
    """Refuse a bad binning conf before any data is read, the same way for both fitting paths."""
    if method not in ("quantile", "bucket"):
        raise ConfigError(f"must be one of 'quantile', 'bucket'. Got {method!r}.", field="method")
    if isinstance(bin_num, bool) or not isinstance(bin_num, int | np.integer) or bin_num < 1:
        raise ConfigError(f"must be an int >= 1. Got {bin_num!r}.", field="bin_num")
    unknown = [c for c in categorical if c not in names]
    if unknown:
        raise ConfigError(f"not a column of the features: {unknown!r}", field="categorical")
    # Summary parameters are checked even for bucket binning, so a bad conf fails the same way.
    QuantileSummary(error, compress_thres, head_size)


def _check_finite(x: NDArray[np.float64], names: list[str]) -> None:
    """Refuse ±inf, naming the first such column: bins are defined over finite values and NaN only."""
    bad = np.flatnonzero(np.isinf(x).any(axis=0))
    if len(bad):
        raise DataError("column holds ±inf; binning takes finite values and NaN", field=names[bad[0]])


def _categorical_mask(names: list[str], categorical: Collection[str]) -> NDArray[np.bool_]:
    """Per column, whether its distinct values are its bins."""
    cat_names = set(categorical)
    return np.array([n in cat_names for n in names], bool)


def _bucket_splits(
    columns: list[int], col_min: NDArray[np.float64], col_max: NDArray[np.float64], bin_num: int
) -> dict[int, tuple[float, ...]]:
    """Equal-width split points of ``columns``, ending at each column's maximum."""
    ks = np.arange(1, bin_num + 1, dtype=np.float64)
    splits: dict[int, tuple[float, ...]] = {}
    for c in columns:
        lo, hi = float(col_min[c]), float(col_max[c])
        pts = np.unique(lo + (hi - lo) * ks / bin_num)
        splits[c] = (*(float(p) for p in pts[pts < hi]), hi)
    return splits


def _fold_piece(
    summaries: Sequence[QuantileSummary],
    piece: NDArray[np.float64],
    nan: NDArray[np.bool_],
    cols: NDArray[Any],
) -> None:
    """Fold the rows of ``piece`` into the summaries of ``cols`` with one sort for every column."""
    sub = piece if len(cols) == piece.shape[1] else piece[:, cols]
    # NaN sorts last, so a column's finite values are the first n_valid of its row.
    rows = np.sort(np.ascontiguousarray(sub.T), axis=1)
    valid = len(piece) - nan[:, cols].sum(axis=0)
    for j, summary in enumerate(summaries):
        # Same package: the piece is already sorted, so fold it without update()'s re-sort.
        summary._fold_sorted(rows[j, : valid[j]])


def _query_splits(
    summaries: Mapping[int, QuantileSummary], col_max: NDArray[np.float64], bin_num: int
) -> dict[int, tuple[float, ...]]:
    """Quantile split points per column: the summary queried at ``k/bin_num``, ending at the maximum."""
    qs = np.arange(1, bin_num + 1, dtype=np.float64) / bin_num
    out = {}
    for c, summary in summaries.items():
        hi = float(col_max[c])
        pts = np.unique(summary.query(qs))
        out[c] = (*(float(p) for p in pts[pts < hi]), hi)
    return out


def _column_bins(
    names: list[str],
    is_cat: NDArray[np.bool_],
    n_valid: NDArray[np.integer],
    n_rows: int,
    splits: Mapping[int, tuple[float, ...]],
    categories: Mapping[int, tuple[float, ...]],
) -> list[ColumnBins]:
    """One :class:`ColumnBins` per column from the fitted splits or categories."""
    out = []
    for c, name in enumerate(names):
        missing = bool(n_valid[c] < n_rows)
        if is_cat[c]:
            out.append(ColumnBins(name, (), categories[c], missing))
        else:
            out.append(ColumnBins(name, splits.get(c, ()), None, missing))
    return out


def _quantile_splits(
    x: NDArray[np.float64],
    nan: NDArray[np.bool_],
    columns: list[int],
    col_max: NDArray[np.float64],
    bin_num: int,
    error: float,
    compress_thres: int,
    head_size: int,
) -> dict[int, tuple[float, ...]]:
    """Quantile split points of ``columns``: summaries fed block by block, queried at ``k/bin_num``."""
    if not columns:
        return {}
    summaries = [QuantileSummary(error, compress_thres, head_size) for _ in columns]
    cols = np.asarray(columns)
    for start in range(0, x.shape[0], head_size):
        _fold_piece(summaries, x[start : start + head_size], nan[start : start + head_size], cols)
    return _query_splits(dict(zip(columns, summaries, strict=True)), col_max, bin_num)


# Up to this many finite edges in every numeric column, bin_matrix counts "x > edge" over the whole
# block (one pass per edge, no per-column loop); above it, one searchsorted per column is cheaper.
_BROADCAST_EDGES = 32
_BLOCK_ROWS = 2048  # rows per block: a block of a few hundred columns stays in cache across passes


def bin_matrix(bins: Sequence[ColumnBins], features: NDArray[np.floating]) -> NDArray[np.int32]:
    """``(n_rows, n_cols)`` int32 bin indices: column ``c`` is ``bins[c].index(features[:, c])``.

    For numeric columns ``searchsorted(edges, x, "left")`` equals ``#{edges < x}``, counted here as a
    sum of comparisons against each column's padded edges (``+inf`` pads never count; NaN compares
    false and is then set to the column's ``n_value_bins``), so few-bin matrices need no per-column
    loop. Categorical columns and many-bin matrices use :meth:`ColumnBins.index` per column.

    Raises
    ------
    DataError
        ``features`` is not a dense 2-D matrix with one column per entry of ``bins``.
    """
    x = _dense(features)
    if x.shape[1] != len(bins):
        raise DataError(f"has {x.shape[1]} columns for {len(bins)} column bins", field="features")
    out = np.empty(x.shape, np.int32)
    numeric = [c for c, b in enumerate(bins) if not b.is_categorical and b.n_value_bins > 0]
    numeric_set = set(numeric)
    others = [c for c in range(len(bins)) if c not in numeric_set]
    n_edges = max((bins[c].n_value_bins - 1 for c in numeric), default=0)
    if numeric and n_edges <= _BROADCAST_EDGES:
        cols = np.asarray(numeric)
        whole = len(numeric) == x.shape[1]
        edges = np.full((n_edges, len(numeric)), np.inf)
        for j, c in enumerate(numeric):
            inner = bins[c].split_points[:-1]  # the last bound is +inf in effect (module docstring)
            edges[: len(inner), j] = inner
        n_value = np.asarray([bins[c].n_value_bins for c in numeric], np.int32)
        for start in range(0, x.shape[0], _BLOCK_ROWS):
            block = x[start : start + _BLOCK_ROWS] if whole else x[start : start + _BLOCK_ROWS][:, cols]
            acc = np.zeros(block.shape, np.int32)
            for k in range(n_edges):
                acc += block > edges[k]
            np.copyto(acc, n_value, where=np.isnan(block))
            if whole:
                out[start : start + _BLOCK_ROWS] = acc
            else:
                out[start : start + _BLOCK_ROWS, cols] = acc
    else:
        others = list(range(x.shape[1]))
    for c in others:
        out[:, c] = bins[c].index(x[:, c])
    return out


def rechunk(blocks: Iterable[NDArray[np.floating]], rows: int) -> Iterator[NDArray[np.float64]]:
    """The rows of ``blocks`` (dense ``(n_i, n_cols)`` matrices, in order) again, cut into pieces of
    exactly ``rows`` rows (the last shorter). Holds at most one piece plus one block in memory."""
    pending: list[NDArray[np.float64]] = []
    held = 0
    for block in blocks:
        b = _dense(block)
        while len(b):
            take = min(rows - held, len(b))
            pending.append(b[:take])
            held += take
            b = b[take:]
            if held == rows:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def fit_bins_blocks(
    blocks: Iterable[NDArray[np.floating]],
    names: Sequence[str],
    *,
    method: Literal["quantile", "bucket"],
    bin_num: int,
    categorical: Collection[str] = (),
    error: float = 0.001,
    compress_thres: int = 10_000,
    head_size: int = 10_000,
) -> list[ColumnBins]:
    """:func:`fit_bins` over a table read block by block (e.g. Parquet row groups,
    :meth:`fedloom.data.storage.TableStore.iter_blocks`), never holding the whole table.

    Streaming algorithm: the blocks are re-cut into pieces of exactly ``head_size`` rows
    (:func:`rechunk`), and each piece is handled as :func:`fit_bins` handles its own ``head_size``
    blocks: one sort per piece, folded into each column's :class:`QuantileSummary`; per column the
    running maximum, minimum, count of non-NaN values and (categorical columns) the set of
    distinct values are kept. Because the summaries see the same pieces in the same order as in
    one piece, the split points are **identical** to ``fit_bins`` of the concatenated blocks,
    whatever the block sizes (and so within the same certified rank bound,
    ``<= floor(error · n)``). Memory: one piece, one block, the summaries
    (``O(1/error · log(error · n))`` entries per column) and the categories.

    Raises
    ------
    ConfigError, DataError
        As :func:`fit_bins` (a block with the wrong column count: ``field='features'``).
    """
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise DataError(f"need one string name per column. Got {names!r}.", field="names")
    _check_options(names, method, bin_num, categorical, error, compress_thres, head_size)
    is_cat = _categorical_mask(names, categorical)
    scan = _BlockScan(names, is_cat, method == "quantile", (error, compress_thres, head_size))
    for piece in rechunk(blocks, head_size):
        scan.add(piece)
    numeric = [c for c in np.flatnonzero(~is_cat).tolist() if scan.n_valid[c] > 0]
    if method == "bucket":
        splits = _bucket_splits(numeric, scan.col_min, scan.col_max, bin_num)
    else:
        splits = _query_splits({c: scan.summaries[c] for c in numeric}, scan.col_max, bin_num)
    categories = {c: tuple(sorted(seen)) for c, seen in scan.cats.items()}
    return _column_bins(names, is_cat, scan.n_valid, scan.n_rows, splits, categories)


class _BlockScan:
    """Running per-column statistics over pieces, so a table is fitted without holding it whole."""

    def __init__(
        self,
        names: list[str],
        is_cat: NDArray[np.bool_],
        quantile: bool,
        summary_args: tuple[float, int, int],
    ) -> None:
        n_cols = len(names)
        self.names = names
        self.quantile = quantile
        self.numeric_cols = np.flatnonzero(~is_cat)
        self.summaries = {int(c): QuantileSummary(*summary_args) for c in self.numeric_cols}
        self.col_min = np.full(n_cols, np.nan)
        self.col_max = np.full(n_cols, np.nan)
        self.n_valid = np.zeros(n_cols, np.int64)
        self.n_rows = 0
        self.cats: dict[int, set[float]] = {int(c): set() for c in np.flatnonzero(is_cat)}

    def add(self, piece: NDArray[np.float64]) -> None:
        """Fold one piece into every statistic (as :func:`fit_bins` folds its own ``head_size`` blocks)."""
        if piece.shape[1] != len(self.names):
            raise DataError(
                f"a block has {piece.shape[1]} columns for {len(self.names)} names", field="features"
            )
        _check_finite(piece, self.names)
        nan = np.isnan(piece)
        self.n_rows += len(piece)
        self.n_valid += len(piece) - nan.sum(axis=0)
        self.col_min = np.fmin(self.col_min, np.fmin.reduce(piece, axis=0))
        self.col_max = np.fmax(self.col_max, np.fmax.reduce(piece, axis=0))
        for c, seen in self.cats.items():
            seen.update(np.unique(piece[~nan[:, c], c]).tolist())
        if self.quantile and len(self.numeric_cols):
            _fold_piece(list(self.summaries.values()), piece, nan, self.numeric_cols)
