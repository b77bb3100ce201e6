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

from pydantic import BaseModel, ConfigDict, model_validator

from fedloom.components.base import (
    Component,
    Inputs,
    Outputs,
    concat_tables,
    is_training,
    predict_input,
    predictions_table,
    stored_model,
    train_inputs,
)
from fedloom.context import Context
from fedloom.core.roles import ARBITER, GUEST, HOST
from fedloom.data import align
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import HomoLRParams

__all__ = [
    "HomoLRArbiterComponent",
    "HomoLRClientComponent",
    "HomoLRComponentParams",
]

log = logging.getLogger(__name__)

MODULE = "HomoLR"


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


# -- the role bindings -----------------------------------------------------------------------
class HomoLRClientComponent(Component):
    """Guest or host of ``HomoLR``: trains with the others, predicts its own rows."""

    module = MODULE
    params: HomoLRComponentParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        name = self.env.component
        if is_training(inputs, MODULE):
            train, validate = train_inputs(inputs, MODULE)
            params = self.params.build(name)
            self.env.progress(0.0, f"FedAvg on {train.n_rows} rows, {train.n_features} features")
            model = HomoLRClient(params).fit(ctx.sub("fit"), train, validate)
            tables = [predictions_table(model.predict(train), "train", name)]
            if validate is not None:
                tables.append(predictions_table(model.predict(validate), "validate", name))
            artifact = self.artifact(self.params.as_dict(), model.to_dict(), train.schema)
            metrics = {**model.summary(), "train_rows": train.n_rows}
            return Outputs(data=[concat_tables(tables)], model=artifact, metrics=metrics)
        stored = stored_model(inputs, MODULE, name)
        data = predict_input(inputs, MODULE)
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
        if not is_training(inputs, MODULE):
            return Outputs(metrics={"mode": "predict"})
        model = HomoLRArbiter(self.params.build(self.env.component)).fit(ctx.sub("fit"))
        artifact = self.artifact(self.params.as_dict(), model.to_dict(), None)
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
