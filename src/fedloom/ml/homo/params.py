"""Parameters of FedAvg (:class:`FedAvgParams`), of Homo NN (:class:`HomoNNParams`) and of Homo LR
(:class:`HomoLRParams`, read from FATE 1.x's ``HomoLogisticParam`` names by :meth:`HomoLRParams.from_dict`).

Every class is a frozen pydantic model checked when it is built; a bad value is a
:class:`~fedloom.core.ConfigError` in the one message shape of :mod:`fedloom.core.validation`,
naming the (dotted) field::

    The 'max_iter' parameter of HomoLR must be an int >= 1. Got 0.

The rules are the annotated types below (:data:`Rounds`, :data:`PositiveNumber`...), made of
:mod:`fedloom.core.validation`'s rules and shared by the algorithm settings and the FATE confs
that map onto them (:mod:`fedloom.ml.homo.nn_conf`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, ClassVar, Self, TypeGuard

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic import ModelWrapValidatorHandler as Handler
from pydantic_core import InitErrorDetails, PydanticCustomError

from fedloom.core.errors import ConfigError
from fedloom.core.validation import config_error, flag, integer, number, rule

__all__ = [
    "EARLY_STOPS",
    "LR_OPTIMIZERS",
    "NN_LOSSES",
    "NN_OPTIMIZERS",
    "Checked",
    "FedAvgParams",
    "HomoLRConf",
    "HomoLRParams",
    "HomoNNParams",
    "Settings",
    "choice",
    "is_int",
]

#: Convergence rules: ``none``; ``diff`` |loss_t − loss_{t−1}| < tol; ``abs`` loss < tol;
#: ``weight_diff`` ‖w_t − w_{t−1}‖₂ < tol (on the global model, checked by the arbiter).
EARLY_STOPS = ("none", "diff", "abs", "weight_diff")
#: Local optimisers of Homo NN (torch.optim names, case-insensitive).
NN_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
#: Losses of Homo NN (torch.nn names); ``auto``: NLL for models returning log-probabilities, else
#: cross-entropy.
NN_LOSSES = (
    "auto",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
)
#: Local optimisers of Homo LR (FATE's names).
LR_OPTIMIZERS = ("sgd", "nesterov_momentum_sgd", "rmsprop", "adam", "adagrad")
#: Initial weights of Homo LR (FATE's ``init_param.init_method``).
INIT_METHODS = ("zeros", "ones", "const", "random_uniform", "random_normal")


# -- the rules, as annotated types (worded by fedloom.core.validation) -------------------------------
def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (JSON ``true`` must not pass for ``1``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def choice(allowed: tuple[str, ...], *, none: str | None = None) -> BeforeValidator:
    """One of ``allowed`` in any case, as FATE reads it, returned in its canonical spelling;
    ``null`` becomes ``none`` when given (FATE writes ``penalty: null`` for no penalty)."""

    def pick(value: object) -> str:
        if value is None and none is not None:
            return none
        if isinstance(value, str):
            for name in allowed:
                if name.lower() == value.lower():
                    return name
        raise ValueError(f"must be one of {', '.join(allowed)}")

    return BeforeValidator(pick)


def _batch(value: object) -> bool:
    return is_int(value) and (value >= 1 or value == -1)


Rounds = Annotated[int, integer(ge=1)]
OptionalRounds = Annotated[int | None, integer(ge=1, optional=True)]
Seed = Annotated[int, integer(ge=0)]
OptionalSeed = Annotated[int | None, integer(ge=0, optional=True)]
Flag = Annotated[bool, flag()]
OptionalFlag = Annotated[bool | None, rule("null, true or false", lambda v: v is None or isinstance(v, bool))]
RealNumber = Annotated[float, number()]
NonNegative = Annotated[float, number(ge=0)]
OptionalNonNegative = Annotated[float | None, number(ge=0, optional=True)]
PositiveNumber = Annotated[float, number(gt=0)]
OptionalPositive = Annotated[float | None, number(gt=0, optional=True)]
Probability = Annotated[float, number(gt=0, lt=1)]
Momentum = Annotated[float, number(ge=0, lt=1)]
BatchSize = Annotated[int, rule("-1 or an int >= 1", _batch)]
OptionalBatchSize = Annotated[int | None, rule("null, -1 or an int >= 1", lambda v: v is None or _batch(v))]
ScaleBits = Annotated[int, integer(ge=8, le=40)]
OptionalScaleBits = Annotated[int | None, integer(ge=8, le=40, optional=True)]
EarlyStop = Annotated[str, choice(EARLY_STOPS)]


# -- the two bases -------------------------------------------------------------------------------
class Settings(BaseModel):
    """A part of a parameter set (a nested FATE section, or fields shared by several sets).

    Unknown names are refused, except :attr:`ignored`: FATE names accepted at any value that have
    no effect in fedloom (FATE confs carry them; refusing them would break those confs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True)

    #: FATE names accepted and dropped.
    ignored: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, values: object) -> object:
        if isinstance(values, Mapping) and cls.ignored:
            return {k: v for k, v in values.items() if k not in cls.ignored}
        return values


