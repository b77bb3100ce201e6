"""Local feature-engineering math (no messages): quantile summaries, column bins, WOE / IV.

* :mod:`~fedloom.ml.feature.quantile`: :class:`QuantileSummary`, a mergeable quantile summary
  with a certified rank-error bound (``<= floor(error · count)``), FATE's ``error``,
  ``compress_thres`` and ``head_size``;
* :mod:`~fedloom.ml.feature.bins`: :class:`ColumnBins` (split points or categories, plus a missing
  bin), :func:`fit_bins` (quantile / bucket / categorical) and :func:`bin_matrix`.
* :mod:`~fedloom.ml.feature.woe`: :class:`BinStats`, :func:`woe_iv` and :func:`one_vs_rest`
  (FATE 1.x's WOE / IV rules);
* :mod:`~fedloom.ml.feature.optimal`: :class:`OptimalBinningParams`, :func:`optimal_groups` and
  :func:`merge_bins` (FATE's optimal binning: iv / gini / chi_square merging, ks splitting);
* :mod:`~fedloom.ml.feature.selection`: the selection filters (:func:`select_by_value`,
  :func:`column_statistics`, :class:`FilterOutcome`...), which columns each filter keeps.

The federated binning protocol (``fedloom.ml.hetero.binning``) builds on these.
"""

from fedloom.ml.feature.bins import ColumnBins, bin_matrix, fit_bins
from fedloom.ml.feature.optimal import OptimalBinningParams, merge_bins, optimal_groups
from fedloom.ml.feature.quantile import QuantileSummary
from fedloom.ml.feature.selection import FilterOutcome, column_statistics, select_by_value
from fedloom.ml.feature.woe import BinStats, one_vs_rest, woe_iv

__all__ = [
    "BinStats",
    "ColumnBins",
    "FilterOutcome",
    "OptimalBinningParams",
    "QuantileSummary",
    "bin_matrix",
    "column_statistics",
    "fit_bins",
    "merge_bins",
    "one_vs_rest",
    "optimal_groups",
    "select_by_value",
    "woe_iv",
]
