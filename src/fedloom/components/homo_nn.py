"""``HomoNN``: horizontal neural networks by FedAvg with secure aggregation, on tabular Frames.

Binds FATE's ``HomoNN`` module to :mod:`fedloom.ml.homo.nn`. Guest and hosts are the clients,
the arbiter aggregates. The network comes from the conf, in one of three shapes:

- FATE 1.9+ ``nn_define`` of ``torch.nn`` layers keyed ``"i-j"`` (run in key order), e.g.
  ``{"0-0": {"layer": "Linear", "in_features": 30, "out_features": 1}, "1-1": {"layer":
  "Sigmoid"}}``, with ``loss.loss_fn``, ``optimizer.optimizer`` (+ its keyword arguments),
  ``trainer.param.{epochs, batch_size, aggregate_every_n_epoch, secure_aggregate}``,
  ``torch_seed`` (the shapes of ``fate_examples/dsl_v2/homo_nn``);
- FATE 1.x ``config_type: "keras"`` with a keras ``Sequential`` JSON of ``Dense`` /
  ``Dropout`` / ``Activation`` layers (``max_iter``, ``batch_size``, ``aggregate_every_n_epoch``,
  ``optimizer``, ``loss``) — mapped to the equivalent torch MLP;
- fedloom's ``model: {"name": "mlp" | "tabular_mlp", "params": {...}}`` naming a model of
  :mod:`fedloom.models.recipe` (``n_classes`` required).

Layers are built from an allow-list of ``torch.nn`` classes with checked keyword arguments;
nothing from the conf is executed. Anything else (an unknown layer, a non-empty
``initializer``, a ``device``, a custom trainer or dataset) is refused with a
:class:`~fedloom.core.ConfigError` naming the field.

One deliberate change: a network ending in ``Softmax`` trained with ``CrossEntropyLoss`` (FATE's
multi-class example) would apply softmax twice; fedloom trains it as ``LogSoftmax`` + ``NLLLoss``,
which is the cross-entropy of the same probabilities.

Labels: class indices ``0..K-1`` for ``CrossEntropyLoss`` / ``NLLLoss`` (K = the output width);
0/1 for ``BCELoss`` / ``BCEWithLogitsLoss`` (one output); numbers for regression losses.

Outputs as :mod:`fedloom.components.homo_lr`: predictions in FATE's layout on guest and hosts,
a model artifact (architecture + weights as JSON numbers) everywhere, the round history as metrics.
Importing this module registers ``HomoNN``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import ARBITER, GUEST, HOST
from fedloom.data import Frame, align
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.homo.params import HomoNNParams
from fedloom.ml.predictions import Predictions

__all__ = [
    "HomoNNArbiterComponent",
    "HomoNNClientComponent",
    "HomoNNComponentParams",
    "NNSpec",
    "parse_homo_nn",
]

log = logging.getLogger(__name__)

MODULE = "HomoNN"

#: torch.nn layers a conf may use, with the keyword arguments each accepts.
LAYERS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features", "bias"),
    "ReLU": ("inplace",),
    "LeakyReLU": ("negative_slope", "inplace"),
    "ELU": ("alpha", "inplace"),
    "GELU": ("approximate",),
    "SELU": ("inplace",),
    "Sigmoid": (),
    "Tanh": (),
    "Softplus": ("beta", "threshold"),
    "Softmax": ("dim",),
    "LogSoftmax": ("dim",),
    "Dropout": ("p", "inplace"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "Flatten": ("start_dim", "end_dim"),
    "Identity": (),
}
#: FATE / keras loss names → torch loss names.
LOSSES = {
    "CrossEntropyLoss": "CrossEntropyLoss",
    "NLLLoss": "NLLLoss",
    "BCELoss": "BCELoss",
    "BCEWithLogitsLoss": "BCEWithLogitsLoss",
    "MSELoss": "MSELoss",
    "L1Loss": "L1Loss",
    "SmoothL1Loss": "SmoothL1Loss",
    "binary_crossentropy": "BCELoss",
    "categorical_crossentropy": "CrossEntropyLoss",
    "sparse_categorical_crossentropy": "CrossEntropyLoss",
    "mse": "MSELoss",
    "mean_squared_error": "MSELoss",
    "mae": "L1Loss",
    "mean_absolute_error": "L1Loss",
}
#: Optimiser names → fedloom's, and the torch keyword arguments passed through.
OPTIMIZERS = {"sgd": "sgd", "adam": "adam", "adamw": "adamw", "rmsprop": "rmsprop", "adagrad": "adagrad"}
OPTIMIZER_EXTRA = ("betas", "eps", "amsgrad", "nesterov", "dampening", "alpha", "centered", "lr_decay")
KERAS_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax", "elu": "ELU"}


@dataclass
class NNSpec:
    """A parsed HomoNN conf: the network as a list of layers, the loss and the training settings.

    Attributes
    ----------
    layers
        ``[{"layer": "Linear", "in_features": 30, ...}, ...]`` in order (allow-listed), or empty
        with ``zoo`` set.
    zoo
        ``{"name", "params", "n_classes"}`` for a model of :mod:`fedloom.models.recipe`.
    params
        FedAvg and local training settings.
    """

    layers: list[dict[str, Any]] = field(default_factory=list)
    zoo: dict[str, Any] | None = None
    params: HomoNNParams = field(default_factory=HomoNNParams)

    def build(self) -> Any:
        """The torch module (imports torch)."""
        from torch import nn

        if self.zoo is not None:
            from fedloom.models.recipe import MODELS

            builder = MODELS[self.zoo["name"]][0]
            return builder(
                (int(self.zoo["in_features"]),), int(self.zoo["n_classes"]), dict(self.zoo["params"])
            )
        mods = []
        for spec in self.layers:
            kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in spec.items() if k != "layer"}
            mods.append(getattr(nn, spec["layer"])(**kw))
        model = nn.Sequential(*mods)
        return model

    @property
    def in_features(self) -> int:
        if self.zoo is not None:
            return int(self.zoo["in_features"])
        for spec in self.layers:
            for key in ("in_features", "num_features"):
                if key in spec:
                    return int(spec[key])
        raise ConfigError(
            "the network's first layer must say its input width (in_features)", field="nn_define"
        )

    @property
    def last(self) -> str:
        return "LogSoftmax" if self.zoo is not None else str(self.layers[-1]["layer"])

    def to_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "zoo": self.zoo}


def _fail(name: str, rule: str, value: object, component: str | None = None) -> ConfigError:
    return ConfigError(
        f"The '{name}' parameter of HomoNN {rule}. Got {value!r}.", component=component, field=name
    )


def _torch_layers(nn_define: Any, component: str | None) -> list[dict[str, Any]]:
    if isinstance(nn_define, list):
        items = [(str(i), v) for i, v in enumerate(nn_define)]
    elif isinstance(nn_define, dict):

        def order(key: str) -> tuple[int, ...]:
            try:
                return tuple(int(p) for p in key.split("-"))
            except ValueError:
                raise _fail(f"nn_define.{key}", "keys must be 'i-j' integers", key, component) from None

        items = sorted(nn_define.items(), key=lambda kv: order(kv[0]))
    else:
        raise _fail(
            "nn_define", "must be a dict of layers keyed 'i-j' or a list of layers", nn_define, component
        )
    layers = []
    for key, spec in items:
        where = f"nn_define.{key}"
        if not isinstance(spec, dict) or "layer" not in spec:
            raise _fail(where, "must be a dict with a 'layer' name", spec, component)
        name = spec["layer"]
        if name not in LAYERS:
            raise _fail(f"{where}.layer", f"must be one of {', '.join(LAYERS)}", name, component)
        out: dict[str, Any] = {"layer": name}
        for k, v in spec.items():
            if k == "layer":
                continue
            if k == "initializer":
                if v:
                    raise _fail(
                        f"{where}.initializer", "must be empty: custom initializers are not supported", v
                    )
                continue
            if k in ("device", "dtype"):
                if v is not None:
                    raise _fail(
                        f"{where}.{k}", "must be null (fedloom places the model itself)", v, component
                    )
                continue
            if k not in LAYERS[name]:
                raise _fail(f"{where}.{k}", f"is not an argument of {name} ({', '.join(LAYERS[name])})", v)
            out[k] = v
        layers.append(out)
    if not layers:
        raise _fail("nn_define", "must hold at least one layer", nn_define, component)
    return layers


def _keras_layers(nn_define: Any, component: str | None) -> list[dict[str, Any]]:
    cfg = nn_define.get("config") if isinstance(nn_define, dict) else None
    items = cfg.get("layers") if isinstance(cfg, dict) else cfg
    if (
        not isinstance(nn_define, dict)
        or nn_define.get("class_name") != "Sequential"
        or not isinstance(items, list)
    ):
        raise _fail(
            "nn_define", "must be a keras Sequential model ({'class_name': 'Sequential', ...})", nn_define
        )
    layers: list[dict[str, Any]] = []
    width: int | None = None
    for i, item in enumerate(items):
        where = f"nn_define.config.layers.{i}"
        kind, conf = item.get("class_name"), item.get("config", {})
        if kind == "Dense":
            shape = conf.get("batch_input_shape") or conf.get("input_shape")
            if shape:
                width = int(shape[-1])
            if width is None:
                raise _fail(
                    f"{where}.config.input_shape", "is needed on the first Dense layer", None, component
                )
            units = conf.get("units")
            if not isinstance(units, int) or units < 1:
                raise _fail(f"{where}.config.units", "must be an int >= 1", units, component)
            layers.append(
                {
                    "layer": "Linear",
                    "in_features": width,
                    "out_features": units,
                    "bias": conf.get("use_bias", True),
                }
            )
            width = units
            act = conf.get("activation", "linear")
        elif kind == "Dropout":
            layers.append({"layer": "Dropout", "p": float(conf.get("rate", 0.5))})
            continue
        elif kind == "Activation":
            act = conf.get("activation")
        else:
            raise _fail(f"{where}.class_name", "must be Dense, Dropout or Activation", kind, component)
        if act not in (None, "linear"):
            if act not in KERAS_ACTIVATIONS:
                raise _fail(
                    f"{where}.config.activation", f"must be one of {', '.join(KERAS_ACTIVATIONS)}", act
                )
            layers.append({"layer": KERAS_ACTIVATIONS[act], **({"dim": 1} if act == "softmax" else {})})
    if not layers:
        raise _fail("nn_define", "must hold at least one layer", nn_define, component)
    return layers


def parse_homo_nn(conf: dict[str, Any], component: str | None = None) -> NNSpec:
    """Parse a FATE HomoNN conf (any of the three shapes in the module docstring).

    Raises
    ------
    ConfigError
        An unknown or unsupported name, naming the field.
    """
    c = dict(conf)
    p = HomoNNParams()
    epochs: int | None = None
    aggregate_every = 1
    # -- network
    config_type = c.pop("config_type", None)
    nn_define = c.pop("nn_define", None)
    zoo = c.pop("model", None)
    spec = NNSpec()
    if zoo is not None:
        from fedloom.models.recipe import MODELS

        if not isinstance(zoo, dict) or zoo.get("name") not in ("mlp", "tabular_mlp"):
            raise _fail("model.name", "must be 'mlp' or 'tabular_mlp' for tabular data", zoo, component)
        if zoo.get("name") not in MODELS:  # pragma: no cover - the recipe table names both
            raise _fail("model.name", "is not a known model", zoo.get("name"), component)
        n_classes = zoo.get("n_classes")
        if not isinstance(n_classes, int) or n_classes < 2:
            raise _fail("model.n_classes", "must be an int >= 2", n_classes, component)
        spec.zoo = {
            "name": zoo["name"],
            "params": dict(zoo.get("params", {})),
            "n_classes": n_classes,
            "in_features": 0,
        }
    elif nn_define is None:
        raise _fail("nn_define", "is required (or fedloom's 'model')", None, component)
    elif config_type in (None, "pytorch", "nn"):
        spec.layers = _torch_layers(nn_define, component)
    elif config_type == "keras":
        spec.layers = _keras_layers(nn_define, component)
    else:
        raise _fail("config_type", "must be 'pytorch' or 'keras'", config_type, component)
    # -- loss
    loss = c.pop("loss", None)
    loss_name = loss.get("loss_fn") if isinstance(loss, dict) else loss
    if isinstance(loss, dict):
        extra = {k: v for k, v in loss.items() if k != "loss_fn" and v not in (None, "mean", 0.0, -100)}
        if extra:
            raise _fail(
                f"loss.{sorted(extra)[0]}", "is not supported (only the default reduction)", extra, component
            )
    if loss_name is None:
        p.loss = "auto"
    elif loss_name in LOSSES:
        p.loss = LOSSES[loss_name]
    else:
        raise _fail("loss.loss_fn", f"must be one of {', '.join(LOSSES)}", loss_name, component)
    # -- optimiser
    opt = c.pop("optimizer", None)
    if isinstance(opt, dict):
        opt = dict(opt)
        name = str(opt.pop("optimizer", "SGD"))
        opt.pop("config_type", None)
        if name.lower() not in OPTIMIZERS:
            raise _fail("optimizer.optimizer", f"must be one of {', '.join(OPTIMIZERS)}", name, component)
        p.optimizer = OPTIMIZERS[name.lower()]
        p.lr = opt.pop("lr", opt.pop("learning_rate", p.lr))
        p.weight_decay = opt.pop("weight_decay", 0.0)
        p.momentum = opt.pop("momentum", 0.0)
        kwargs = opt.pop("kwargs", {}) or {}
        for k, v in {**opt, **kwargs}.items():
            if k not in OPTIMIZER_EXTRA:
                raise _fail(f"optimizer.{k}", "is not a supported optimiser argument", v, component)
            p.optimizer_params[k] = tuple(v) if isinstance(v, list) else v
    elif isinstance(opt, str):
        if opt.lower() not in OPTIMIZERS:
            raise _fail("optimizer", f"must be one of {', '.join(OPTIMIZERS)}", opt, component)
        p.optimizer, p.momentum = OPTIMIZERS[opt.lower()], 0.0
    elif opt is not None:
        raise _fail("optimizer", "must be a name or a dict", opt, component)
    # -- trainer (FATE 1.9+)
    trainer = c.pop("trainer", None)
    if trainer is not None:
        if not isinstance(trainer, dict) or trainer.get("trainer_name", "fedavg_trainer") != "fedavg_trainer":
            raise _fail("trainer.trainer_name", "must be 'fedavg_trainer'", trainer, component)
        tp = dict(trainer.get("param", {}) or {})
        epochs = tp.pop("epochs", None)
        p.batch_size = tp.pop("batch_size", p.batch_size)
        aggregate_every = tp.pop("aggregate_every_n_epoch", 1)
        p.secure_aggregate = tp.pop("secure_aggregate", True)
        p.early_stop = "none" if tp.get("tol") is None else "diff"
        if "tol" in tp:
            p.tol = tp.pop("tol") or 0.0
        for k in (
            "validation_freqs",
            "shuffle",
            "data_loader_worker",
            "cuda",
            "checkpoint_save_freqs",
            "weighted_aggregation",
        ):
            tp.pop(k, None)
        if tp:
            raise _fail(
                f"trainer.param.{sorted(tp)[0]}", "is not a supported fedavg_trainer parameter", tp, component
            )
    # -- FATE 1.x top-level names
    if "max_iter" in c:
        epochs = c.pop("max_iter")
    if "epochs" in c:
        epochs = c.pop("epochs")
    if "aggregate_every_n_epoch" in c:
        aggregate_every = c.pop("aggregate_every_n_epoch")
    if "batch_size" in c:
        p.batch_size = c.pop("batch_size")
    for name in ("torch_seed", "seed"):
        if name in c:
            p.seed = c.pop(name)
    for name in ("secure_aggregate", "scale_bits", "local_epochs", "max_grad_norm"):
        if name in c:
            setattr(p, name, c.pop(name))
    early = c.pop("early_stop", None)
    if isinstance(early, dict):
        p.early_stop, p.tol = early.get("early_stop", "diff"), early.get("eps", p.tol)
    elif isinstance(early, str):
        p.early_stop = early
    n_classes_hint = c.pop("n_classes", None)
    if spec.zoo is not None and n_classes_hint is not None:
        spec.zoo["n_classes"] = n_classes_hint
    dataset = c.pop("dataset", None)
    if dataset is not None and (
        not isinstance(dataset, dict) or dataset.get("dataset_name", "table") != "table"
    ):
        raise _fail("dataset.dataset_name", "must be 'table' (tabular Frames)", dataset, component)
    for ignored in (
        "metrics",
        "encode_label",
        "callback_param",
        "validation_freqs",
        "cv_param",
        "api_version",
    ):
        c.pop(ignored, None)
    if c:
        name = sorted(c)[0]
        raise _fail(name, "is not a known parameter", c[name], component)
    for name, value in (("epochs", epochs), ("aggregate_every_n_epoch", aggregate_every)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise _fail(name, "must be an int >= 1", value, component)
    p.local_epochs = aggregate_every
    p.max_iter = math.ceil((epochs or 10) / aggregate_every)
    # Softmax + cross-entropy would apply softmax twice: train the same probabilities with NLL.
    if spec.layers and spec.layers[-1]["layer"] == "Softmax" and p.loss == "CrossEntropyLoss":
        spec.layers[-1] = {"layer": "LogSoftmax", "dim": spec.layers[-1].get("dim", 1)}
        p.loss = "NLLLoss"
    if spec.layers and spec.layers[-1]["layer"] == "LogSoftmax" and p.loss == "auto":
        p.loss = "NLLLoss"
    if spec.zoo is not None and p.loss in ("auto", "CrossEntropyLoss"):
        p.loss = "NLLLoss"  # the zoo MLPs return log-probabilities
    try:
        p.validate()
    except ConfigError as err:
        err.component = component
        raise
    spec.params = p
    return spec


class HomoNNComponentParams(BaseModel):
    """FATE's ``HomoNN`` parameters, checked by :func:`parse_homo_nn`."""

    model_config = ConfigDict(extra="allow")

    def as_dict(self) -> dict[str, Any]:
        """The parameters as written in the conf."""
        return dict(self.model_extra or {})

    def build(self, component: str | None = None) -> NNSpec:
        """The parsed network and settings."""
        return parse_homo_nn(self.as_dict(), component)

    @model_validator(mode="after")
    def _check(self) -> HomoNNComponentParams:
        self.build()
        return self


