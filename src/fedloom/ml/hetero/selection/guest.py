"""Guest of hetero feature selection (see :mod:`fedloom.ml.hetero.selection`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.ml.feature.selection import FilterOutcome, keep_one, select_by_value
from fedloom.ml.hetero.selection.local import (
    host_columns_of,
    host_iv,
    outcome,
    own_iv,
)
from fedloom.ml.hetero.selection.messages import HOST_CANDIDATES, KEPT_COLUMNS, names_from
from fedloom.ml.hetero.selection.params import IVRule
from fedloom.ml.hetero.selection.role import SelectionRole

__all__ = ["HeteroSelectionGuest"]


class HeteroSelectionGuest(SelectionRole):
    """Select the guest's columns, and decide the hosts' columns in federated IV filters.

    ``fit``'s ``binning`` is the guest's binning model dict: the IVs of its columns, and of the
    hosts' columns by anonymous name.
    """

    role = "guest"

    def iv_filter(
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