class Checked(Settings):
    """A whole parameter set: any problem while building it is a ConfigError naming the field."""

    #: The algorithm or module named in messages (``HomoLR``).
    owner: ClassVar[str] = "FedAvg"

    @model_validator(mode="wrap")
    @classmethod
    def _one_error(cls, values: object, handler: Handler[Self]) -> Self:
        try:
            return handler(values)
        except ValidationError as exc:
            raise config_error(_fate_wording(exc), cls.owner) from None

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None = None, *, component: str | None = None) -> Self:
        """Build from a conf's dict (FATE's names); ConfigError naming ``component`` and the field
        (what is not a dict included: the wrap validator formats it like any other problem)."""
        try:
            return cls.model_validate({} if values is None else values)
        except ConfigError as err:
            err.component = err.component or component
            raise


def _fate_wording(exc: ValidationError) -> ValidationError:
    """``exc`` with unknown names worded as FATE's own parameter checks word them ("is not a known
    parameter"), which FATE users and the homo tests search for; everything else as it is."""
    errors = exc.errors(include_url=False)
    if not any(e["type"] == "extra_forbidden" for e in errors):
        return exc
    details: list[InitErrorDetails] = []
    for e in errors:
        unknown = e["type"] == "extra_forbidden"
        kind = "unknown_parameter" if unknown else e["type"]
        details.append(
            InitErrorDetails(
                type=PydanticCustomError(kind, "is not a known parameter" if unknown else e["msg"]),
                loc=tuple(e["loc"]),
                input=e["input"],
            )
        )
    return ValidationError.from_exception_data(exc.title, details)


# -- the algorithm settings ----------------------------------------------------------------------
class FedAvgParams(Checked):
    """How the federation runs: rounds, local epochs, convergence and secure aggregation.

    Attributes
    ----------
    max_iter
        Aggregation rounds at most.
    local_epochs
        Local passes over each client's data between two aggregations.
    early_stop
        Convergence rule checked by the arbiter on the global model (:data:`EARLY_STOPS`).
    tol
        Threshold of ``early_stop``.
    secure_aggregate
        Pairwise-mask secure aggregation (default). ``False`` sends plain weighted updates to the
        arbiter: for debugging and for measuring the cost of the masks only.
    scale_bits
        Fixed-point scale of secure aggregation (values travel as ``round(x · 2^scale_bits)``).
    seed
        Seeds the initial model (the guest's, sent to the hosts) and the local shuffling.
    """

    owner: ClassVar[str] = "FedAvg"

    max_iter: Rounds = 10
    local_epochs: Rounds = 1
    early_stop: EarlyStop = "none"
    tol: NonNegative = 1e-4
    secure_aggregate: Flag = True
    scale_bits: ScaleBits = 24
    seed: Seed = 0

    def fedavg(self) -> FedAvgParams:
        """The federation part alone (what the arbiter needs)."""
        return FedAvgParams(**{name: getattr(self, name) for name in FedAvgParams.model_fields})


