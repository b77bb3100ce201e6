"""``HeteroFeatureBinning``: bin every party's columns, score them with the guest's labels, and
write bin indexes or WOE values into the data.

Binds FATE's ``HeteroFeatureBinning`` module to :mod:`fedloom.ml.hetero.binning`. The parameters
are the algorithm's own :class:`~fedloom.ml.hetero.binning.params.HeteroFeatureBinningParams`:
FATE 1.x names, nesting and defaults (``method``, ``bin_num``, ``bin_indexes`` / ``bin_names``,
``category_indexes`` / ``category_names``, ``adjustment_factor``, ``local_only``,
``transform_param{transform_cols, transform_names, transform_type}``, ``encrypt_param{...}``,
``encrypted_mode_calculator_param`` (accepted, unused), ``need_run``), checked before the job
runs; an unknown name or a bad value is a ConfigError naming the dotted field.

Runs on guest and hosts (no arbiter). Input data: the first of the slots ``data``,
``train_data``, ``validate_data``, ``test_data``, ``eval_data`` that is wired (exactly one);
DataTransform's sparse output is densified.

**Train** (no model input)::

    model = HeteroBinningGuest(params).fit(ctx, frame)     # the host: HeteroBinningHost
    out   = transform(model, frame, transform_cols, transform_names, transform_type)

``fit`` runs the protocol in this component's namespace (DESIGN §5; the algorithm's docstrings
and channels say what each party learns): every party bins its own columns; unless
``local_only``, the guest sends each row's encrypted label once, each host sums them per
(column, bin) under anonymous column names and sends the packed sums back, and the guest
decrypts them and computes the WOE / IV of the hosts' bins. The columns the parameters name are
checked against the data on each party *before* anything is sent, so a wrong ``bin_names`` fails
at once naming the field instead of as a peer failure.

**Apply** (a ``model`` or ``isometric_model`` input made by this module: a validation branch fed
``hetero_feature_binning_0.model``, or ``pipeline.hetero_feature_binning_0.model`` in a predict
job): nothing is fitted and nothing is sent. The data is checked against the stored schema (the
missing and the extra columns named) and put in the training order, then transformed with the
stored model and the stored parameters' ``transform_param`` (parameters written for the applying
component are not used, as in FATE's deployed components).

**Transform** (``transform_param.transform_type``), for the columns ``transform_cols`` /
``transform_names`` select (``-1``: every binned column):

- ``bin_num``: each value becomes its bin's index (``ColumnBins.index``: the first bin whose upper
  bound is ``>= x``; NaN the missing bin);
- ``woe``: each value becomes its bin's WOE: the guest for its own columns, a host only for the
  columns whose WOE the guest returned to it (else a DataError naming ``transform_type``);
- ``null``: the data pass through unchanged.

Ids, label, weights and feature names are unchanged.

**Outputs** per party: the transformed data; the model
(:meth:`~fedloom.components.base.Component.artifact`: ``{"module", "role", "party", "params",
"schema", "model": BinningModel.to_dict()}``); metrics: ``mode`` (``fit`` / ``transform``),
``rows``, ``features``, ``transform_type``, ``transformed`` (columns written), and when fitting
the model's ``summary()`` (the work done: encryptions, ciphertexts sent and received,
decryptions; on the guest the IV of its columns and of the hosts' columns by anonymous name).

Importing this module registers ``HeteroFeatureBinning`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
from fedloom.core.errors import ConfigError, DataError, FedloomError
from fedloom.data import Frame, align
from fedloom.ml.hetero.binning.guest import HeteroBinningGuest
from fedloom.ml.hetero.binning.host import HeteroBinningHost
from fedloom.ml.hetero.binning.model import BinningModel
from fedloom.ml.hetero.binning.params import HeteroFeatureBinningParams
from fedloom.ml.hetero.binning.transform import transform

__all__ = [
    "MODULE",
    "SPEC",
    "HeteroFeatureBinningGuestComponent",
    "HeteroFeatureBinningHostComponent",
    "HeteroFeatureBinningParams",
]

log = logging.getLogger(__name__)

MODULE = "HeteroFeatureBinning"


class _Binning(Component):
    """Shared part of the guest and host bindings."""

    module = MODULE
    params: HeteroFeatureBinningParams
    algorithm: ClassVar[type[HeteroBinningGuest] | type[HeteroBinningHost]] = HeteroBinningGuest

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        try:
            return self._run(ctx, inputs)
        except FedloomError as exc:  # name the component where the error did not (tests call run)
            exc.component = exc.component or self.env.component
            raise

    def _run(self, ctx: Context, inputs: Inputs) -> Outputs:
        data = self._data(inputs)
        stored = model_of([*inputs.models, *inputs.isometric_models], MODULE, self.env.component)
        if stored is None:
            return self._fit(ctx, data)
        return self._apply(data, stored)

    # -- inputs ---------------------------------------------------------------------------------
    def _data(self, inputs: Inputs) -> Frame:
        """The one data input (the first wired slot; several wired slots are refused)."""
        wired = [s for s in DATA_SLOTS if inputs.data.get(s)]
        if len(wired) > 1:
            raise ConfigError(
                f"{MODULE} bins one data set; got inputs in {', '.join(wired)}. Give one of "
                f"{', '.join(DATA_SLOTS)} (a second {MODULE} fed this one's model transforms other data).",
                component=self.env.component,
                field=f"input.data.{wired[1]}",
            )
        slot = wired[0] if wired else DATA_SLOTS[0]
        return frame_input(inputs.one(slot), MODULE, slot)

    # -- train ----------------------------------------------------------------------------------
    def _fit(self, ctx: Context, data: Frame) -> Outputs:
        params = self.params
        names = data.feature_names
        # Fail here, before any message, on columns the data does not have (ConfigError naming
        # bin_indexes / bin_names / category_* / transform_param.*): a host that failed mid-protocol
        # would only show up on the guest as a peer failure.
        params.selected(names)
        params.transformed(names)
        params.given_split_points(names)
        self.env.progress(
            0.0, f"{params.method} binning of {data.n_features} column(s), {data.n_rows} row(s)"
        )
        model = self.algorithm(params).fit(ctx, data)
        self.env.progress(0.9, "binned; transforming")
        out, written = self._transform(model, data, params)
        self.env.progress(1.0, "done")
        artifact = self.artifact(params.model_dump(mode="json"), model.to_dict(), data.schema)
        metrics: dict[str, object] = {
            "mode": "fit",
            **self._counts(out, params, written),
            **dict(model.summary()),
        }
        log.info(
            "%s: %s binning of %d column(s) on %d row(s); %s",
            self.env.component,
            params.method,
            len(params.selected(names)),
            data.n_rows,
            _what(params, written),
        )
        return Outputs(data=[out], model=artifact, metrics=metrics)

    # -- apply a stored model ---------------------------------------------------------------------
    def _apply(self, data: Frame, stored: dict[str, object]) -> Outputs:
        component = self.env.component
        role = self.env.party.role.value
        if stored.get("role") not in (None, role):
            raise DataError(
                f"{component} is given the {stored.get('role')} part of a {MODULE} model "
                f"({stored.get('party')}); the {role} needs its own part.",
                component=component,
                field="input.model",
            )
        if not isinstance(stored.get("params"), dict) or not isinstance(stored.get("model"), dict):
            raise DataError(
                f"the {MODULE} model given to {component} is not a fedloom model artifact "
                "(no 'params' or 'model').",
                component=component,
                field="input.model",
            )
        params = HeteroFeatureBinningParams.from_dict(
            stored_object(stored["params"], "params"), component=component
        )
        schema = stored_object(stored.get("schema"), "schema")
        model = BinningModel.from_dict(stored_object(stored["model"], "model"))
        data = align(data, schema)  # DataError naming the missing and the extra columns
        out, written = self._transform(model, data, params)
        artifact = self.artifact(params.model_dump(mode="json"), model.to_dict(), schema)
        log.info(
            "%s: stored %s model applied to %d row(s); %s",
            component,
            MODULE,
            data.n_rows,
            _what(params, written),
        )
        return Outputs(
            data=[out], model=artifact, metrics={"mode": "transform", **self._counts(out, params, written)}
        )

    # -- shared -----------------------------------------------------------------------------------
    @staticmethod
    def _transform(model: BinningModel, data: Frame, params: HeteroFeatureBinningParams) -> tuple[Frame, int]:
        """The transformed data, and how many columns were written."""
        tp = params.transform_param
        written = params.transformed(data.feature_names)
        if tp.transform_type is None or not written:
            return data, 0
        out = transform(model, data, tp.transform_cols, tp.transform_names, tp.transform_type)
        return out, len(written)

    @staticmethod
    def _counts(out: Frame, params: HeteroFeatureBinningParams, written: int) -> Mapping[str, object]:
        return {
            "rows": out.n_rows,
            "features": out.n_features,
            "transform_type": params.transform_param.transform_type,
            "transformed": written,
        }


def _what(params: HeteroFeatureBinningParams, written: int) -> str:
    kind = params.transform_param.transform_type
    return f"{written} column(s) written as {kind}" if kind and written else "data passed through"


class HeteroFeatureBinningGuestComponent(_Binning):
    """Guest: runs :class:`~fedloom.ml.hetero.binning.guest.HeteroBinningGuest`."""

    algorithm = HeteroBinningGuest


class HeteroFeatureBinningHostComponent(_Binning):
    """Host: runs :class:`~fedloom.ml.hetero.binning.host.HeteroBinningHost`."""

    algorithm = HeteroBinningHost


SPEC = guest_host_spec(
    MODULE,
    HeteroFeatureBinningParams,
    HeteroFeatureBinningGuestComponent,
    HeteroFeatureBinningHostComponent,
    "Quantile / bucket / optimal binning of every party's columns, WOE and IV scored "
    "with the guest's labels; values written as bin indexes or WOE.",
)
