"""What every party does alone: bin its features, and route rows through its own nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.feature.bins import ColumnBins, bin_matrix, fit_bins
from fedloom.ml.hetero.secureboost.candidates import go_left
from fedloom.ml.hetero.secureboost.params import HeteroSecureBoostParams
from fedloom.ml.tree import Node


@dataclass
class LocalBins:
    """A party's binned features: bins per feature and the bin of every row."""

    bins: list[ColumnBins]
    index: np.ndarray  # (rows, features) int32

    @property
    def n_bins(self) -> np.ndarray:
        """Bins per feature (missing bin included); at least 1."""
        return np.asarray([max(b.n_bins, 1) for b in self.bins], dtype=np.int64)

    @property
    def has_missing(self) -> np.ndarray:
        """Per feature, whether its last bin is the missing bin."""
        return np.asarray([b.has_missing for b in self.bins], dtype=bool)

    @property
    def n_value_bins(self) -> np.ndarray:
        """Value bins per feature."""
        return np.asarray([b.n_value_bins for b in self.bins], dtype=np.int64)


def features_of(frame: Frame, zeros_missing: bool, party: str) -> np.ndarray:
    """The dense features, zeros as NaN with ``zero_as_missing``; ±inf refused."""
    x = np.array(frame.dense_features(), dtype=np.float64, copy=True)
    if np.isinf(x).any():
        col = int(np.flatnonzero(np.isinf(x).any(axis=0))[0])
        raise DataError(
            "features must be finite or NaN (missing)", party=party, field=frame.feature_names[col]
        )
    if zeros_missing:
        x[x == 0.0] = np.nan
    return x


def fit_local(p: HeteroSecureBoostParams, frame: Frame, party: str) -> LocalBins:
    """Quantile bins of every feature (``bin_num``, ``binning_error``) and the rows' bins."""
    x = features_of(frame, p.zeros_missing, party)
    names = list(frame.feature_names)
    if not names:
        return LocalBins([], np.zeros((frame.n_rows, 0), dtype=np.int32))
    bins = fit_bins(x, names, method="quantile", bin_num=p.bin_num, error=p.binning_error)
    return LocalBins(bins, _index(bins, x))


def _index(bins: Sequence[ColumnBins], x: np.ndarray) -> np.ndarray:
    idx = bin_matrix(bins, x)
    # A value missing at prediction in a column without a missing bin gets index n_value_bins
    # (one past the last value bin): it is "missing" to go_left, as it should be.
    return idx


def index_frame(bins: Sequence[ColumnBins], frame: Frame, zeros_missing: bool, party: str) -> np.ndarray:
    """The bins of a (prediction) frame's rows under stored bins."""
    return _index(bins, features_of(frame, zeros_missing, party))


def node_goes_left(node: Node, column_bins: np.ndarray, n_value_bins: int) -> np.ndarray:
    """Rows (their bins in the node's feature) going left at an owned node."""
    assert node.bin is not None
    return go_left(column_bins, node.bin, n_value_bins, node.missing_left)


def sample_features(n_features: int, rate: float, seed: int | None, tree: int) -> np.ndarray:
    """The features a party uses for one tree (``subsample_feature_rate``), ascending."""
    if rate >= 1.0 or n_features == 0:
        return np.arange(n_features, dtype=np.int64)
    k = max(1, round(rate * n_features))
    rng = np.random.default_rng([0 if seed is None else seed, tree, 7])
    return np.sort(rng.choice(n_features, size=k, replace=False)).astype(np.int64)
