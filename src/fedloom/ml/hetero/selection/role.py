"""What the guest and host roles of hetero feature selection share: the run of the filters.

Each role says how it runs an IV filter (:meth:`SelectionRole.iv_filter`); the local filters,
their order and the model are the same on every party.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fedloom.context import Context
from fedloom.data import Frame
from fedloom.ml.feature.selection import FilterOutcome
from fedloom.ml.hetero.selection.local import local_filter, require_binning
from fedloom.ml.hetero.selection.messages import FILTER
from fedloom.ml.hetero.selection.model import SelectionModel
from fedloom.ml.hetero.selection.params import IV_METHODS, HeteroFeatureSelectionParams, IVRule

__all__ = ["SelectionRole"]

log = logging.getLogger(__name__)


class SelectionRole:
    """Run ``filter_methods`` in order on this party's candidate columns.

    Parameters
    ----------
    params
        The selection parameters (FATE names).
    """

    #: Names this party's columns in the log (``guest`` / ``host``).
    role: str = "party"

    def __init__(self, params: HeteroFeatureSelectionParams | Mapping[str, object] | None = None) -> None:
        self.params = HeteroFeatureSelectionParams.coerce(params)

    def fit(self, ctx: Context, frame: Frame, binning: Mapping[str, object] | None = None) -> SelectionModel:
        """Run ``filter_methods`` in order, each on the candidates the previous one left.

        ``binning`` is this party's binning model dict (``to_dict()`` of a
        :class:`~fedloom.ml.hetero.binning.BinningModel`); the IV filters need it.
        """
        params = self.params
        candidates = params.candidates(frame.feature_names)
        left = list(candidates)
        outcomes: list[FilterOutcome] = []
        for pos, method in enumerate(params.filter_methods):
            if method in IV_METHODS:
                rule = params.iv_rule(pos)
                result = self.iv_filter(
                    FILTER.at(ctx, pos), method, rule, left, require_binning(binning, method)
                )
            else:
                result = local_filter(params, method, frame, left)
            log.info(
                "%s: kept %d, dropped %d %s column(s)",
                method,
                len(result.kept),
                len(result.dropped),
                self.role,
            )
            outcomes.append(result)
            left = list(result.kept)
        return SelectionModel.build(frame, candidates, left, outcomes)

    def iv_filter(
        self, ctx: Context, method: str, rule: IVRule, left: list[str], binning: Mapping[str, object]
    ) -> FilterOutcome:
        """Run the IV filter ``method`` with ``rule`` on the columns ``left``, in its namespace ``ctx``."""
        raise NotImplementedError
