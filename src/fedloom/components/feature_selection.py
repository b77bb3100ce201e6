"""``HeteroFeatureSelection``: keep each party's informative columns (FATE's module of that name).

Binds FATE's ``HeteroFeatureSelection`` module to :mod:`fedloom.ml.hetero.selection`. The
parameters are the algorithm's own
:class:`~fedloom.ml.hetero.selection.params.HeteroFeatureSelectionParams`: FATE 1.x names and
nesting (``select_col_indexes``, ``select_names``, ``filter_methods``, ``manually_param``,
``unique_param``, ``iv_value_param``, ``iv_percentile_param``, ``iv_top_k_param``, ``iv_param``,
``variance_coe_param``, ``percentage_value_param``, ``outlier_param``...), checked before the job
runs.

Runs on guest and hosts (no arbiter). Input data: the first wired slot among ``data``,
``train_data``, ``validate_data``, ``test_data``, ``eval_data`` (exactly one data set);
DataTransform's sparse output is densified.

**Fit** (no ``model`` input): the IV filters read the ``HeteroFeatureBinning`` model given as
``isometric_model`` (``hetero_feature_binning_0.model``); the filters run in ``filter_methods``
order (the algorithm's docstring has the protocol and what each party learns).

**Apply** (a ``model`` input made by this module, e.g. ``pipeline.hetero_feature_selection_0.model``
in a predict job): nothing is fitted and nothing is sent; the data is checked against the stored
schema and the stored kept columns are selected.

**Outputs** per party: the data with the kept columns only, in their input order (ids, label and
weights unchanged); the model (:meth:`~fedloom.components.base.Component.artifact`:
``{"module", "role", "party", "params", "schema", "model": SelectionModel.to_dict()}``); metrics:
``mode``, ``rows``, ``features_in``, ``features_out``, ``kept`` / ``dropped`` (column names) and
per filter ``{"method", "kept", "dropped"}`` (names; on the guest also ``hosts``: per host party
the kept and dropped host columns by anonymous name only).

Importing this module registers ``HeteroFeatureSelection`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fedloom.components.base import (
    DATA_SLOTS,
    Component,
    Inputs,
    Outputs,
    frame_input,
    guest_host_spec,
    model_of,
    stored_object,
)
from fedloom.context import Context
from fedloom.ml.hetero.selection import (
    HeteroFeatureSelectionParams,
    HeteroSelectionGuest,
    HeteroSelectionHost,
    SelectionModel,
)

__all__ = [
    "MODULE",
    "SPEC",
    "HeteroFeatureSelectionGuestComponent",
    "HeteroFeatureSelectionHostComponent",
    "HeteroFeatureSelectionParams",
]

log = logging.getLogger(__name__)

MODULE = "HeteroFeatureSelection"
#: The module whose model the IV filters read (``isometric_model``).
BINNING_MODULE = "HeteroFeatureBinning"


class _Selection(Component):
    """Shared part of the guest and host bindings."""

    module = MODULE
    params: HeteroFeatureSelectionParams
    algorithm: ClassVar[type[HeteroSelectionGuest] | type[HeteroSelectionHost]] = HeteroSelectionGuest

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        name = self.env.component
        slot = next((s for s in DATA_SLOTS if inputs.data.get(s)), DATA_SLOTS[0])
        frame = frame_input(inputs.one(slot), MODULE, slot)
        stored = model_of(inputs.models, MODULE, name)
        if stored is None:
            params = self.params
            iso = model_of(inputs.isometric_models, BINNING_MODULE, name) if inputs.isometric_models else None
            binning = stored_object(iso.get("model"), "isometric_model.model") if iso else None
            self.env.progress(0.0, f"{len(params.filter_methods)} filter(s) on {frame.n_features} column(s)")
            model = self.algorithm(params).fit(ctx, frame, binning)
        else:
            params = HeteroFeatureSelectionParams.model_validate(
                stored_object(stored.get("params"), "params")
            )
            model = SelectionModel.from_dict(stored_object(stored.get("model"), "model"))
        out = model.transform(frame)
        self.env.progress(1.0, model.summary())
        log.info("%s: %s%s", name, model.summary(), " (stored model)" if stored is not None else "")
        metrics: dict[str, object] = {
            "mode": "fit" if stored is None else "transform",
            "rows": out.n_rows,
            "features_in": frame.n_features,
            "features_out": out.n_features,
            "kept": list(model.kept),
            "dropped": list(model.dropped),
            "filters": [_filter_metrics(f.to_dict()) for f in model.filters],
        }
        artifact = self.artifact(params.model_dump(mode="json"), model.to_dict(), model.schema)
        return Outputs(data=[out], model=artifact, metrics=metrics)


def _filter_metrics(f: dict[str, object]) -> dict[str, object]:
    """A filter's outcome as metrics: method, kept and dropped names (hosts' by anonymous name)."""
    out = {k: f[k] for k in ("method", "kept", "dropped")}
    hosts = f.get("hosts")
    if isinstance(hosts, dict):
        out["hosts"] = {p: {k: h[k] for k in ("kept", "dropped")} for p, h in hosts.items()}
    return out


class HeteroFeatureSelectionGuestComponent(_Selection):
    """Guest: runs :class:`~fedloom.ml.hetero.selection.HeteroSelectionGuest`."""

    algorithm = HeteroSelectionGuest


class HeteroFeatureSelectionHostComponent(_Selection):
    """Host: runs :class:`~fedloom.ml.hetero.selection.HeteroSelectionHost`."""

    algorithm = HeteroSelectionHost


SPEC = guest_host_spec(
    MODULE,
    HeteroFeatureSelectionParams,
    HeteroFeatureSelectionGuestComponent,
    HeteroFeatureSelectionHostComponent,
    "Feature selection by FATE's filters (manually, unique value, IV threshold / top k / "
    "percentile across parties, percentage value, variance, coefficient of variation).",
)
