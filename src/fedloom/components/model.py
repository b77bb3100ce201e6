"""The base of every model component: a DSL module bound to an algorithm that trains and predicts.

A model component is one registration: its module name and a loader of its algorithm (the
pydantic parameters with FATE's names, the role classes, the model class)::

    def _hetero_lr() -> Algorithm[GLMParams, GLMModel]:
        from fedloom.ml.hetero import lr

        return Algorithm(lr.HeteroLRParams, lr.HeteroLRGuest, lr.HeteroLRHost, lr.HeteroLRArbiter,
                         lr.HeteroLRModel)

    HETERO_LR = register_model_component("HeteroLR", _hetero_lr, "Hetero logistic regression ...")

The loader runs when a job first needs the algorithm (importing one may load torch or the
crypto stack), not when the component registers. :class:`ModelBinding` does the rest, the same
way for every algorithm:

**Train** (``input.data.train_data`` [+ ``validate_data``])::

    model = Guest(params).fit(ctx.sub("fit"), train, validate)       # Host alike; Arbiter.fit(ctx)
    Guest(params).predict(ctx.sub("output_train"), model, train)     # and "output_validate"

**Warm start** (``train_data`` and a ``model`` input of the same module): every party continues
from its own stored part, ``fit(ctx.sub("fit"), train, validate, init=model)`` (the arbiter
``fit(ctx, init=model)``). Only role classes whose ``fit`` takes ``init`` warm-start; for the
others the model input is refused (ConfigError naming ``input.model``). The job's parameters
apply (FATE's ``max_iter`` counts the epochs of both runs); the train data must have the stored
schema.

**Cross-validation** (``cv_param.need_cv: true``, handled here for every model component; the
algorithm never sees ``cv_param``): the rows are split into ``n_splits`` folds by id, so every
party derives the same folds from the ids it holds and nothing is sent to agree on them:
without ``shuffle`` contiguous folds in row order (the intersection's aligned order; sklearn's
``KFold``), with ``shuffle`` the rows ordered by ``sha256(random_seed, id)`` first. The seed is
the conf's, which every party has anyway, so a party learns nothing it did not know. Each fold::

    model = Guest(params).fit(<step>.cv.fold-i/fit, train[fold != i], None)     # Arbiter.fit(...)
    Guest(params).predict(<step>.cv.fold-i/output_train, model, train[fold != i])  # history only
    Guest(params).predict(<step>.cv.fold-i/output_validate, model, train[fold == i])

Each fold is a job step of its own (:func:`fold_context`), as it has a key of its own.

Metrics: per fold the scores of the held-out predictions (through
:mod:`fedloom.ml.evaluation.registry`) and their mean / std (``cv_summary``); with
``output_fold_history`` the data output holds every fold's predictions in FATE's layout, ``type``
``train`` / ``validate`` and a ``fold`` column. No model is output (as FATE's CV job).

**Predict** (``input.data.test_data`` / ``data`` / ``eval_data``, plus ``input.model``: an upstream
component's model or ``pipeline.<component>.model``, the model of an earlier job)::

    Guest(stored params).predict(ctx.sub("output_test"), model, data)   # Arbiter.predict(ctx, model)

The predict data is checked against the schema stored with the model (feature names, any order;
the missing and the extra columns are named) and put in the training order. Parameters come from
the stored model, as FATE's deployed components do.

Outputs per party:

- guest (and any party whose ``predict`` returns :class:`~fedloom.ml.predictions.Predictions`, such
  as a horizontal client): data = the predictions in FATE's layout (``id, label, predict_result,
  predict_score, predict_detail, type``, ``type`` being ``train`` / ``validate`` / ``test``);
- every party, training only: model = :meth:`~fedloom.components.base.Component.artifact`,
  ``{"module", "role", "party", "params" (the conf as written), "schema" (none on the arbiter),
  "model" (the algorithm's ``to_dict()``)}``; ``bytes`` values of ``model`` (a network's weights)
  are files next to ``model.json`` (:func:`~fedloom.components.base.split_model_files`);
- metrics = the model's ``summary()`` and row counts (training), or row counts (predict).

What an algorithm provides is typed by the Protocols below: :class:`DataRole` (guest, host),
:class:`ArbiterRole`, :class:`TrainedModel`, with :class:`Algorithm` tying them to one model type.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

from fedloom.components.base import Component, Inputs, Outputs, Table, frame_input, model_of
from fedloom.context import Context, NamespacePath
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import ARBITER, GUEST, HOST, Role
from fedloom.data import Frame, align
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.predictions import Predictions

__all__ = [
    "MODEL_INPUTS",
    "PREDICT_SLOTS",
    "Algorithm",
    "ArbiterRole",
    "CVSettings",
    "DataRole",
    "ModelBinding",
    "ModelComponent",
    "ModelParams",
    "StoredModel",
    "TrainedModel",
    "cv_folds",
    "register_model_component",
]


# -- what an algorithm provides ----------------------------------------------------------------------
class TrainedModel(Protocol):
    """A party's trained model: plain numbers (and weight files as ``bytes``), never ciphertexts."""

    def to_dict(self) -> Mapping[str, object]:
        """What ``model.json`` holds as this party's model."""
        ...

    def summary(self) -> Mapping[str, object]:
        """JSON-able metrics of training (loss history, rounds...)."""
        ...