class HomoNNParams(FedAvgParams):
    """FedAvg plus the local training of a torch model.

    Attributes
    ----------
    batch_size
        Local mini-batch size (``-1``: the whole local data set).
    optimizer
        Local optimiser (:data:`NN_OPTIMIZERS`); its state persists across rounds.
    lr
        Learning rate.
    momentum
        SGD momentum.
    weight_decay
        L2 penalty (decoupled for ``adamw``).
    optimizer_params
        Extra keyword arguments of the torch optimiser (``betas``, ``eps``, ``amsgrad``, ...).
    loss
        Loss (:data:`NN_LOSSES`).
    max_grad_norm
        Clip the gradient norm (``None``: no clipping).
    """

    owner: ClassVar[str] = "HomoNN"

    batch_size: BatchSize = 64
    optimizer: Annotated[str, choice(NN_OPTIMIZERS)] = "sgd"
    lr: PositiveNumber = 0.01
    momentum: Momentum = 0.9
    weight_decay: NonNegative = 0.0
    optimizer_params: Annotated[dict[str, object], rule("a dict", lambda v: isinstance(v, dict))] = Field(
        default_factory=dict
    )
    loss: Annotated[str, choice(NN_LOSSES)] = "auto"
    max_grad_norm: OptionalPositive = None


class _LRSettings(Settings):
    """The settings HomoLR's algorithm and FATE's conf spell the same way."""

    penalty: Annotated[str, choice(("L1", "L2", "none"), none="none")] = "L2"
    alpha: NonNegative = 1.0
    optimizer: Annotated[str, choice(LR_OPTIMIZERS)] = "sgd"
    learning_rate: PositiveNumber = 0.01
    decay: NonNegative = 1.0
    decay_sqrt: Flag = True
    batch_size: BatchSize = -1
    tol: NonNegative = 1e-4
    early_stop: EarlyStop = "diff"
    secure_aggregate: Flag = True
    scale_bits: ScaleBits = 24


class HomoLRParams(FedAvgParams, _LRSettings):
    """Homo logistic regression, FATE 1.x ``HomoLogisticParam`` semantics (read by :meth:`from_dict`).

    Attributes
    ----------
    penalty
        ``L2``, ``L1`` or ``none``.
    alpha
        Penalty strength.
    optimizer
        :data:`LR_OPTIMIZERS`.
    learning_rate
        Initial learning rate; decayed per epoch ``t`` as ``lr / sqrt(1 + decay·t)`` (``decay_sqrt``)
        or ``lr / (1 + decay·t)``.
    decay, decay_sqrt
        Learning-rate decay.
    batch_size
        ``-1``: full batch (one step per epoch).
    init_method, init_const, fit_intercept
        Initial weights: ``zeros``, ``ones``, ``const``, ``random_uniform``, ``random_normal``.
    threshold
        Probability above which the predicted class is 1.
    """

    owner: ClassVar[str] = "HomoLR"

    max_iter: Rounds = 100
    early_stop: EarlyStop = "diff"
    init_method: Annotated[str, choice(INIT_METHODS)] = "zeros"
    init_const: RealNumber = 1.0
    fit_intercept: Flag = True
    threshold: Probability = 0.5

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None = None, *, component: str | None = None) -> Self:
        """Parameters from a FATE ``HomoLR`` conf (``component_parameters``' dict for one party).

        ``max_iter`` counts local epochs as in FATE; with ``aggregate_iters = a`` the federation
        runs ``ceil(max_iter / a)`` rounds of ``a`` local epochs (see :class:`HomoLRConf`).

        Raises
        ------
        ConfigError
            An unknown name, or a feature fedloom does not implement switched on (named).
        """
        conf = HomoLRConf.from_dict(values, component=component)
        return cls.model_validate(conf.settings())

    #: FATE's spelling of the same reader (kept for callers that say where the dict comes from).
    from_fate = from_dict


