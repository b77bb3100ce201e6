"""Guest of hetero feature selection (see :mod:`fedloom.ml.hetero.selection`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.data import Frame
from fedloom.ml.feature.selection import FilterOutcome, keep_one, select_by_value
from fedloom.ml.hetero.selection.local import (
    host_columns_of,
    host_iv,
    local_filter,
    outcome,
    own_iv,
    require_binning,
)
from fedloom.ml.hetero.selection.messages import FILTER, HOST_CANDIDATES, KEPT_COLUMNS, names_from
from fedloom.ml.hetero.selection.model import SelectionModel
from fedloom.ml.hetero.selection.params import IV_METHODS, HeteroFeatureSelectionParams, IVRule

__all__ = ["HeteroSelectionGuest"]

log = logging.getLogger(__name__)


class HeteroSelectionGuest:
    """Select the guest's columns, and decide the hosts' columns in federated IV filters.

    Parameters
    ----------
    params
        The selection parameters (FATE names).
    """

    def __init__(self, params: HeteroFeatureSelectionParams | Mapping[str, object] | None = None) -> None:
        self.params = HeteroFeatureSelectionParams.coerce(params)

    def fit(self, ctx: Context, frame: Frame, binning: Mapping[str, object] | None = None) -> SelectionModel:
        """Run ``filter_methods`` in order on the guest's candidates (and, for federated IV
        filters, on the hosts' candidates); ``binning`` is the guest's binning model dict."""
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
            log.info("%s: kept %d, dropped %d guest column(s)", method, len(result.kept), len(result.dropped))
            outcomes.append(result)
            left = list(result.kept)
        return SelectionModel.build(frame, candidates, left, outcomes)

    def _iv_filter(
        self, ctx: Context, method: str, rule: IVRule, left: list[str], binning: Mapping[str, object]
    ) -> FilterOutcome:
        own = own_iv(binning, left, rule.merge)
        if not rule.select_federated:
            mask = keep_one(select_by_value(own, rule.filter_type, rule.threshold), own)
            return outcome(method, left, mask, own)
        hosts = ctx.hosts
        if rule.host_thresholds is not None and len(rule.host_thresholds) != len(hosts):
            raise ConfigError(
                f"host_thresholds lists {len(rule.host_thresholds)} threshold(s) for {len(hosts)} host(s)",
                field="host_thresholds",
            )
        names: list[list[str]] = []
        values: list[np.ndarray] = [own]
        thresholds: list[np.ndarray] = [np.full(len(own), rule.threshold)]
        for i, host in enumerate(hosts):
            got = names_from(
                ctx.recv(HOST_CANDIDATES, frm=host),
                str(host),
                "host_candidates",
                host_columns_of(binning, host),
            )
            names.append(got)
            values.append(host_iv(binning, host, got, rule.merge))
            t = rule.threshold if rule.host_thresholds is None else rule.host_thresholds[i]
            thresholds.append(np.full(len(got), t))
        all_values = np.concatenate(values)
        threshold: float | np.ndarray = (
            np.concatenate(thresholds) if rule.filter_type == "threshold" else rule.threshold
        )
        mask = select_by_value(all_values, rule.filter_type, threshold)
        # FATE: each party keeps at least one of its candidates
        parts = np.split(mask, np.cumsum([len(v) for v in values])[:-1])
        parts = [keep_one(m, v) for m, v in zip(parts, values, strict=True)]
        host_results: dict[str, dict[str, object]] = {}
        for host, got, m, v in zip(hosts, names, parts[1:], values[1:], strict=True):
            kept = [n for n, k in zip(got, m, strict=True) if k]
            ctx.send(KEPT_COLUMNS, kept, to=host)
            host_results[str(host)] = {
                "values": {n: float(x) for n, x in zip(got, v, strict=True)},
                "kept": kept,
                "dropped": [n for n, k in zip(got, m, strict=True) if not k],
            }
        return outcome(method, left, parts[0], own, host_results)
