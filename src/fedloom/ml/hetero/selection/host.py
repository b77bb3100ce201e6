"""Host of hetero feature selection (see :mod:`fedloom.ml.hetero.selection`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedloom.context import Context
from fedloom.ml.feature.selection import FilterOutcome, merge_class_iv
from fedloom.ml.hetero.selection.local import anonymous_map, outcome
from fedloom.ml.hetero.selection.messages import HOST_CANDIDATES, KEPT_COLUMNS, names_from
from fedloom.ml.hetero.selection.params import IVRule
from fedloom.ml.hetero.selection.role import SelectionRole

__all__ = ["HeteroSelectionHost"]


class HeteroSelectionHost(SelectionRole):
    """Select the host's columns: local filters here, IV filters as the guest decides.

    ``fit``'s ``binning`` is the host's binning model dict: its ``anonymous`` map names the
    host's columns to the guest.
    """

    role = "host"

    def iv_filter(
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
