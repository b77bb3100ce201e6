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

from fedloom.components.base import Component, Data, Inputs, Outputs, Table, model_of
from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
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

#: Data slots a GLM predicts on, in order of preference.
PREDICT_SLOTS = ("test_data", "data", "eval_data")


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


def _frame(data: Data, module: str, slot: str) -> Frame:
    if isinstance(data, Frame):
        return data
    raise DataError(
        f"{module} needs parsed data (the output of DataTransform, or of an Intersection fed by it) "
        f"in {slot}; got the raw table {data.name or ''}.",
        field=f"input.data.{slot}",
    )


def _slot_present(inputs: Inputs, slot: str) -> bool:
    """Whether the DSL wires ``slot`` into this component (present here, or absent on this role)."""
    return bool(inputs.data.get(slot) or inputs.missing.get(slot))


def _predict_slot(inputs: Inputs) -> str:
    return next((s for s in PREDICT_SLOTS if _slot_present(inputs, s)), PREDICT_SLOTS[0])


class _Glm(Component):
    """Shared part of the three role bindings."""

    params: GlmParams

    @property
    def algorithm(self) -> GlmAlgorithm:
        return type(self.params).algorithm()

    def training(self, inputs: Inputs) -> bool:
        """``train_data`` wired in: train; else predict with ``input.model``."""
        if not _slot_present(inputs, "train_data"):
            return False
        if inputs.models:
            raise ConfigError(
                f"{self.module} does not warm-start: give it either train_data (train) or "
                "test_data with input.model (predict), not train_data with a model.",
                field="input.model",
            )
        return True

    def stored(self, inputs: Inputs) -> dict[str, Any]:
        """This party's stored model (predict).

        Raises
        ------
        DataError
            No model input, or one of another module.
        """
        found = model_of(inputs.models, self.module, self.env.component)
        if found is None:
            raise DataError(
                f"{self.env.component} predicts with a trained {self.module} model and has none: add "
                f'"model": ["pipeline.{self.env.component}.model"] (an earlier job\'s model) or '
                '"model": ["<training component>.model"] to its input.',
                field="input.model",
            )
        if "model" not in found or "params" not in found:
            raise DataError(
                f"the {self.module} model given to {self.env.component} is not a fedloom model artifact "
                "(no 'model' / 'params').",
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
        return {
            "module": self.module,
            "role": self.env.party.role.value,
            "party": str(self.env.party),
            "params": self.params.as_dict(),
            "schema": None if frame is None else frame.schema,
            "model": model.to_dict(),
        }

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
        df = preds.to_pandas()
        df["type"] = kind
        return Table(df, "id", f"{self.env.component}.data")

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        algo = self.algorithm
        if self.training(inputs):
            train = _frame(inputs.one("train_data"), self.module, "train_data")
            validate = (
                _frame(inputs.one("validate_data"), self.module, "validate_data")
                if inputs.data.get("validate_data")
                else None
            )
            role = algo.guest(self.role_params(None))
            self.env.progress(0.0, f"training on {train.n_rows} rows, {train.n_features} features")
            model = role.fit(ctx.sub("fit"), train, validate)
            self.env.progress(0.9, "predicting on the training data")
            tables = [self._predictions(role, ctx, model, train, "train")]
            if validate is not None:
                tables.append(self._predictions(role, ctx, model, validate, "validate"))
            out = tables[0] if len(tables) == 1 else _concat(tables)
            metrics = {**model.summary(), "train_rows": train.n_rows}
            if validate is not None:
                metrics["validate_rows"] = validate.n_rows
            return Outputs(data=[out], model=self.model_artifact(model, train), metrics=metrics)
        stored = self.stored(inputs)
        slot = _predict_slot(inputs)
        data = self.checked(_frame(inputs.one(slot), self.module, slot), stored)
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
            train = _frame(inputs.one("train_data"), self.module, "train_data")
            validate = (
                _frame(inputs.one("validate_data"), self.module, "validate_data")
                if inputs.data.get("validate_data")
                else None
            )
            role = algo.host(self.role_params(None))
            self.env.progress(0.0, f"training on {train.n_rows} rows, {train.n_features} features")
            model = role.fit(ctx.sub("fit"), train, validate)
            role.predict(ctx.sub("output_train"), model, train)
            if validate is not None:
                role.predict(ctx.sub("output_validate"), model, validate)
            metrics = {**model.summary(), "train_rows": train.n_rows}
            return Outputs(model=self.model_artifact(model, train), metrics=metrics)
        stored = self.stored(inputs)
        slot = _predict_slot(inputs)
        data = self.checked(_frame(inputs.one(slot), self.module, slot), stored)
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
            if _slot_present(inputs, "validate_data"):
                role.predict(ctx.sub("output_validate"), model)
            return Outputs(model=self.model_artifact(model, None), metrics=dict(model.summary()))
        stored = self.stored(inputs)
        model = algo.model.from_dict(stored["model"])
        algo.arbiter(self.role_params(stored)).predict(ctx.sub("output_test"), model)
        return Outputs(metrics={"mode": "predict"})


def _concat(tables: list[Table]) -> Table:
    import pandas as pd

    df = pd.concat([t.df for t in tables], ignore_index=True)
    return Table(df, "id", tables[0].name)


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
