"""Parameters of FedAvg (:class:`FedAvgParams`), of Homo NN (:class:`HomoNNParams`) and of Homo LR
(:class:`HomoLRParams`, FATE 1.x's ``HomoLogisticParam`` names).

``__init__`` only stores; :meth:`validate` checks every field and raises a
:class:`~fedloom.core.ConfigError` shaped ``The 'max_iter' parameter of HomoNN must be an int >= 1.
Got 0.`` naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from fedloom.core.errors import ConfigError

__all__ = [
    "EARLY_STOPS",
    "LR_OPTIMIZERS",
    "NN_LOSSES",
    "NN_OPTIMIZERS",
    "FedAvgParams",
    "HomoLRParams",
    "HomoNNParams",
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


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class _Checker:
    def __init__(self, module: str, prefix: str = "") -> None:
        self.module, self.prefix = module, prefix

    def fail(self, name: str, rule: str, value: object) -> ConfigError:
        return ConfigError(
            f"The '{self.prefix}{name}' parameter of {self.module} must be {rule}. Got {value!r}.",
            field=f"{self.prefix}{name}",
        )

    def int_min(self, name: str, value: object, low: int) -> None:
        if not _is_int(value) or value < low:  # type: ignore[operator]
            raise self.fail(name, f"an int >= {low}", value)

    def num(self, name: str, value: object, rule: str, ok: bool) -> None:
        if not _is_num(value) or not ok:
            raise self.fail(name, rule, value)

    def choice(self, name: str, value: object, allowed: tuple[str, ...]) -> str:
        if isinstance(value, str):
            for a in allowed:
                if a.lower() == value.lower():
                    return a
        raise self.fail(name, f"one of {', '.join(allowed)}", value)

    def boolean(self, name: str, value: object) -> None:
        if not isinstance(value, bool):
            raise self.fail(name, "true or false", value)


@dataclass
class FedAvgParams:
    """How the federation runs: rounds, local epochs, convergence and secure aggregation.

    Parameters
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

    max_iter: int = 10
    local_epochs: int = 1
    early_stop: str = "none"
    tol: float = 1e-4
    secure_aggregate: bool = True
    scale_bits: int = 24
    seed: int = 0

    #: Name used in error messages.
    module: str = field(default="FedAvg", repr=False, compare=False)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        c = _Checker(self.module)
        c.int_min("max_iter", self.max_iter, 1)
        c.int_min("local_epochs", self.local_epochs, 1)
        self.early_stop = c.choice("early_stop", self.early_stop, EARLY_STOPS)
        c.num("tol", self.tol, "a number >= 0", _is_num(self.tol) and self.tol >= 0)
        c.boolean("secure_aggregate", self.secure_aggregate)
        if not _is_int(self.scale_bits) or not 8 <= self.scale_bits <= 40:
            raise c.fail("scale_bits", "an int in [8, 40]", self.scale_bits)
        c.int_min("seed", self.seed, 0)

    def fedavg(self) -> FedAvgParams:
        """The federation part alone (what the arbiter needs)."""
        names = {f.name for f in fields(FedAvgParams)}
        return FedAvgParams(**{k: v for k, v in vars(self).items() if k in names})


