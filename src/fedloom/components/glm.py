"""What the ``HeteroLR``, ``HeteroLinR`` and ``HeteroPoisson`` bindings share.

Each is a thin binding of one algorithm package (``fedloom.ml.hetero.{lr,linr,poisson}``) whose
roles are ``{Prefix}Guest``, ``{Prefix}Host``, ``{Prefix}Arbiter``, with ``{Prefix}Params``
(``from_dict(fate_params, component=...)``, FATE's names) and ``{Prefix}Model``
(``to_dict`` / ``from_dict`` / ``summary``).

**Train** (``input.data.train_data`` [+ ``validate_data``])::

    model = Guest(params).fit(ctx.sub("fit"), train, validate)     # Host / Arbiter alike
    Guest(params).predict(ctx.sub("output_train"), model, train)    # and "output_validate"

**Predict** (``input.data.test_data`` or ``data``, plus ``input.model``: an upstream component's
model or ``pipeline.<component>.model``, the model of an earlier job, see
:mod:`fedloom.runner.local`)::

    Guest(stored params).predict(ctx.sub("output_test"), model, data)

The predict data is checked against the schema recorded with the model (feature names, any
order): columns that differ fail with a :class:`~fedloom.core.DataError` naming the missing and
the extra columns. Parameters come from the stored model, as FATE's deployed components do.

Outputs per party:

- guest: data = the predictions in FATE's layout (``id, label, predict_result, predict_score,
  predict_detail, type`` with ``type`` ``train`` / ``validate`` / ``test``), for ``Evaluation``;
- every party: model (training only) = ``{"module", "role", "party", "params", "schema",
  "model"}``, ``model`` being the algorithm's ``to_dict()`` of this party's part (the arbiter's
  holds no schema), written to ``model.json``;
- metrics = the model's ``summary()`` (training) or row counts (predict).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from fedloom.components.base import (
    Component,
    Inputs,
    Outputs,
    Table,
    concat_tables,
    is_training,
    predict_input,
    predictions_table,
    slot_present,
    stored_model,
    train_inputs,
)
from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.core.roles import ARBITER, GUEST, HOST
from fedloom.data import Frame, align
from fedloom.dsl import ModuleSpec, register_module

__all__ = [
    "GlmAlgorithm",
    "GlmArbiter",
    "GlmGuest",
    "GlmHost",
    "GlmParams",
    "register_glm",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GlmAlgorithm:
    """One GLM algorithm's classes (loaded when a job runs, not when components register)."""

    params: Any
    guest: Any
    host: Any
    arbiter: Any
    model: Any


class GlmParams(BaseModel):
    """FATE's parameters of one GLM module, checked by the algorithm's own ``Params.from_dict``.

    Subclasses set :attr:`algorithm`. Any key is kept here; unknown or bad ones are refused by
    the algorithm with a :class:`~fedloom.core.ConfigError` naming the field.
    """

    model_config = ConfigDict(extra="allow")

    #: Loads the algorithm's classes.
    algorithm: ClassVar[Callable[[], GlmAlgorithm]]

    def as_dict(self) -> dict[str, Any]:
        """The parameters as written in the conf (merged for this party)."""
        return dict(self.model_extra or {})

    def build(self, component: str | None = None) -> Any:
        """The algorithm's parameter object.

        Raises
        ------
        ConfigError
            A parameter the algorithm refuses.
        """
        return type(self).algorithm().params.from_dict(self.as_dict(), component=component)

    @model_validator(mode="after")
    def _check(self) -> GlmParams:
        self.build()  # raises ConfigError naming the field (the job loader adds component and party)
        return self


class _Glm(Component):
    """Shared part of the three role bindings."""

    params: GlmParams

    @property
    def algorithm(self) -> GlmAlgorithm:
        return type(self.params).algorithm()

    def training(self, inputs: Inputs) -> bool:
        """``train_data`` wired in: train; else predict with ``input.model``."""
        return is_training(inputs, self.module)

    def stored(self, inputs: Inputs) -> dict[str, Any]:
        """This party's stored model (predict), with the parameters it was trained with."""
        found = stored_model(inputs, self.module, self.env.component)
        if "params" not in found:
            raise DataError(
                f"the {self.module} model given to {self.env.component} is not a fedloom model artifact "
                "(no 'params').",
                field="input.model",
            )
        return found

    def role_params(self, stored: Mapping[str, Any] | None) -> Any:
        """The algorithm's parameters: the conf's (train) or the stored model's (predict)."""
        if stored is None:
            return self.params.build(self.env.component)
        return self.algorithm.params.from_dict(dict(stored["params"]), component=self.env.component)

    def model_artifact(self, model: Any, frame: Frame | None) -> dict[str, Any]:
        """What ``model.json`` holds for this party."""
        return self.artifact(self.params.as_dict(), model.to_dict(), None if frame is None else frame.schema)

    def checked(self, frame: Frame, stored: Mapping[str, Any]) -> Frame:
        """``frame`` with the training features in training order.

        Raises
        ------
        DataError
            Its feature columns differ from the training schema (missing and extra ones named).
        """
        schema = stored.get("schema")
        if not schema:
            return frame
        return align(frame, schema)


