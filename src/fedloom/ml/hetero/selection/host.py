"""Host of hetero feature selection (see :mod:`fedloom.ml.hetero.selection`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from fedloom.context import Context
from fedloom.data import Frame
from fedloom.ml.feature.selection import FilterOutcome, merge_class_iv
from fedloom.ml.hetero.selection.local import anonymous_map, local_filter, outcome, require_binning
from fedloom.ml.hetero.selection.messages import FILTER, HOST_CANDIDATES, KEPT_COLUMNS, names_from
from fedloom.ml.hetero.selection.model import SelectionModel
from fedloom.ml.hetero.selection.params import IV_METHODS, HeteroFeatureSelectionParams, IVRule

__all__ = ["HeteroSelectionHost"]

log = logging.getLogger(__name__)


class HeteroSelectionHost:
    """Select the host's columns: local filters here, IV filters as the guest decides.

    Parameters
    ----------
    params
        The selection parameters (FATE names).
    """

    def __init__(self, params: HeteroFeatureSelectionParams | Mapping[str, object] | None = None) -> None:
        self.params = HeteroFeatureSelectionParams.coerce(params)

    def fit(self, ctx: Context, frame: Frame, binning: Mapping[str, object] | None = None) -> SelectionModel:
        """Run ``filter_methods`` in order on the host's candidates; ``binning`` is the host's
        binning model dict (its ``anonymous`` map names its columns to the guest)."""
        params = self.params
        candidates = params.candidates(frame.feature_names)
        left = list(candidates)
        outcomes: list[FilterOutcome] = []
        for pos, method in enumerate(params.filter_methods):
            if method in IV_METHODS:
                rule = params.iv_rule(pos)
                result = self._iv_filter(
                    FILTER.at(ctx, pos), method, rule, left, require_binning(binning, method)
                )
            else:
                result = local_filter(params, method, frame, left)
            log.info("%s: kept %d, dropped %d host column(s)", method, len(result.kept), len(result.dropped))
            outcomes.append(result)
            left = list(result.kept)
        return SelectionModel.build(frame, candidates, left, outcomes)

    def _iv_filter(
        self, ctx: Context, method: str, rule: IVRule, left: list[str], binning: Mapping[str, object]
    ) -> FilterOutcome:
        # the host's own IVs, where the binning model has them (the guest may have returned them)
        cols = binning.get("columns")
        own = np.array(
            [
                merge_class_iv(e.get("iv") if isinstance(e, Mapping) else None, rule.merge)
                for e in (cols.get(n) if isinstance(cols, Mapping) else None for n in left)
            ],
            dtype=np.float64,
        )
        if not rule.select_federated:  # as FATE: the host keeps its columns
            return outcome(method, left, np.ones(len(left), dtype=bool), own)
        anon = anonymous_map(binning, left)
        sent = [anon[n] for n in left]
        ctx.send(HOST_CANDIDATES, sent)
        kept = set(names_from(ctx.recv(KEPT_COLUMNS), str(ctx.guest), "kept_columns", set(sent)))
        mask = np.array([anon[n] in kept for n in left], dtype=bool)
        return outcome(method, left, mask, own)
