"""Tabular multi-class CSV in the Otto Group layout: ``id, feat_1..feat_n, target``.

``target`` holds class names (``Class_1`` .. ``Class_9`` in Otto); they are mapped to
``0..K-1`` in sorted order. A file without ``target`` (a test file) yields ``labels=None``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedloom.core.errors import DataError

__all__ = ["TabularData", "read_otto_csv"]


@dataclass
class TabularData:
    """A tabular multi-class dataset.

    Parameters
    ----------
    ids
        ``(N,)`` row ids as strings.
    features
        ``(N, F)`` float32.
    labels
        ``(N,)`` int64 class indices, or ``None`` for an unlabelled file.
    feature_names
        The ``F`` column names.
    classes
        Class names, index ``k`` ↔ label ``k``.
    """

    ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray | None
    feature_names: list[str]
    classes: list[str]


def read_otto_csv(path: str | Path, *, classes: list[str] | None = None) -> TabularData:
    """Read an Otto-layout CSV.

    Parameters
    ----------
    path
        The CSV file (header row first).
    classes
        Class names to use (e.g. those of the training file when reading validation data);
        default: the sorted distinct targets of this file.

    Raises
    ------
    DataError
        No ``id`` column, no feature columns, a non-numeric feature (names row and column) or
        a target outside ``classes``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"tabular CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "id":
        raise DataError(
            f"{path}: first column must be 'id' (Otto layout id, feat_1..feat_n, target)", field="id"
        )
    has_target = header[-1] == "target"
    feature_names = header[1:-1] if has_target else header[1:]
    if not feature_names:
        raise DataError(f"{path}: no feature columns between 'id' and 'target'")
    body = rows[1:]
    n_cols = len(header)
    ids: list[str] = []
    feats = np.empty((len(body), len(feature_names)), dtype=np.float32)
    targets: list[str] = []
    for r, row in enumerate(body):
        if len(row) != n_cols:
            raise DataError(f"{path}: row {r + 2} has {len(row)} fields, header has {n_cols}")
        ids.append(row[0])
        try:
            feats[r] = [float(v) for v in row[1 : 1 + len(feature_names)]]
        except ValueError as err:
            raise DataError(f"{path}: row {r + 2} has a non-numeric feature ({err})") from err
        if has_target:
            targets.append(row[-1])
    labels: np.ndarray | None = None
    if has_target:
        names = classes if classes is not None else sorted(set(targets))
        index = {c: k for k, c in enumerate(names)}
        bad = sorted(set(targets) - set(index))
        if bad:
            raise DataError(f"{path}: target values {bad[:5]} not among classes {names}", field="target")
        labels = np.asarray([index[t] for t in targets], dtype=np.int64)
        classes = names
    return TabularData(np.asarray(ids), feats, labels, feature_names, list(classes or []))