def _tensors(frame: Frame, spec: NNSpec) -> tuple[Any, Any]:
    import torch

    if frame.label is None:
        raise DataError(
            "HomoNN trains on labelled rows on every client; set with_label: true in DataTransform",
            field="label",
        )
    if frame.n_features != spec.in_features:
        raise DataError(
            f"the network takes {spec.in_features} inputs; {frame.table or 'the data'} has "
            f"{frame.n_features} features",
            field="nn_define",
        )
    x = torch.from_numpy(np.ascontiguousarray(frame.features, dtype=np.float32))
    loss = spec.params.loss
    label = np.asarray(frame.label)
    if loss in ("CrossEntropyLoss", "NLLLoss", "auto"):
        y = label.astype(np.int64)
        if not np.array_equal(y, label) or (y < 0).any():
            raise DataError("class labels must be integers 0..K-1 for a classification loss", field="label")
        return x, torch.from_numpy(y)
    y32 = label.astype(np.float32)
    if loss in ("BCELoss", "BCEWithLogitsLoss") and not np.isin(y32, (0.0, 1.0)).all():
        raise DataError(f"{loss} needs labels 0 or 1", field="label")
    return x, torch.from_numpy(y32).reshape(-1, 1)


def _predict(model: Any, spec: NNSpec, frame: Frame) -> Predictions:
    import torch

    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(frame.features, dtype=np.float32))).double()
    loss = spec.params.loss
    if out.shape[1] == 1 and loss in ("BCELoss", "BCEWithLogitsLoss"):
        score = out[:, 0] if spec.last == "Sigmoid" else torch.sigmoid(out[:, 0])
        s = score.numpy()
        return Predictions(frame.ids, s, (s > 0.5).astype(np.int64), frame.label, "binary", [0, 1])
    if loss in ("CrossEntropyLoss", "NLLLoss", "auto"):
        probs = (
            out.exp() if spec.last == "LogSoftmax" else (out if spec.last == "Softmax" else out.softmax(-1))
        )
        pr = probs.numpy()
        k = pr.shape[1]
        result = pr.argmax(axis=1).astype(np.int64)
        if k == 2:
            return Predictions(frame.ids, pr[:, 1], result, frame.label, "binary", [0, 1])
        return Predictions(frame.ids, pr, result, frame.label, "multi", list(range(k)))
    v = out[:, 0].numpy()
    return Predictions(frame.ids, v, v, frame.label, "regression")


