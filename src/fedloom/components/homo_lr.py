"""``HomoLR``: horizontal logistic regression by FedAvg with secure aggregation.

Binds FATE's ``HomoLR`` module to :mod:`fedloom.ml.homo.lr`. Guest and hosts are the clients
(each with labelled rows of the same columns), the arbiter aggregates. FATE's parameter names
are accepted and checked by :meth:`fedloom.ml.homo.params.HomoLRParams.from_fate` (an unknown
name, or ``encrypt_param.method: Paillier``, is a :class:`~fedloom.core.ConfigError` naming the
field); fedloom adds ``secure_aggregate`` (default true) and ``scale_bits``.

**Train** (``input.data.train_data`` [+ ``validate_data``]): every client fits, then predicts
its own rows. **Predict** (``test_data`` / ``data`` with ``input.model``): each client predicts
locally with its stored model; no message is exchanged.

Outputs per party:

- guest and hosts: data = the predictions in FATE's layout (``id, label, predict_result,
  predict_score, predict_detail, type``), for ``Evaluation``;
- every party: model = ``{"module", "role", "party", "params", "schema", "model"}`` (the
  arbiter's holds the global weights and no schema);
- metrics = rounds, convergence, the loss history.

Importing this module registers ``HomoLR`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from fedloom.components.base import Component, Data, Inputs, Outputs, Table, model_of
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import ARBITER, GUEST, HOST
from fedloom.data import Frame, align
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import HomoLRParams
from fedloom.ml.predictions import Predictions

__all__ = [
    "HomoLRArbiterComponent",
    "HomoLRClientComponent",
    "HomoLRComponentParams",
    "frame_input",
    "predictions_table",
    "slot_present",
    "stored_model",
]

log = logging.getLogger(__name__)

MODULE = "HomoLR"
#: Data slots predicted on, in order of preference.
PREDICT_SLOTS = ("test_data", "data", "eval_data")


class HomoLRComponentParams(BaseModel):
    """FATE's ``HomoLR`` parameters, checked by ``HomoLRParams.from_fate``."""

    model_config = ConfigDict(extra="allow")

    def as_dict(self) -> dict[str, Any]:
        """The parameters as written in the conf (merged for this party)."""
        return dict(self.model_extra or {})

    def build(self, component: str | None = None) -> HomoLRParams:
        """The algorithm's parameters (raises ConfigError naming the field)."""
        return HomoLRParams.from_fate(self.as_dict(), component=component)

    @model_validator(mode="after")
    def _check(self) -> HomoLRComponentParams:
        self.build()
        return self


# -- helpers shared with components.homo_nn ---------------------------------------------------
def slot_present(inputs: Inputs, slot: str) -> bool:
    """Whether the DSL wires ``slot`` into this component (present here, or absent on this role)."""
    return bool(inputs.data.get(slot) or inputs.missing.get(slot))


def frame_input(data: Data, module: str, slot: str) -> Frame:
    """``data`` as a Frame, or a DataError saying that DataTransform must come first."""
    if isinstance(data, Frame):
        return data
    raise DataError(
        f"{module} needs parsed data (the output of DataTransform) in {slot}; got the raw table "
        f"{data.name or ''}.",
        field=f"input.data.{slot}",
    )


def stored_model(inputs: Inputs, module: str, component: str) -> dict[str, Any]:
    """This party's stored model for predicting.

    Raises
    ------
    DataError
        No model input, or one that is not a fedloom ``module`` artifact.
    """
    found = model_of(inputs.models, module, component)
    if found is None or "model" not in found:
        raise DataError(
            f"{component} predicts with a trained {module} model and has none: add "
            f'"model": ["pipeline.{component}.model"] or "model": ["<training component>.model"] '
            "to its input.",
            field="input.model",
        )
    return found