@dataclass
class HomoNNParams(FedAvgParams):
    """FedAvg plus the local training of a torch model.

    Parameters
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

    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer_params: dict[str, Any] = field(default_factory=dict)
    loss: str = "auto"
    max_grad_norm: float | None = None
    module: str = field(default="HomoNN", repr=False, compare=False)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        super().validate()
        c = _Checker(self.module)
        if not _is_int(self.batch_size) or (self.batch_size < 1 and self.batch_size != -1):
            raise c.fail("batch_size", "-1 or an int >= 1", self.batch_size)
        self.optimizer = c.choice("optimizer", self.optimizer, NN_OPTIMIZERS)
        c.num("lr", self.lr, "a number > 0", _is_num(self.lr) and self.lr > 0)
        c.num(
            "momentum", self.momentum, "a number in [0, 1)", _is_num(self.momentum) and 0 <= self.momentum < 1
        )
        c.num(
            "weight_decay",
            self.weight_decay,
            "a number >= 0",
            _is_num(self.weight_decay) and self.weight_decay >= 0,
        )
        if not isinstance(self.optimizer_params, dict):
            raise c.fail("optimizer_params", "a dict", self.optimizer_params)
        self.loss = c.choice("loss", self.loss, NN_LOSSES)
        if self.max_grad_norm is not None and not (_is_num(self.max_grad_norm) and self.max_grad_norm > 0):
            raise c.fail("max_grad_norm", "null or a number > 0", self.max_grad_norm)


@dataclass
class HomoLRParams(FedAvgParams):
    """Homo logistic regression, FATE 1.x ``HomoLogisticParam`` semantics (see :meth:`from_fate`).

    Parameters
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

    penalty: str = "L2"
    alpha: float = 1.0
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    decay: float = 1.0
    decay_sqrt: bool = True
    batch_size: int = -1
    init_method: str = "zeros"
    init_const: float = 1.0
    fit_intercept: bool = True
    threshold: float = 0.5
    early_stop: str = "diff"
    max_iter: int = 100
    module: str = field(default="HomoLR", repr=False, compare=False)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        super().validate()
        c = _Checker(self.module)
        self.penalty = c.choice(
            "penalty", self.penalty if self.penalty is not None else "none", ("L1", "L2", "none")
        )
        c.num("alpha", self.alpha, "a number >= 0", _is_num(self.alpha) and self.alpha >= 0)
        self.optimizer = c.choice("optimizer", self.optimizer, LR_OPTIMIZERS)
        c.num(
            "learning_rate",
            self.learning_rate,
            "a number > 0",
            _is_num(self.learning_rate) and self.learning_rate > 0,
        )
        c.num("decay", self.decay, "a number >= 0", _is_num(self.decay) and self.decay >= 0)
        c.boolean("decay_sqrt", self.decay_sqrt)
        if not _is_int(self.batch_size) or (self.batch_size < 1 and self.batch_size != -1):
            raise c.fail("batch_size", "-1 or an int >= 1", self.batch_size)
        self.init_method = c.choice(
            "init_param.init_method",
            self.init_method,
            ("zeros", "ones", "const", "random_uniform", "random_normal"),
        )
        c.num("init_param.init_const", self.init_const, "a number", True)
        c.boolean("init_param.fit_intercept", self.fit_intercept)
        c.num(
            "predict_param.threshold",
            self.threshold,
            "a number in (0, 1)",
            _is_num(self.threshold) and 0 < self.threshold < 1,
        )

    #: FATE names accepted and ignored (no effect on fedloom's homo LR), at any value.
    _IGNORED = (
        "re_encrypt_batches",
        "metrics",
        "use_first_metric_only",
        "callback_param",
        "validation_freqs",
    )

    @classmethod
    def from_fate(cls, conf: dict[str, Any], *, component: str | None = None) -> HomoLRParams:
        """Parameters from a FATE ``HomoLR`` conf (``component_parameters``' dict for one party).

        ``max_iter`` counts local epochs as in FATE; with ``aggregate_iters = a`` the federation
        runs ``ceil(max_iter / a)`` rounds of ``a`` local epochs. fedloom extras: ``secure_aggregate``
        (default true), ``scale_bits``.

        Raises
        ------
        ConfigError
            An unknown name, or a feature fedloom does not implement switched on (named).
        """
        conf = dict(conf)
        out = cls()

        def fail(name: str, rule: str, value: object) -> ConfigError:
            return ConfigError(
                f"The '{name}' parameter of HomoLR {rule}. Got {value!r}.", component=component, field=name
            )

        def sub(name: str, allowed: set[str]) -> dict[str, Any]:
            value = conf.pop(name, None) or {}
            if not isinstance(value, dict):
                raise fail(name, "must be a dict", value)
            for k in value:
                if k not in allowed:
                    raise fail(f"{name}.{k}", "is not a known parameter", value[k])
            return value

        simple = {
            "penalty": "penalty",
            "tol": "tol",
            "alpha": "alpha",
            "optimizer": "optimizer",
            "batch_size": "batch_size",
            "learning_rate": "learning_rate",
            "early_stop": "early_stop",
            "decay": "decay",
            "decay_sqrt": "decay_sqrt",
            "secure_aggregate": "secure_aggregate",
            "scale_bits": "scale_bits",
        }
        for key, attr in simple.items():
            if key in conf:
                setattr(out, attr, conf.pop(key))
        if out.penalty is None:
            out.penalty = "none"
        max_iter = conf.pop("max_iter", 100)
        aggregate_iters = conf.pop("aggregate_iters", 1)
        for name, value in (("max_iter", max_iter), ("aggregate_iters", aggregate_iters)):
            if not _is_int(value) or value < 1:
                raise fail(name, "must be an int >= 1", value)
        out.local_epochs = aggregate_iters
        out.max_iter = math.ceil(max_iter / aggregate_iters)
        init = sub("init_param", {"init_method", "init_const", "fit_intercept", "random_seed"})
        out.init_method = init.get("init_method", "zeros")
        out.init_const = init.get("init_const", 1.0)
        out.fit_intercept = init.get("fit_intercept", True)
        seed = init.get("random_seed")
        if seed is not None:
            out.seed = seed
        enc = sub("encrypt_param", {"method", "key_length"})
        if enc.get("method") not in (None, "none", "None"):
            raise fail(
                "encrypt_param.method",
                "must be null: fedloom's HomoLR protects the updates with secure aggregation "
                "(secure_aggregate: true), not with Paillier",
                enc.get("method"),
            )
        cv = sub(
            "cv_param", {"n_splits", "shuffle", "random_seed", "need_cv", "mode", "role", "evaluate_param"}
        )
        if cv.get("need_cv"):
            raise fail("cv_param.need_cv", "must be false: cross-validation is not implemented", True)
        pred = sub("predict_param", {"threshold"})
        out.threshold = pred.get("threshold", 0.5)
        if conf.pop("use_proximal", False):
            raise fail("use_proximal", "must be false: FedProx is not implemented", True)
        conf.pop("mu", None)
        mc = conf.pop("multi_class", "ovr")
        if mc not in ("ovr", None):
            raise fail("multi_class", "must be 'ovr'", mc)
        rounds = conf.pop("early_stopping_rounds", None)
        if rounds is not None:
            raise fail(
                "early_stopping_rounds",
                "must be null: validation-based early stopping is not implemented",
                rounds,
            )
        for name in cls._IGNORED:
            conf.pop(name, None)
        if conf:
            name = sorted(conf)[0]
            raise fail(name, "is not a known parameter", conf[name])
        try:
            out.validate()
        except ConfigError as err:
            err.component = component
            raise
        return out
