"""Frame: one party's rows as ids, an optional label and a float64 feature matrix.

The matrix is dense (numpy) or sparse (a ``scipy.sparse`` CSR matrix, from ``DataTransform``'s
``output_format: sparse``); row selection, column selection and ``x @ w`` keep a sparse matrix
sparse, and :meth:`Frame.dense_features` gives the dense array where a consumer needs one.

Ids are text: a numpy ``object`` array of ``str``, unique within a frame. They are what parties
match on (PSI), so they are never numbers that could print two ways (``1`` vs ``1.0``): integer
ids are written in decimal, float ids are refused. Rows can be selected by id in any order, which
is how aligned data comes out of an intersection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from fedloom.core.errors import DataError

__all__ = ["Frame", "append_column", "normalise_ids"]

_MAX_LISTED = 5


def _where(table: str | None) -> str:
    return f"table {table}: " if table else ""


def normalise_ids(
    values: Iterable[Any] | np.ndarray, *, table: str | None = None, column: str = "id"
) -> np.ndarray:
    """Return ids as a numpy ``object`` array of non-empty ``str``.

    Strings are kept as they are; Python / numpy integers become decimal text. Anything else
    (floats, NaN, None, bytes, booleans) and empty or control-character ids are refused.

    Raises
    ------
    DataError
        Naming the table, the column and the first offending rows (0-based row numbers).
    """
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.ndim != 1:
        raise DataError(f"{_where(table)}ids must be one-dimensional. Got shape {arr.shape}.", field=column)
    if arr.dtype.kind == "U":
        out = arr.astype(object)
    elif arr.dtype.kind in "iu":
        out = np.array([str(int(v)) for v in arr.tolist()], dtype=object)
    elif arr.dtype == object:
        out = np.empty(len(arr), dtype=object)
        bad: list[str] = []
        for i, v in enumerate(arr.tolist()):
            if isinstance(v, str):
                out[i] = v
            elif isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_):
                out[i] = str(int(v))
            else:
                out[i] = ""
                if len(bad) < _MAX_LISTED:
                    bad.append(f"row {i}: {v!r} ({type(v).__name__})")
        if bad:
            raise DataError(
                f"{_where(table)}ids in column {column!r} must be text or integers; found {', '.join(bad)}.",
                field=column,
            )
    else:
        raise DataError(
            f"{_where(table)}ids in column {column!r} must be text or integers. Got dtype {arr.dtype} "
            f"(e.g. {arr[0]!r}); float ids are ambiguous ('1' vs '1.0'): store them as text.",
            field=column,
        )
    bad_rows = [i for i, v in enumerate(out.tolist()) if not v.strip() or not v.isprintable()]
    if bad_rows:
        shown = ", ".join(f"row {i}: {out[i]!r}" for i in bad_rows[:_MAX_LISTED])
        raise DataError(
            f"{_where(table)}{len(bad_rows)} id(s) in column {column!r} are empty or hold control characters "
            f"({shown}).",
            field=column,
        )
    return out


def append_column(x: Any, col: np.ndarray) -> Any:
    """``[x | col]``: a dense array stays dense (``np.hstack``); a sparse matrix stays sparse (CSC,
    the layout of an encrypted ``dot`` over columns)."""
    if sparse.issparse(x):
        return sparse.hstack([x, sparse.csc_matrix(col.reshape(-1, 1))], format="csc")
    return np.hstack([x, col.reshape(-1, 1)])


def _check_unique(ids: np.ndarray, table: str | None, column: str) -> None:
    index = pd.Index(ids)
    if index.is_unique:
        return
    dup_mask = index.duplicated(keep=False)
    dups = pd.unique(ids[dup_mask])
    shown = ", ".join(repr(d) for d in dups[:_MAX_LISTED])
    more = f" and {len(dups) - _MAX_LISTED} more" if len(dups) > _MAX_LISTED else ""
    raise DataError(
        f"{_where(table)}{len(dups)} id(s) in column {column!r} occur more than once: {shown}{more}. "
        "Ids must be unique (fedloom refuses duplicates rather than guess which row to keep); "
        "deduplicate the file first.",
        field=column,
    )


class Frame:
    """Rows of one party's table.

    Parameters
    ----------
    ids
        One id per row (normalised by :func:`normalise_ids`; must be unique).
    features
        ``(n_rows, n_features)`` float64 matrix, finite values only.
    feature_names
        One unique name per feature column.
    label
        ``(n_rows,)`` array or ``None`` (hosts).
    match_id_name
        Name of the id column (FATE's ``match_id_name``).
    label_name
        Name of the label column when there is a label.
    table
        ``namespace.name`` of the source table, for error messages.
    weights
        ``(n_rows,)`` non-negative finite sample weights (``SampleWeight``'s output) or ``None``;
        kept by :meth:`take`, :meth:`select` and :meth:`select_features`.
    """

    ids: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    label: np.ndarray | None
    match_id_name: str
    label_name: str | None
    table: str | None
    weights: np.ndarray | None = None

    def __init__(
        self,
        ids: Iterable[Any] | np.ndarray,
        features: ArrayLike,
        feature_names: Sequence[str],
        label: ArrayLike | None = None,
        match_id_name: str = "id",
        label_name: str | None = None,
        table: str | None = None,
        weights: ArrayLike | None = None,
    ) -> None:
        self.match_id_name, self.label_name, self.table = match_id_name, label_name, table
        self.ids = normalise_ids(ids, table=self.table, column=self.match_id_name)
        _check_unique(self.ids, self.table, self.match_id_name)
        n = len(self.ids)
        if sparse.issparse(features):
            feats = sparse.csr_matrix(features, dtype=np.float64)
            feats.sum_duplicates()
        else:
            feats = np.asarray(features, dtype=np.float64)
        if feats.ndim == 1 and n and feats.size == 0:
            feats = feats.reshape(n, 0)
        if feats.ndim != 2 or feats.shape[0] != n:
            raise DataError(
                f"{_where(self.table)}features must be a (rows, columns) matrix with {n} rows. "
                f"Got shape {feats.shape}."
            )
        self.feature_names = tuple(str(f) for f in feature_names)
        if len(self.feature_names) != feats.shape[1]:
            raise DataError(
                f"{_where(self.table)}{feats.shape[1]} feature columns but "
                f"{len(self.feature_names)} feature names."
            )
        if len(set(self.feature_names)) != len(self.feature_names):
            seen: set[str] = set()
            dup = next(f for f in self.feature_names if f in seen or seen.add(f))  # type: ignore[func-returns-value]
            raise DataError(f"{_where(self.table)}feature name {dup!r} appears twice.", field=dup)
        self.features = feats
        self.label = None
        if label is not None:
            lab = np.asarray(label)
            if lab.shape != (n,):
                raise DataError(
                    f"{_where(self.table)}label must have shape ({n},). Got {lab.shape}.",
                    field=self.label_name,
                )
            self.label = lab
        self.weights = None if weights is None else self._checked_weights(weights)

    def _checked_weights(self, weights: ArrayLike) -> np.ndarray:
        """``weights`` as a float64 ``(n_rows,)`` array of finite values ``>= 0`` (DataError else)."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_rows,):
            raise DataError(f"{_where(self.table)}weights must have shape ({self.n_rows},). Got {w.shape}.")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if len(bad):
            raise DataError(
                f"{_where(self.table)}sample weights must be finite and >= 0 (row {int(bad[0])}: "
                f"{w[bad[0]]!r}).",
                field="weight",
            )
        return w

    def with_weights(self, weights: ArrayLike | None) -> Frame:
        """The same rows with ``weights`` (one per row, finite, ``>= 0``; ``None`` drops them)."""
        frame = Frame._trusted(
            self.ids,
            self.features,
            self.feature_names,
            self.label,
            self.match_id_name,
            self.label_name,
            self.table,
        )
        frame.weights = None if weights is None else self._checked_weights(weights)
        return frame

    @classmethod
    def _trusted(
        cls,
        ids: np.ndarray,
        features: np.ndarray,
        feature_names: tuple[str, ...],
        label: np.ndarray | None,
        match_id_name: str,
        label_name: str | None,
        table: str | None,
        weights: np.ndarray | None = None,
    ) -> Frame:
        """Build without re-checking: for subsets of a frame that was checked already."""
        frame = object.__new__(cls)
        frame.ids, frame.features, frame.feature_names, frame.label = ids, features, feature_names, label
        frame.match_id_name, frame.label_name, frame.table = match_id_name, label_name, table
        frame.weights = weights
        return frame

    # -- shape -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.ids)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.features.shape[1])

    @property
    def is_sparse(self) -> bool:
        """Whether the features are a ``scipy.sparse`` CSR matrix."""
        return bool(sparse.issparse(self.features))

    def dense_features(self) -> np.ndarray:
        """The features as a dense ``(n_rows, n_features)`` array (a copy when sparse)."""
        feats: Any = self.features
        return np.asarray(feats.toarray()) if sparse.issparse(feats) else feats

    def sparse_features(self) -> Any:
        """The features as a ``scipy.sparse`` CSR matrix (converted when dense)."""
        return self.features if self.is_sparse else sparse.csr_matrix(self.features)

    def with_features(self, features: Any) -> Frame:
        """The same rows (ids, label, weights) with another ``(n_rows, n_features)`` matrix of the
        same columns: a dense array, or a sparse one (kept as CSR)."""
        if sparse.issparse(features):
            feats = sparse.csr_matrix(features, dtype=np.float64)
            feats.sum_duplicates()
        else:
            feats = np.asarray(features, dtype=np.float64)
        if feats.shape != (self.n_rows, self.n_features):
            raise DataError(
                f"{_where(self.table)}features must have shape {(self.n_rows, self.n_features)}. "
                f"Got {feats.shape}."
            )
        return Frame._trusted(
            self.ids,
            feats,
            self.feature_names,
            self.label,
            self.match_id_name,
            self.label_name,
            self.table,
            self.weights,
        )

    def to_sparse(self) -> Frame:
        """The same frame with CSR features (``self`` when already sparse)."""
        return self if self.is_sparse else self.with_features(sparse.csr_matrix(self.features))

    def to_dense(self) -> Frame:
        """The same frame with dense features (``self`` when already dense)."""
        return self.with_features(self.dense_features()) if self.is_sparse else self

    @property
    def has_label(self) -> bool:
        """Whether the frame carries a label."""
        return self.label is not None

    @property
    def schema(self) -> dict[str, Any]:
        """The recorded schema (see :mod:`fedloom.data.schema`): id name, label name and kind, features."""
        label_type = None
        if self.label is not None:
            label_type = "int" if self.label.dtype.kind in "iub" else "float"
        return {
            "id": self.match_id_name,
            "label": self.label_name if self.label is not None else None,
            "label_type": label_type,
            "features": list(self.feature_names),
        }

    # -- selection ---------------------------------------------------------------------
    def take(self, rows: Sequence[int] | np.ndarray) -> Frame:
        """Rows at the given positions, in that order."""
        idx = np.asarray(rows, dtype=np.int64)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise DataError(f"{_where(self.table)}row position out of range 0..{len(self) - 1}.")
        ids = self.ids[idx]
        if len(np.unique(idx)) != len(idx):
            _check_unique(ids, self.table, self.match_id_name)
        return Frame._trusted(
            ids,
            self.features[idx],
            self.feature_names,
            None if self.label is None else self.label[idx],
            self.match_id_name,
            self.label_name,
            self.table,
            None if self.weights is None else self.weights[idx],
        )

    def positions(self, ids: Iterable[Any] | np.ndarray, *, strict: bool = True) -> np.ndarray:
        """Row positions of ``ids`` (order kept); ``-1`` for absent ids when not ``strict``.

        Raises
        ------
        DataError
            ``strict`` and some ids are not in the frame (the first few are listed).
        """
        wanted = normalise_ids(ids, table=self.table, column=self.match_id_name)
        pos = pd.Index(self.ids).get_indexer(wanted)
        if strict and (pos < 0).any():
            missing = wanted[pos < 0]
            shown = ", ".join(repr(m) for m in missing[:_MAX_LISTED])
            raise DataError(
                f"{_where(self.table)}{len(missing)} requested id(s) are not in the frame: {shown}.",
                field=self.match_id_name,
            )
        return pos

    def select(self, ids: Iterable[Any] | np.ndarray) -> Frame:
        """The rows with the given ids, in the given order (ids must be present and unique)."""
        return self.take(self.positions(ids))

    def select_features(self, names: Sequence[str]) -> Frame:
        """The given feature columns, in that order.

        Raises
        ------
        DataError
            A name is not a feature of the frame.
        """
        index = {n: i for i, n in enumerate(self.feature_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise DataError(f"{_where(self.table)}no feature column(s) {missing}.", field=missing[0])
        if len(set(names)) != len(names):
            raise DataError(f"{_where(self.table)}feature names repeat in {list(names)}.")
        cols = [index[n] for n in names]
        return Frame._trusted(
            self.ids,
            self.features[:, cols],
            tuple(names),
            self.label,
            self.match_id_name,
            self.label_name,
            self.table,
            self.weights,
        )

    # -- conversion --------------------------------------------------------------------
    def to_pandas(self) -> pd.DataFrame:
        """``id`` column, then the label (if any), then the features."""
        data: dict[str, Any] = {self.match_id_name: self.ids}
        if self.label is not None:
            data[self.label_name or "y"] = self.label
        df = pd.DataFrame(data)
        feats = pd.DataFrame(self.dense_features(), columns=list(self.feature_names))
        return pd.concat([df, feats], axis=1)

    def to_sparse_text(self, column: str = "features") -> pd.DataFrame:
        """``id`` column, the label (if any), then one text column of ``name:value`` pairs (the
        non-zeros of each row, in column order): a sparse frame's table without densifying it."""
        data: dict[str, Any] = {self.match_id_name: self.ids}
        if self.label is not None:
            data[self.label_name or "y"] = self.label
        x = self.sparse_features()
        names, indptr, indices = self.feature_names, x.indptr, x.indices
        data[column] = [
            " ".join(
                f"{names[j]}:{v!r}" for j, v in zip(indices[a:b].tolist(), x.data[a:b].tolist(), strict=True)
            )
            for a, b in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)
        ]
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        label = f", label={self.label_name!r}" if self.label is not None else ""
        src = f", table={self.table!r}" if self.table else ""
        kind = ", sparse" if self.is_sparse else ""
        return f"Frame(rows={self.n_rows}, features={self.n_features}{kind}{label}{src})"