def predictions_table(preds: Predictions, kind: str, component: str) -> Table:
    """Predictions in FATE's layout with a ``type`` column (``train`` / ``validate`` / ``test``)."""
    df = preds.to_pandas()
    df["type"] = kind
    return Table(df, "id", f"{component}.data")


def concat_tables(tables: list[Table]) -> Table:
    """One table of several prediction tables."""
    if len(tables) == 1:
        return tables[0]
    return Table(pd.concat([t.df for t in tables], ignore_index=True), "id", tables[0].name)


def training(inputs: Inputs, module: str) -> bool:
    """``train_data`` wired in: train; else predict with ``input.model``."""
    if not slot_present(inputs, "train_data"):
        return False
    if inputs.models:
        raise ConfigError(
            f"{module} does not warm-start: give it either train_data (train) or test_data with "
            "input.model (predict).",
            field="input.model",
        )
    return True


def predict_slot(inputs: Inputs) -> str:
    """The data slot to predict on."""
    return next((s for s in PREDICT_SLOTS if slot_present(inputs, s)), PREDICT_SLOTS[0])


# -- the role bindings -----------------------------------------------------------------------
class HomoLRClientComponent(Component):
    """Guest or host of ``HomoLR``: trains with the others, predicts its own rows."""

    module = MODULE
    params: HomoLRComponentParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        name = self.env.component
        if training(inputs, MODULE):
            train = frame_input(inputs.one("train_data"), MODULE, "train_data")
            validate = (
                frame_input(inputs.one("validate_data"), MODULE, "validate_data")
                if inputs.data.get("validate_data")
                else None
            )
            params = self.params.build(name)
            self.env.progress(0.0, f"FedAvg on {train.n_rows} rows, {train.n_features} features")
            model = HomoLRClient(params).fit(ctx.sub("fit"), train, validate)
            tables = [predictions_table(model.predict(train), "train", name)]
            if validate is not None:
                tables.append(predictions_table(model.predict(validate), "validate", name))
            artifact = {
                "module": MODULE,
                "role": self.env.party.role.value,
                "party": str(self.env.party),
                "params": self.params.as_dict(),
                "schema": train.schema,
                "model": model.to_dict(),
            }
            metrics = {**model.summary(), "train_rows": train.n_rows}
            return Outputs(data=[concat_tables(tables)], model=artifact, metrics=metrics)
        stored = stored_model(inputs, MODULE, name)
        slot = predict_slot(inputs)
        data = frame_input(inputs.one(slot), MODULE, slot)
        if stored.get("schema"):
            data = align(data, stored["schema"])
        model = HomoLRModel.from_dict(stored["model"])
        table = predictions_table(model.predict(data), "test", name)
        return Outputs(data=[table], metrics={"mode": "predict", "rows": data.n_rows})


class HomoLRArbiterComponent(Component):
    """Arbiter of ``HomoLR``: aggregates; holds no data."""

    module = MODULE
    params: HomoLRComponentParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        if not training(inputs, MODULE):
            return Outputs(metrics={"mode": "predict"})
        model = HomoLRArbiter(self.params.build(self.env.component)).fit(ctx.sub("fit"))
        artifact = {
            "module": MODULE,
            "role": self.env.party.role.value,
            "party": str(self.env.party),
            "params": self.params.as_dict(),
            "schema": None,
            "model": model.to_dict(),
        }
        return Outputs(model=artifact, metrics=model.summary())


SPEC = register_module(
    ModuleSpec(
        MODULE,
        roles={GUEST, HOST, ARBITER},
        params_model=HomoLRComponentParams,
        inputs={"train_data", "validate_data", "test_data", "data", "eval_data", "model"},
        outputs={"data", "model"},
        requires_data=True,
        entry={GUEST: HomoLRClientComponent, HOST: HomoLRClientComponent, ARBITER: HomoLRArbiterComponent},
        description="Horizontal logistic regression: FedAvg over guest and hosts with secure aggregation.",
    )
)