class GlmGuest(_Glm):
    """Guest: trains (or predicts) and outputs the predictions in FATE's layout."""

    def _predictions(self, role: Any, ctx: Context, model: Any, frame: Frame, kind: str) -> Table:
        preds = role.predict(ctx.sub(f"output_{kind}"), model, frame)
        return predictions_table(preds, kind, self.env.component)

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        algo = self.algorithm
        if self.training(inputs):
            train, validate = train_inputs(inputs, self.module)
            role = algo.guest(self.role_params(None))
            self.env.progress(0.0, f"training on {train.n_rows} rows, {train.n_features} features")
            model = role.fit(ctx.sub("fit"), train, validate)
            self.env.progress(0.9, "predicting on the training data")
            tables = [self._predictions(role, ctx, model, train, "train")]
            if validate is not None:
                tables.append(self._predictions(role, ctx, model, validate, "validate"))
            out = concat_tables(tables)
            metrics = {**model.summary(), "train_rows": train.n_rows}
            if validate is not None:
                metrics["validate_rows"] = validate.n_rows
            return Outputs(data=[out], model=self.model_artifact(model, train), metrics=metrics)
        stored = self.stored(inputs)
        data = self.checked(predict_input(inputs, self.module), stored)
        role = algo.guest(self.role_params(stored))
        model = algo.model.from_dict(stored["model"])
        self.env.progress(0.0, f"predicting {data.n_rows} rows")
        table = self._predictions(role, ctx, model, data, "test")
        return Outputs(data=[table], metrics={"mode": "predict", "rows": data.n_rows})


class GlmHost(_Glm):
    """Host: trains (or predicts) its part; outputs no data."""

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        algo = self.algorithm
        if self.training(inputs):
            train, validate = train_inputs(inputs, self.module)
            role = algo.host(self.role_params(None))
            self.env.progress(0.0, f"training on {train.n_rows} rows, {train.n_features} features")
            model = role.fit(ctx.sub("fit"), train, validate)
            role.predict(ctx.sub("output_train"), model, train)
            if validate is not None:
                role.predict(ctx.sub("output_validate"), model, validate)
            metrics = {**model.summary(), "train_rows": train.n_rows}
            return Outputs(model=self.model_artifact(model, train), metrics=metrics)
        stored = self.stored(inputs)
        data = self.checked(predict_input(inputs, self.module), stored)
        model = algo.model.from_dict(stored["model"])
        algo.host(self.role_params(stored)).predict(ctx.sub("output_test"), model, data)
        return Outputs(metrics={"mode": "predict", "rows": data.n_rows})


class GlmArbiter(_Glm):
    """Arbiter: holds no data; takes part in training (keys, masked gradients) and prediction."""

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        algo = self.algorithm
        if self.training(inputs):
            role = algo.arbiter(self.role_params(None))
            model = role.fit(ctx.sub("fit"))
            role.predict(ctx.sub("output_train"), model)
            if slot_present(inputs, "validate_data"):
                role.predict(ctx.sub("output_validate"), model)
            return Outputs(model=self.model_artifact(model, None), metrics=dict(model.summary()))
        stored = self.stored(inputs)
        model = algo.model.from_dict(stored["model"])
        algo.arbiter(self.role_params(stored)).predict(ctx.sub("output_test"), model)
        return Outputs(metrics={"mode": "predict"})


def register_glm(
    name: str,
    params_model: type[GlmParams],
    guest: type[GlmGuest],
    host: type[GlmHost],
    arbiter: type[GlmArbiter],
    description: str,
) -> ModuleSpec:
    """Register a GLM module: guest, host and arbiter; train / validate / predict inputs."""
    return register_module(
        ModuleSpec(
            name,
            roles={GUEST, HOST, ARBITER},
            params_model=params_model,
            inputs={"train_data", "validate_data", "test_data", "data", "eval_data", "model"},
            outputs={"data", "model"},
            requires_data=True,
            entry={GUEST: guest, HOST: host, ARBITER: arbiter},
            description=description,
        )
    )