def _state_json(model: Any) -> dict[str, Any]:
    return {k: v.detach().cpu().double().reshape(-1).tolist() for k, v in model.state_dict().items()}


def _load_state(model: Any, state: dict[str, Any]) -> None:
    import torch

    own = model.state_dict()
    if set(own) != set(state):
        raise DataError("the stored HomoNN weights do not fit the stored architecture", field="input.model")
    model.load_state_dict(
        {k: torch.tensor(state[k], dtype=torch.float64).reshape(own[k].shape).to(own[k].dtype) for k in own}
    )


class HomoNNClientComponent(Component):
    """Guest or host of ``HomoNN``."""

    module = MODULE
    params: HomoNNComponentParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        from fedloom.ml.homo.lr import feature_digest
        from fedloom.ml.homo.nn import HomoNNClient

        name = self.env.component
        if is_training(inputs, MODULE):
            train, validate = train_inputs(inputs, MODULE)
            spec = self.params.build(name)
            if spec.zoo is not None:
                spec.zoo["in_features"] = train.n_features
            data = _tensors(train, spec)
            val = _tensors(validate.select_features(list(train.feature_names)), spec) if validate else None
            self.env.progress(0.0, f"FedAvg on {train.n_rows} rows, {train.n_features} features")
            client = HomoNNClient(spec.params, spec.build)
            client.schema_digest = feature_digest(train.feature_names)
            result = client.fit(ctx.sub("fit"), data, val)
            tables = [predictions_table(_predict(result.model, spec, train), "train", name)]
            if validate is not None:
                tables.append(predictions_table(_predict(result.model, spec, validate), "validate", name))
            rounds = result.history.rounds
            artifact = self.artifact(
                self.params.as_dict(),
                {"network": spec.to_dict(), "state": _state_json(result.model)},
                train.schema,
            )
            metrics = {
                "rounds": len(rounds),
                "converged": result.history.converged,
                "loss_history": [r["global_loss"] for r in rounds],
                "train_rows": train.n_rows,
            }
            return Outputs(data=[concat_tables(tables)], model=artifact, metrics=metrics)
        stored = stored_model(inputs, MODULE, name)
        frame = predict_input(inputs, MODULE)
        if stored.get("schema"):
            frame = align(frame, stored["schema"])
        spec = parse_homo_nn(dict(stored["params"]), name)
        net = stored["model"]["network"]
        spec.layers, spec.zoo = list(net["layers"]), net["zoo"]
        model = spec.build()
        _load_state(model, stored["model"]["state"])
        table = predictions_table(_predict(model, spec, frame), "test", name)
        return Outputs(data=[table], metrics={"mode": "predict", "rows": frame.n_rows})


class HomoNNArbiterComponent(Component):
    """Arbiter of ``HomoNN``: aggregates; holds no data and builds no model."""

    module = MODULE
    params: HomoNNComponentParams

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        from fedloom.ml.homo.arbiter import FedAvgArbiter

        if not is_training(inputs, MODULE):
            return Outputs(metrics={"mode": "predict"})
        spec = self.params.build(self.env.component)
        result = FedAvgArbiter(spec.params.fedavg()).fit(ctx.sub("fit"))
        artifact = self.artifact(
            self.params.as_dict(), {"network": spec.to_dict(), "rounds": result.rounds}, None
        )
        return Outputs(model=artifact, metrics=result.summary())


SPEC = register_module(
    ModuleSpec(
        MODULE,
        roles={GUEST, HOST, ARBITER},
        params_model=HomoNNComponentParams,
        inputs={"train_data", "validate_data", "test_data", "data", "eval_data", "model"},
        outputs={"data", "model"},
        requires_data=True,
        entry={GUEST: HomoNNClientComponent, HOST: HomoNNClientComponent, ARBITER: HomoNNArbiterComponent},
        description="Horizontal neural network: FedAvg of a torch model over guest and hosts, "
        "secure aggregation.",
    )
)