M = TypeVar("M", bound=TrainedModel)
P = TypeVar("P")
M_co = TypeVar("M_co", bound=TrainedModel, covariant=True)
P_co = TypeVar("P_co", covariant=True)


class ParamsReader(Protocol[P_co]):
    """The algorithm's parameter class: FATE's names in, checked (ConfigError naming the field)."""

    def from_dict(self, values: dict[str, object], /, *, component: str | None = ...) -> P_co:
        """The parameters of a conf's dict; ``component`` is named in errors."""
        ...


class ModelReader(Protocol[M_co]):
    """The algorithm's model class: rebuilds a model from its ``to_dict()``."""

    def from_dict(self, d: dict[str, object], /) -> M_co:
        """Inverse of ``to_dict()`` (DataError for what is not such a model)."""
        ...


class DataRole(Protocol[M]):
    """A party with data (guest, host, horizontal client)."""

    def fit(self, ctx: Context, train: Frame, validate: Frame | None, /) -> M:
        """Train with the other parties; this party's part of the model."""
        ...

    def predict(self, ctx: Context, model: M, frame: Frame, /) -> Predictions | None:
        """Predict with the other parties; the predictions where this party outputs them."""
        ...


class ArbiterRole(Protocol[M]):
    """The party without data (key owner, aggregator)."""

    def fit(self, ctx: Context, /) -> M:
        """Take part in training; the arbiter's part of the model."""
        ...

    def predict(self, ctx: Context, model: M, /) -> None:
        """Take part in a prediction (nothing, where the others predict alone)."""
        ...


@dataclass(frozen=True)
class Algorithm(Generic[P, M]):
    """What a model component needs of an algorithm: its parameters, role classes and model class.

    Attributes
    ----------
    params
        ``from_dict(conf, component=...)``: FATE's parameters, checked.
    guest, host
        The role classes of the parties with data, built with the parameters (the host's may be
        the guest's).
    arbiter
        The arbiter's role class; ``None`` for an algorithm of guest and hosts only (register it
        with ``roles=(GUEST, HOST)``).
    model
        ``from_dict(model.to_dict())``: the model of every role.
    """

    params: ParamsReader[P]
    guest: Callable[[P], DataRole[M]]
    host: Callable[[P], DataRole[M]]
    arbiter: Callable[[P], ArbiterRole[M]] | None
    model: ModelReader[M]


# -- inputs and outputs -----------------------------------------------------------------------------
#: Input slots of every model component.
MODEL_INPUTS = frozenset({"train_data", "validate_data", "test_data", "data", "eval_data", "model"})
#: Data slots a model component predicts on, in order of preference (FATE names all three).
PREDICT_SLOTS = ("test_data", "data", "eval_data")