# -- FATE's HomoLR conf --------------------------------------------------------------------------
def _off(why: str) -> BeforeValidator:
    """A FATE switch fedloom accepts only when it is off (false, null or 0)."""
    return rule(f"false: {why}", lambda v: not v)


class InitParam(Settings):
    """``init_param``: how the weights start (``random_seed`` also seeds the local shuffling)."""

    init_method: Annotated[str, choice(INIT_METHODS)] = "zeros"
    init_const: RealNumber = 1.0
    fit_intercept: Flag = True
    random_seed: OptionalSeed = None


class EncryptParam(Settings):
    """``encrypt_param``: only ``method: null`` (the updates are protected by secure aggregation)."""

    ignored: ClassVar[frozenset[str]] = frozenset({"key_length"})

    method: Annotated[
        str | None,
        rule(
            "null: fedloom's HomoLR protects the updates with secure aggregation "
            "(secure_aggregate: true), not with Paillier",
            lambda v: v in (None, "none", "None"),
        ),
    ] = None


class CrossValidationParam(Settings):
    """``cv_param``: the model component runs cross-validation (:mod:`fedloom.components.model`) and
    never passes ``cv_param`` here; the algorithm alone refuses ``need_cv: true``."""

    ignored: ClassVar[frozenset[str]] = frozenset(
        {"n_splits", "shuffle", "random_seed", "mode", "role", "evaluate_param"}
    )

    need_cv: Annotated[object, _off("cross-validation is not implemented")] = False


class PredictParam(Settings):
    """``predict_param``: the probability above which the predicted class is 1."""

    threshold: Probability = 0.5


class HomoLRConf(Checked, _LRSettings):
    """FATE's ``HomoLR`` parameters (``HomoLogisticParam``), names and nesting as FATE writes them.

    ``max_iter`` counts epochs and ``aggregate_iters`` the local epochs between aggregations;
    fedloom adds ``secure_aggregate`` (default true) and ``scale_bits``. FATE names with no effect
    on fedloom's homo LR (:attr:`ignored`: ``re_encrypt_batches``, ``metrics``, ``callback_param``...)
    are accepted at any value; the features fedloom does not implement are refused when switched on.
    """

    owner: ClassVar[str] = "HomoLR"
    ignored: ClassVar[frozenset[str]] = frozenset(
        {"mu", "re_encrypt_batches", "metrics", "use_first_metric_only", "callback_param", "validation_freqs"}
    )

    max_iter: Rounds = 100
    aggregate_iters: Rounds = 1
    init_param: InitParam = InitParam()
    encrypt_param: EncryptParam = EncryptParam()
    cv_param: CrossValidationParam = CrossValidationParam()
    predict_param: PredictParam = PredictParam()
    use_proximal: Annotated[object, _off("FedProx is not implemented")] = False
    multi_class: Annotated[str | None, rule("'ovr'", lambda v: v in ("ovr", None))] = "ovr"
    early_stopping_rounds: Annotated[
        object, rule("null: validation-based early stopping is not implemented", lambda v: v is None)
    ] = None

    def settings(self) -> dict[str, object]:
        """The keyword arguments of :class:`HomoLRParams`: FATE's epochs become FedAvg rounds."""
        shared = {name: getattr(self, name) for name in _LRSettings.model_fields}
        seed = self.init_param.random_seed
        return {
            **shared,
            "max_iter": math.ceil(self.max_iter / self.aggregate_iters),
            "local_epochs": self.aggregate_iters,
            "init_method": self.init_param.init_method,
            "init_const": self.init_param.init_const,
            "fit_intercept": self.init_param.fit_intercept,
            "threshold": self.predict_param.threshold,
            **({} if seed is None else {"seed": seed}),
        }
