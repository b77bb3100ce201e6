"""What every party does alone: bin its selected columns, and (guest) count labels per bin.

Shared by :class:`~.guest.HeteroBinningGuest` and :class:`~.host.HeteroBinningHost`; no messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.feature.bins import ColumnBins, bin_matrix, fit_bins
from fedloom.ml.feature.optimal import OptimalBinningParams, optimal_groups
from fedloom.ml.feature.woe import BinStats, one_vs_rest, woe_iv
from fedloom.ml.hetero.binning.model import PerClass, class_key
from fedloom.ml.hetero.binning.params import HeteroFeatureBinningParams


class BinningRole:
    """What the guest and host roles share: their parameters, checked when ``fit`` starts.

    Parameters
    ----------
    params
        :class:`~.params.HeteroFeatureBinningParams` or a FATE-style dict.
    """

    def __init__(self, params: HeteroFeatureBinningParams | Mapping[str, object] | None = None) -> None:
        self.params = params

    def checked_params(self) -> HeteroFeatureBinningParams:
        """The parameters as :class:`~.params.HeteroFeatureBinningParams` (ConfigError naming a
        bad field)."""
        return HeteroFeatureBinningParams.coerce(self.params)


class Clock:
    """Seconds per phase of a fit."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass
class LocalBins:
    """This party's binned columns: names, bins, their positions in the data, bin per row."""

    names: list[str]
    positions: list[int]
    bins: list[ColumnBins]
    index: np.ndarray  # (rows, columns) int32: the bin of each row in each binned column

    @property
    def n_bins(self) -> np.ndarray:
        """Bins per column."""
        return np.asarray([b.n_bins for b in self.bins], dtype=np.int64)


def check_columns(p: HeteroFeatureBinningParams, names: tuple[str, ...]) -> None:
    """Refuse a parameter naming a column (or index) the data lacks, before anything is sent.

    Raises
    ------
    ConfigError
        Names the field (``bin_names``, ``category_indexes``, ``transform_param.transform_cols`` ...).
    """
    p.selected(names)
    p.categorical(names)
    p.transformed(names)
    p.given_split_points(names)


def fit_local(p: HeteroFeatureBinningParams, frame: Frame) -> LocalBins:
    """Bin the columns ``p`` selects (``optimal``: the fine initial binning, merged later).

    Raises
    ------
    ConfigError
        A selected index or name the data does not have.
    """
    names = p.selected(frame.feature_names)
    positions = [frame.feature_names.index(n) for n in names]
    if not names:
        return LocalBins([], [], [], np.zeros((frame.n_rows, 0), dtype=np.int32))
    x = frame.dense_features()[:, positions]
    categorical = p.categorical(frame.feature_names)
    if p.method == "optimal":
        ob = p.optimal_binning_param
        method = "bucket" if ob.init_bucket_method.lower() == "bucket" else "quantile"
        bin_num = ob.init_bin_nums
    else:
        method, bin_num = ("bucket" if p.method == "bucket" else "quantile"), p.bin_num
    bins = fit_bins(
        x,
        names,
        method=method,  # type: ignore[arg-type]
        bin_num=bin_num,
        categorical=categorical & set(names),
        error=p.error,
        compress_thres=p.compress_thres,
        head_size=p.head_size,
    )
    given = p.given_split_points(frame.feature_names)
    for i, name in enumerate(names):
        if name in given and name not in categorical:
            bins[i] = ColumnBins(name, given[name], None, bool(np.isnan(x[:, i]).any()))
    index = bin_matrix(bins, x)
    return LocalBins(names, positions, bins, index)


def label_classes(label: np.ndarray | None, party: str) -> tuple[list[object], np.ndarray]:
    """The label's classes (ascending) and each row's class index.

    Two classes are binary: the larger one is the event (``1`` of ``{0, 1}``).

    Raises
    ------
    DataError
        No label, or NaN labels.
    """
    if label is None:
        raise DataError("the guest's data has no label: binning scores columns against it", party=party)
    y = np.asarray(label)
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise DataError("the label has missing values", party=party, field="label")
    classes, codes = np.unique(y, return_inverse=True)
    return [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()], codes.astype(np.int64)


def label_counts(index: np.ndarray, n_bins: int, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_bins, n_classes)`` rows per (bin, class) of one column."""
    flat = np.bincount(index.astype(np.int64) * n_classes + codes, minlength=n_bins * n_classes)
    if len(flat) != n_bins * n_classes:
        raise DataError("a bin index beyond the column's bins", field="bins")
    return flat.reshape(n_bins, n_classes)


def binary_counts(counts: np.ndarray, classes: Sequence[object]) -> np.ndarray:
    """``(n_bins, 2)`` non-event and event counts from ``(n_bins, len(classes))`` label counts.

    Two classes: the larger one is the event. One class: it is the event when it is ``>= 1``
    (``1`` of ``{0, 1}``), else every row is a non-event.
    """
    total = counts.sum(axis=1)
    if len(classes) == 2:
        events = counts[:, 1]
    elif len(classes) == 1 and _is_event(classes[0]):
        events = total
    else:
        events = np.zeros(counts.shape[0], dtype=np.int64)
    return np.stack([total - events, events], axis=1).astype(np.int64)


def stat_counts(counts: np.ndarray, classes: Sequence[object]) -> np.ndarray:
    """The counts WOE is computed from: binary ``(n_bins, 2)`` non-event / event counts
    (:func:`binary_counts`), or the ``(n_bins, n_classes)`` class counts (more than two)."""
    return binary_counts(counts, classes) if len(classes) <= 2 else counts


def stats_from(m: np.ndarray, classes: Sequence[object], adjustment_factor: float) -> BinStats | PerClass:
    """WOE / IV from :func:`stat_counts` output: binary, or one-vs-rest per class."""
    if len(classes) <= 2:
        return woe_iv(m[:, 1], m[:, 0], adjustment_factor)
    per = one_vs_rest(m, adjustment_factor)
    return {class_key(c): s for c, s in zip(classes, per, strict=True)}


def optimal_from_counts(
    m: np.ndarray, n_value: int, bin_num: int, params: OptimalBinningParams, adjustment_factor: float
) -> tuple[list[int], np.ndarray]:
    """Optimal groups of a column's ``n_value`` fine value bins from its ``(n_bins, 2)`` non-event /
    event counts (the missing bin, if any, last), and the merged counts (missing bin kept last)."""
    if n_value == 0:
        return [], m
    totals = (int(m[:, 1].sum()), int(m[:, 0].sum()))
    groups = optimal_groups(
        m[:n_value, 1], m[:n_value, 0], bin_num, params, adjustment_factor=adjustment_factor, totals=totals
    )
    return groups, merge_counts(m, groups, n_value)


def _is_event(label: object) -> bool:
    try:
        return float(label) >= 1  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def merge_counts(counts: np.ndarray, groups: Sequence[int], n_value: int) -> np.ndarray:
    """Fine ``counts`` (value bins, then the missing bin if any) summed per group."""
    starts = [0, *[g + 1 for g in groups[:-1]]]
    merged = np.add.reduceat(counts[:n_value], starts, axis=0) if groups else counts[:0]
    return np.concatenate([merged, counts[n_value:]], axis=0)