def slot_present(inputs: Inputs, slot: str) -> bool:
    """Whether the DSL wires ``slot`` into this component (present here, or absent on this role)."""
    return bool(inputs.data.get(slot) or inputs.missing.get(slot))


def is_training(inputs: Inputs, module: str) -> bool:
    """``train_data`` wired in: train (a warm start when a model is given too); otherwise predict
    with ``input.model``."""
    return slot_present(inputs, "train_data")


def takes_init(fit: Callable[..., object]) -> bool:
    """Whether a role's ``fit`` accepts ``init=`` (the stored model of a warm start)."""
    try:
        return "init" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        return False


def refuse_warm_start(module: str, component: str) -> ConfigError:
    """The refusal of a model input with train_data for an algorithm that cannot warm-start."""
    return ConfigError(
        f"{module} does not warm-start: give it either train_data (train) or test_data with "
        "input.model (predict), not train_data with a model.",
        component=component,
        field="input.model",
    )


# -- cross-validation -------------------------------------------------------------------------------
#: Each fold's levels below its step: ``fit``, ``output_train``, ``output_validate``.
CV_FIT = NamespacePath("fit", indexed=False)
CV_TRAIN = NamespacePath("output_train", indexed=False)
CV_VALIDATE = NamespacePath("output_validate", indexed=False)


def fold_context(ctx: Context, i: int) -> Context:
    """Fold ``i``'s context: its own job step ``<component>.cv.fold-<i>`` (every party builds it alike).

    A fold is a training of its own, with its own key: a context pins one public key per job step
    (its first namespace level), so each fold is a step rather than a level below the component's.
    """
    step = ctx.namespace[0] if ctx.namespace else "model"
    return ctx.derive(namespace=(f"{step}.cv.fold-{i}", *ctx.namespace[1:]))


class CVSettings(BaseModel):
    """FATE's ``cv_param``, as every model component reads it (``mode``, ``role``,
    ``history_value_type`` and ``evaluate_param`` are accepted and unused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_splits: Annotated[StrictInt, Field(ge=2)] = 5
    mode: str = "hetero"
    role: str = "guest"
    shuffle: StrictBool = True
    random_seed: StrictInt | None = 1
    need_cv: StrictBool = False
    output_fold_history: StrictBool = True
    history_value_type: str = "score"
    evaluate_param: dict[str, object] | None = None

    @classmethod
    def of(cls, conf: Mapping[str, object], component: str | None = None) -> CVSettings:
        """The ``cv_param`` of a conf (defaults without one); ConfigError naming the field."""
        raw = conf.get("cv_param")
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"The 'cv_param' parameter must be an object. Got {type(raw).__name__}.",
                component=component,
                field="cv_param",
            )
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in ("cv_param", *err["loc"]))
            raise ConfigError(
                f"The '{where}' parameter is invalid: {err['msg']}. Got {err.get('input')!r}.",
                component=component,
                field=where,
            ) from None


def without_cv(conf: Mapping[str, object]) -> dict[str, object]:
    """The conf the algorithm checks: ``cv_param`` is the base's (see :class:`CVSettings`)."""
    return {k: v for k, v in conf.items() if k != "cv_param"}


def cv_folds(ids: np.ndarray, n_splits: int, shuffle: bool, seed: int | None) -> np.ndarray:
    """The fold of each row, from its id only, so every party holding the same ids agrees.

    Without ``shuffle``: contiguous folds in row order, the first ``n % n_splits`` one row longer
    (sklearn's ``KFold``). With ``shuffle``: the same, after ordering the rows by
    ``sha256(f"{seed}:{id}")`` (``seed`` None counts as 0).

    Raises
    ------
    DataError
        Fewer rows than folds.
    """
    n = len(ids)
    if n < n_splits:
        raise DataError(f"cross-validation needs at least n_splits={n_splits} rows; the data has {n}")
    order = np.arange(n)
    if shuffle:
        key = f"{0 if seed is None else seed}:".encode()
        digests = [hashlib.sha256(key + str(i).encode()).hexdigest() for i in ids]
        order = np.asarray(sorted(range(n), key=digests.__getitem__), dtype=np.int64)
    folds = np.empty(n, dtype=np.int64)
    start = 0
    for i in range(n_splits):
        size = n // n_splits + (1 if i < n % n_splits else 0)
        folds[order[start : start + size]] = i
        start += size
    return folds


def fold_scores(preds: Predictions) -> dict[str, float]:
    """Every score metric of one fold's held-out predictions (empty without a label)."""
    from fedloom.ml.evaluation.registry import resolve_metrics, score_metrics

    if preds.label is None or len(preds.ids) == 0:
        return {}
    names = resolve_metrics(preds.task, None, scores_only=True)
    pos = (preds.classes or [0, 1])[-1] if preds.task == "binary" else 1
    return score_metrics(preds.task, names, preds.label, preds.score, preds.result, pos_label=pos)


def cv_summary(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std"}}`` over the folds (population std, NaN folds left out)."""
    out: dict[str, dict[str, float]] = {}
    for name in per_fold[0] if per_fold else {}:
        values = np.asarray([f[name] for f in per_fold], dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            out[name] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def train_inputs(inputs: Inputs, module: str) -> tuple[Frame, Frame | None]:
    """The training Frame and the optional validation Frame."""
    train = frame_input(inputs.one("train_data"), module, "train_data")
    if not inputs.data.get("validate_data"):
        return train, None
    return train, frame_input(inputs.one("validate_data"), module, "validate_data")


def predict_input(inputs: Inputs, module: str) -> Frame:
    """The Frame to predict on, from the first wired slot of :data:`PREDICT_SLOTS`."""
    slot = next((s for s in PREDICT_SLOTS if slot_present(inputs, s)), PREDICT_SLOTS[0])
    return frame_input(inputs.one(slot), module, slot)


@dataclass(frozen=True)
class StoredModel:
    """This party's stored model artifact, as a predict run uses it.

    Attributes
    ----------
    params
        The conf it was trained with (the parameters a predict run uses).
    schema
        The training data's schema (``None`` on the arbiter).
    model
        The algorithm's ``to_dict()`` of this party's part.
    """

    params: dict[str, object]
    schema: dict[str, object] | None
    model: dict[str, object]

    @classmethod
    def of(cls, inputs: Inputs, module: str, component: str) -> StoredModel:
        """The ``module`` model among the inputs.

        Raises
        ------
        DataError
            No model input, or one that is not a fedloom ``module`` artifact.
        """
        found = model_of(inputs.models, module, component)
        if found is None or "model" not in found:
            raise DataError(
                f"{component} predicts with a trained {module} model and has none: add "
                f'"model": ["pipeline.{component}.model"] (an earlier job\'s model) or '
                '"model": ["<training component>.model"] to its input.',
                field="input.model",
            )
        params, schema, model = found.get("params"), found.get("schema"), found["model"]
        if not isinstance(params, dict) or not isinstance(model, dict):
            raise DataError(
                f"the {module} model given to {component} is not a fedloom model artifact (no 'params').",
                field="input.model",
            )
        return cls(params, schema if isinstance(schema, dict) and schema else None, model)

    def aligned(self, frame: Frame) -> Frame:
        """``frame`` with the training features in training order.

        Raises
        ------
        DataError
            Its feature columns differ from the training schema (missing and extra ones named).
        """
        return frame if self.schema is None else align(frame, self.schema)


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


# -- the binding ----------------------------------------------------------------------------------
class RunsModel(Protocol):
    """What the component and parameter classes of a registration call (no algorithm types)."""

    module: str

    def check(self, conf: Mapping[str, object]) -> None:
        """Refuse a conf the algorithm refuses (ConfigError naming the field)."""
        ...

    def run(self, component: ModelComponent, ctx: Context, inputs: Inputs) -> Outputs:
        """Train or predict on ``component``'s party."""
        ...


class ModelParams(BaseModel):
    """A model component's parameters as the conf writes them, checked by its algorithm.

    Each registration has its subclass (``HomoLRComponentParams``: ``HOMO_LR.params_model``); the
    algorithm's own parameter class is the schema, so there is one rule set per algorithm, and
    what a component stores is the conf as written.
    """

    model_config = ConfigDict(extra="allow")

    #: The registration whose algorithm checks the parameters.
    binding: ClassVar[RunsModel]

    def as_dict(self) -> dict[str, object]:
        """The parameters as written in the conf (merged for this party)."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _check(self) -> ModelParams:
        type(self).binding.check(self.as_dict())  # ConfigError naming the field; the job loader adds where
        return self


class ModelComponent(Component):
    """The role class of every party of a model component: runs its registration's binding."""

    #: The registration this class belongs to.
    binding: ClassVar[RunsModel]
    params: ModelParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        return type(self).binding.run(self, ctx, inputs)


class ModelBinding(Generic[P, M]):
    """Train / validate / predict with one algorithm, for every party of one DSL module.

    Parameters
    ----------
    module
        The DSL module name (``HeteroLR``).
    algorithm
        Loads the algorithm's classes (called once, when a job first needs them).
    description
        One line for the module's help.
    roles
        The roles it runs on (without the arbiter for an algorithm that has none).
    """

    def __init__(
        self,
        module: str,
        algorithm: Callable[[], Algorithm[P, M]],
        description: str,
        roles: tuple[Role, ...] = (GUEST, HOST, ARBITER),
    ) -> None:
        self.module = module
        self.algorithm = functools.cache(algorithm)
        self.params_model, self.component = _classes(self)
        self.spec = ModuleSpec(
            module,
            roles=roles,
            params_model=self.params_model,
            inputs=MODEL_INPUTS,
            outputs={"data", "model"},
            requires_data=True,
            entry=dict.fromkeys(roles, self.component),
            description=description,
        )

    def check(self, conf: Mapping[str, object]) -> None:
        """Refuse a conf the algorithm refuses (ConfigError naming the field)."""
        CVSettings.of(conf)
        self.algorithm().params.from_dict(without_cv(conf))

    def params(self, conf: Mapping[str, object], component: ModelComponent) -> P:
        """The algorithm's parameters of ``conf`` (the job's, or the stored model's)."""
        return self.algorithm().params.from_dict(without_cv(conf), component=component.env.component)

    def run(self, component: ModelComponent, ctx: Context, inputs: Inputs) -> Outputs:
        """Train (``train_data`` wired in) or predict (a stored model) on ``component``'s party."""
        role = component.env.party.role
        training = is_training(inputs, self.module)
        cv = CVSettings.of(component.params.as_dict(), component.env.component)
        if training and cv.need_cv:
            if inputs.models:
                raise ConfigError(
                    f"{self.module} cross-validates from scratch: cv_param.need_cv with a model input "
                    "(a warm start) is not supported.",
                    component=component.env.component,
                    field="input.model",
                )
            if role == ARBITER:
                return self._cv_arbiter(component, ctx, cv)
            algo = self.algorithm()
            data_role = algo.guest if role == GUEST else algo.host
            return self._cross_validate(component, data_role, ctx, inputs, cv)
        if role == ARBITER and training:
            return self._train_arbiter(component, ctx, inputs)
        if role == ARBITER:
            return self._predict_arbiter(component, ctx, inputs)
        algo = self.algorithm()
        party = algo.guest if role == GUEST else algo.host
        if training:
            return self._train(component, party, ctx, inputs)
        return self._predict(component, party, ctx, inputs)

    def _init(self, component: ModelComponent, inputs: Inputs, fit: Callable[..., object]) -> M | None:
        """The stored model a warm start continues from (None without a model input)."""
        if not inputs.models:
            return None
        if not takes_init(fit):
            raise refuse_warm_start(self.module, component.env.component)
        stored = StoredModel.of(inputs, self.module, component.env.component)
        return self.algorithm().model.from_dict(stored.model)

    # -- cross-validation ----------------------------------------------------------------------------
    def _cross_validate(
        self,
        component: ModelComponent,
        role: Callable[[P], DataRole[M]],
        ctx: Context,
        inputs: Inputs,
        cv: CVSettings,
    ) -> Outputs:
        env = component.env
        train = frame_input(inputs.one("train_data"), self.module, "train_data")
        party = role(self.params(component.params.as_dict(), component))
        folds = cv_folds(train.ids, cv.n_splits, cv.shuffle, cv.random_seed)
        tables: list[Table] = []
        per_fold: list[dict[str, float]] = []
        for i in range(cv.n_splits):
            env.progress(i / cv.n_splits, f"cross-validation fold {i + 1} of {cv.n_splits}")
            fctx = fold_context(ctx, i)
            fit_rows = train.take(np.flatnonzero(folds != i))
            held_out = train.take(np.flatnonzero(folds == i))
            model = party.fit(CV_FIT.at(fctx), fit_rows, None)
            sets = ([("train", fit_rows)] if cv.output_fold_history else []) + [("validate", held_out)]
            for kind, frame in sets:
                preds = party.predict((CV_TRAIN if kind == "train" else CV_VALIDATE).at(fctx), model, frame)
                if preds is None:
                    continue
                if kind == "validate":
                    per_fold.append(fold_scores(preds))
                if cv.output_fold_history:
                    table = predictions_table(preds, kind, env.component)
                    table.df["fold"] = i
                    tables.append(table)
        metrics: dict[str, object] = {"mode": "cv", "n_splits": cv.n_splits, "train_rows": train.n_rows}
        if per_fold:
            metrics["cv_folds"] = per_fold
            metrics["cv_summary"] = cv_summary(per_fold)
        return Outputs(data=[concat_tables(tables)] if tables else [], metrics=metrics)

    def _cv_arbiter(self, component: ModelComponent, ctx: Context, cv: CVSettings) -> Outputs:
        party = self._arbiter(component.params.as_dict(), component)
        for i in range(cv.n_splits):
            fctx = fold_context(ctx, i)
            model = party.fit(CV_FIT.at(fctx))
            if cv.output_fold_history:
                party.predict(CV_TRAIN.at(fctx), model)
            party.predict(CV_VALIDATE.at(fctx), model)
        return Outputs(metrics={"mode": "cv", "n_splits": cv.n_splits})

    # -- guest and host ------------------------------------------------------------------------
    def _train(
        self, component: ModelComponent, role: Callable[[P], DataRole[M]], ctx: Context, inputs: Inputs
    ) -> Outputs:
        env = component.env
        train, validate = train_inputs(inputs, self.module)
        party = role(self.params(component.params.as_dict(), component))
        init = self._init(component, inputs, party.fit)
        if init is not None:  # a warm start: the stored schema, in its order
            stored = StoredModel.of(inputs, self.module, env.component)
            train = stored.aligned(train)
            validate = None if validate is None else stored.aligned(validate)
        env.progress(0.0, f"training on {train.n_rows} rows, {train.n_features} features")
        fit = party.fit if init is None else functools.partial(party.fit, init=init)  # type: ignore[call-arg]
        model = fit(ctx.sub("fit"), train, validate)
        env.progress(0.9, "predicting on the training data")
        sets = [("train", train)] + ([] if validate is None else [("validate", validate)])
        tables = [_predictions(party, ctx, model, frame, kind, env.component) for kind, frame in sets]
        found = [t for t in tables if t is not None]
        metrics: dict[str, object] = {**model.summary(), "train_rows": train.n_rows}
        if validate is not None:
            metrics["validate_rows"] = validate.n_rows
        artifact = component.artifact(component.params.as_dict(), model.to_dict(), train.schema)
        return Outputs(data=[concat_tables(found)] if found else [], model=artifact, metrics=metrics)

    def _predict(
        self, component: ModelComponent, role: Callable[[P], DataRole[M]], ctx: Context, inputs: Inputs
    ) -> Outputs:
        env = component.env
        stored = StoredModel.of(inputs, self.module, env.component)
        data = stored.aligned(predict_input(inputs, self.module))
        party = role(self.params(stored.params, component))
        model = self.algorithm().model.from_dict(stored.model)
        env.progress(0.0, f"predicting {data.n_rows} rows")
        table = _predictions(party, ctx, model, data, "test", env.component)
        return Outputs(
            data=[] if table is None else [table], metrics={"mode": "predict", "rows": data.n_rows}
        )

    # -- arbiter ---------------------------------------------------------------------------------
    def _arbiter(self, conf: Mapping[str, object], component: ModelComponent) -> ArbiterRole[M]:
        arbiter = self.algorithm().arbiter
        if arbiter is None:  # registered without the arbiter role: the runner never gets here
            raise ConfigError(f"{self.module} has no arbiter role.", component=component.env.component)
        return arbiter(self.params(conf, component))

    def _train_arbiter(self, component: ModelComponent, ctx: Context, inputs: Inputs) -> Outputs:
        party = self._arbiter(component.params.as_dict(), component)
        init = self._init(component, inputs, party.fit)
        fit = party.fit if init is None else functools.partial(party.fit, init=init)  # type: ignore[call-arg]
        model = fit(ctx.sub("fit"))
        party.predict(ctx.sub("output_train"), model)
        if slot_present(inputs, "validate_data"):
            party.predict(ctx.sub("output_validate"), model)
        artifact = component.artifact(component.params.as_dict(), model.to_dict(), None)
        return Outputs(model=artifact, metrics=dict(model.summary()))

    def _predict_arbiter(self, component: ModelComponent, ctx: Context, inputs: Inputs) -> Outputs:
        stored = StoredModel.of(inputs, self.module, component.env.component)
        party = self._arbiter(stored.params, component)
        party.predict(ctx.sub("output_test"), self.algorithm().model.from_dict(stored.model))
        return Outputs(metrics={"mode": "predict"})


def _predictions(
    party: DataRole[M], ctx: Context, model: M, frame: Frame, kind: str, component: str
) -> Table | None:
    preds = party.predict(ctx.sub(f"output_{kind}"), model, frame)
    return None if preds is None else predictions_table(preds, kind, component)


def _classes(binding: RunsModel) -> tuple[type[ModelParams], type[ModelComponent]]:
    """The parameter class (for the DSL) and the role class (for the runner) of one registration."""

    class Params(ModelParams):
        __doc__ = f"``{binding.module}``'s parameters as written in the conf, checked by its algorithm."

    class Role(ModelComponent):
        __doc__ = f"Every party's role class of ``{binding.module}``."

    Params.binding = Role.binding = binding
    Role.module = binding.module
    # Named apart from the algorithm's own classes (HomoLRParams is the algorithm's parameters).
    for cls, suffix in ((Params, "ComponentParams"), (Role, "Component")):
        cls.__name__ = cls.__qualname__ = f"{binding.module}{suffix}"
    return Params, Role


def register_model_component(
    module: str,
    algorithm: Callable[[], Algorithm[P, M]],
    description: str,
    *,
    roles: tuple[Role, ...] = (GUEST, HOST, ARBITER),
) -> ModelBinding[P, M]:
    """Register ``module`` with :data:`fedloom.dsl.REGISTRY` as a model component of ``algorithm``.

    Parameters
    ----------
    module
        The DSL module name.
    algorithm
        Loads the algorithm's :class:`Algorithm` (when a job first needs it).
    description
        One line for the module's help.
    roles
        The roles it runs on: guest, host and arbiter, or guest and host (no arbiter).

    Returns
    -------
    ModelBinding
        The registration: ``.spec`` (the DSL's), ``.params_model``, ``.component``.
    """
    binding = ModelBinding(module, algorithm, description, roles)
    register_module(binding.spec)
    return binding
