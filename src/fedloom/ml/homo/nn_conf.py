"""FATE's ``HomoNN`` parameters (:class:`HomoNNConf`): the network and its federated training.

The network comes in one of three shapes:

- FATE 1.9+ ``nn_define`` of ``torch.nn`` layers keyed ``"i-j"`` (run in key order), e.g.
  ``{"0-0": {"layer": "Linear", "in_features": 30, "out_features": 1}, "1-1": {"layer":
  "Sigmoid"}}``, with ``loss.loss_fn``, ``optimizer.optimizer`` (+ its keyword arguments),
  ``trainer.param.{epochs, batch_size, aggregate_every_n_epoch, secure_aggregate}``,
  ``torch_seed`` (the shapes of ``fate_examples/dsl_v2/homo_nn``);
- FATE 1.x ``config_type: "keras"`` with a keras ``Sequential`` JSON of ``Dense`` /
  ``Dropout`` / ``Activation`` layers (``max_iter``, ``batch_size``, ``aggregate_every_n_epoch``,
  ``optimizer``, ``loss``), mapped to the equivalent torch layers;
- fedloom's ``model: {"name": "mlp" | "tabular_mlp", "params": {...}, "n_classes": K}`` naming a
  model of :mod:`fedloom.models.recipe`.

Layers come from the shared factory :mod:`fedloom.ml.torch_layers` (also HeteroNN's): an
allow-list of ``torch.nn`` classes (:data:`LAYERS`) with checked keyword
arguments; nothing from the conf is executed. Anything else (an unknown layer, a non-empty
``initializer``, a ``device``, a custom trainer or dataset) is a
:class:`~fedloom.core.ConfigError` naming the field. No torch is imported here.

One deliberate change: a network ending in ``Softmax`` trained with ``CrossEntropyLoss`` (FATE's
multi-class example) would apply softmax twice; fedloom trains it as ``LogSoftmax`` + ``NLLLoss``,
which is the cross-entropy of the same probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
)

from fedloom.core.errors import ConfigError
from fedloom.core.validation import integer, rule
from fedloom.ml.homo.params import (
    Checked,
    EarlyStop,
    Flag,
    HomoNNParams,
    OptionalBatchSize,
    OptionalFlag,
    OptionalNonNegative,
    OptionalPositive,
    OptionalRounds,
    OptionalScaleBits,
    OptionalSeed,
    Settings,
    is_int,
)
from fedloom.ml.torch_layers import (
    LAYERS,
    LOSSES,
    OPTIMIZER_EXTRA,
    Layer,
    LossConf,
    OptimizerConf,
    TorchLayer,
    layers_in_order,
)
from fedloom.ml.torch_layers import _is as _is

__all__ = [
    "KERAS_ACTIVATIONS",
    "LAYERS",
    "LOSSES",
    "OPTIMIZER_EXTRA",
    "HomoNNConf",
    "LossConf",
    "NNSpec",
    "OptimizerConf",
    "TorchLayer",
    "ZooSpec",
]

KERAS_ACTIVATIONS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax", "elu": "ELU"}


# -- what the conf describes ------------------------------------------------------------------------
@dataclass(frozen=True)
class ZooSpec:
    """A tabular model of :mod:`fedloom.models.recipe`: its name, parameters and output width."""

    name: str
    params: dict[str, object]
    n_classes: int
    in_features: int = 0


@dataclass
class NNSpec:
    """A parsed HomoNN conf: the network as a list of layers (or a zoo model), and the training.

    Attributes
    ----------
    layers
        ``[{"layer": "Linear", "in_features": 30, ...}, ...]`` in order, or empty with ``zoo`` set.
    zoo
        A model of :mod:`fedloom.models.recipe`.
    params
        FedAvg and local training settings.
    """

    layers: list[Layer] = field(default_factory=list)
    zoo: ZooSpec | None = None
    params: HomoNNParams = field(default_factory=HomoNNParams)

    @property
    def in_features(self) -> int:
        """The network's input width (the first layer's ``in_features`` / ``num_features``)."""
        if self.zoo is not None:
            return self.zoo.in_features
        for spec in self.layers:
            for key in ("in_features", "num_features"):
                width = spec.get(key)
                if is_int(width):
                    return width
        raise ConfigError(
            "the network's first layer must say its input width (in_features)", field="nn_define"
        )

    @property
    def last(self) -> str:
        """The last layer's name (the zoo models end in ``LogSoftmax``)."""
        return "LogSoftmax" if self.zoo is not None else str(self.layers[-1]["layer"])

    def network(self) -> dict[str, object]:
        """The architecture as stored with a model: ``{"layers", "zoo"}``."""
        return {"layers": self.layers, "zoo": None if self.zoo is None else asdict(self.zoo)}

    @classmethod
    def from_network(cls, network: Mapping[str, object], params: HomoNNParams) -> NNSpec:
        """Inverse of :meth:`network` (the layers were checked when the model was trained)."""
        layers, zoo = network.get("layers"), network.get("zoo")
        return cls(
            [dict(ly) for ly in layers if isinstance(ly, dict)] if isinstance(layers, list) else [],
            ZooSpec(**zoo) if isinstance(zoo, dict) else None,
            params,
        )


# -- the conf's sections --------------------------------------------------------------------------
class ZooConf(Settings):
    """``model``: fedloom's models of :mod:`fedloom.models.recipe`: tabular (``mlp``,
    ``tabular_mlp``) or on tables of token ids (``tiny_gpt``, ``bert``; see
    :class:`fedloom.ml.homo.recipe_fedavg.TokenTableModel`)."""

    name: Annotated[
        str,
        rule(
            "'mlp' or 'tabular_mlp' (tabular data), 'tiny_gpt' or 'bert' (token ids)",
            lambda v: v in ("mlp", "tabular_mlp", "tiny_gpt", "bert"),
        ),
    ]
    params: dict[str, object] = Field(default_factory=dict)
    n_classes: Annotated[int | None, integer(ge=2)] = None


class TrainerParam(Settings):
    """``trainer.param`` of FATE's ``fedavg_trainer`` (its data loading, checkpoint and validation
    settings accepted, with no effect)."""

    ignored: ClassVar[frozenset[str]] = frozenset(
        {
            "validation_freqs",
            "shuffle",
            "data_loader_worker",
            "cuda",
            "checkpoint_save_freqs",
            "weighted_aggregation",
        }
    )

    epochs: OptionalRounds = None
    batch_size: OptionalBatchSize = None
    aggregate_every_n_epoch: OptionalRounds = None
    secure_aggregate: Flag = True
    tol: OptionalNonNegative = None


class TrainerConf(Settings):
    """``trainer``: FATE's ``fedavg_trainer`` only."""

    trainer_name: Annotated[str, _is("fedavg_trainer", "the only trainer of fedloom's HomoNN")] = (
        "fedavg_trainer"
    )
    param: Annotated[TrainerParam, BeforeValidator(lambda v: v or {})] = TrainerParam()


class DatasetConf(Settings):
    """``dataset``: FATE's ``table`` dataset (the tabular Frames fedloom trains on)."""

    ignored: ClassVar[frozenset[str]] = frozenset({"param"})

    dataset_name: Annotated[str, _is("table", "tabular Frames")] = "table"


class EarlyStopConf(Settings):
    """``early_stop``: a rule name, or FATE 1.x's ``{"early_stop": ..., "eps": ...}``."""

    early_stop: EarlyStop = "diff"
    eps: OptionalNonNegative = None


def _named(key: str) -> BeforeValidator:
    """FATE's short form ``"loss": "BCELoss"`` as the long one ``{"loss_fn": "BCELoss"}``."""
    return BeforeValidator(lambda v: {key: v} if isinstance(v, str) else v)


# -- the network ------------------------------------------------------------------------------------
def _layers_by_key(value: object, info: ValidationInfo) -> object:
    """Every shape of ``nn_define`` as FATE 1.9's ``{"i-j": layer}``; ``null`` only with a zoo model."""
    if value is None:
        if info.data.get("model") is None:
            raise ValueError("is required (or fedloom's 'model')")
        return None
    if info.data.get("config_type") == "keras":
        return {str(i): layer for i, layer in enumerate(keras_layers(value))}
    if isinstance(value, list):
        return {str(i): layer for i, layer in enumerate(value)}
    if not isinstance(value, dict):
        raise ValueError("must be a dict of layers keyed 'i-j' or a list of layers")
    return value


_in_order = layers_in_order


def _keras_layer(i: int, item: object, width: int | None) -> tuple[list[Layer], int | None]:
    """One keras layer as torch layers, and the width after it."""
    kind = item.get("class_name") if isinstance(item, dict) else None
    conf = item.get("config", {}) if isinstance(item, dict) else {}
    where = f"layer {i} ({kind})"
    if kind == "Dropout":
        return [{"layer": "Dropout", "p": float(conf.get("rate", 0.5))}], width
    out: list[Layer] = []
    if kind == "Dense":
        shape = conf.get("batch_input_shape") or conf.get("input_shape")
        width = int(shape[-1]) if shape else width
        units = conf.get("units")
        if width is None:
            raise ValueError(
                f"must give the input width (config.input_shape) on its first Dense layer, {where}"
            )
        if not is_int(units) or units < 1:
            raise ValueError(f"must give each Dense layer config.units, an int >= 1; {where} has {units!r}")
        out.append(
            {
                "layer": "Linear",
                "in_features": width,
                "out_features": units,
                "bias": conf.get("use_bias", True),
            }
        )
        width = units
    elif kind != "Activation":
        raise ValueError(f"must hold Dense, Dropout or Activation layers only; {where} is not one")
    act = conf.get("activation", "linear" if kind == "Dense" else None)
    if act in (None, "linear"):
        return out, width
    if act not in KERAS_ACTIVATIONS:
        raise ValueError(f"must use the activations {', '.join(KERAS_ACTIVATIONS)}; {where} has {act!r}")
    out.append({"layer": KERAS_ACTIVATIONS[act], **({"dim": 1} if act == "softmax" else {})})
    return out, width


def keras_layers(nn_define: object) -> list[Layer]:
    """A keras ``Sequential`` JSON of ``Dense`` / ``Dropout`` / ``Activation`` layers as torch layers.

    Raises
    ------
    ValueError
        Not such a model (the message completes "The 'nn_define' parameter of HomoNN ...").
    """
    cfg = nn_define.get("config") if isinstance(nn_define, dict) else None
    items = cfg.get("layers") if isinstance(cfg, dict) else cfg
    if (
        not isinstance(nn_define, dict)
        or nn_define.get("class_name") != "Sequential"
        or not isinstance(items, list)
    ):
        raise ValueError("must be a keras Sequential model ({'class_name': 'Sequential', ...})")
    layers: list[Layer] = []
    width: int | None = None
    for i, item in enumerate(items):
        more, width = _keras_layer(i, item, width)
        layers.extend(more)
    return layers


# -- the whole conf ---------------------------------------------------------------------------------
class HomoNNConf(Checked):
    """FATE's ``HomoNN`` parameters (any of the three shapes of the module docstring).

    FedAvg runs ``ceil(epochs / aggregate_every_n_epoch)`` rounds of ``aggregate_every_n_epoch``
    local epochs (10 epochs when none is given); FATE 1.x's top-level ``max_iter`` / ``epochs`` /
    ``batch_size`` / ``aggregate_every_n_epoch`` win over ``trainer.param``'s. :meth:`spec` gives the
    network and :class:`~fedloom.ml.homo.params.HomoNNParams`.
    """

    owner: ClassVar[str] = "HomoNN"
    #: FATE's evaluation, label encoding and API switches: accepted, no effect.
    ignored: ClassVar[frozenset[str]] = frozenset(
        {"metrics", "encode_label", "callback_param", "validation_freqs", "cv_param", "api_version"}
    )

    config_type: Annotated[
        str | None, rule("'pytorch' or 'keras'", lambda v: v in (None, "pytorch", "nn", "keras"))
    ] = None
    model: ZooConf | None = None
    nn_define: Annotated[
        dict[str, TorchLayer] | None, BeforeValidator(_layers_by_key), AfterValidator(_in_order)
    ] = None
    loss: Annotated[LossConf | None, _named("loss_fn")] = None
    optimizer: Annotated[OptimizerConf | None, _named("optimizer")] = None
    trainer: TrainerConf | None = None
    dataset: DatasetConf | None = None
    early_stop: Annotated[EarlyStopConf | None, _named("early_stop")] = None
    max_iter: OptionalRounds = None
    epochs: OptionalRounds = None
    aggregate_every_n_epoch: OptionalRounds = None
    local_epochs: OptionalRounds = None
    batch_size: OptionalBatchSize = None
    torch_seed: OptionalSeed = None
    seed: OptionalSeed = None
    secure_aggregate: OptionalFlag = None
    scale_bits: OptionalScaleBits = None
    max_grad_norm: OptionalPositive = None
    n_classes: Annotated[int | None, integer(ge=2, optional=True)] = None

    def spec(self) -> NNSpec:
        """The network and the training settings this conf describes."""
        loss = "auto" if self.loss is None else LOSSES[self.loss.loss_fn]
        layers = [layer.spec() for layer in (self.nn_define or {}).values()]
        zoo = None
        if self.model is not None:
            n_classes = self.n_classes or self.model.n_classes
            assert n_classes is not None  # ZooConf refuses a zoo model without n_classes
            zoo = ZooSpec(self.model.name, dict(self.model.params), n_classes)
        # Softmax + cross-entropy would apply softmax twice: train the same probabilities with NLL.
        if layers and layers[-1]["layer"] == "Softmax" and loss == "CrossEntropyLoss":
            layers[-1] = {"layer": "LogSoftmax", "dim": layers[-1].get("dim", 1)}
            loss = "NLLLoss"
        if layers and layers[-1]["layer"] == "LogSoftmax" and loss == "auto":
            loss = "NLLLoss"
        if zoo is not None and loss in ("auto", "CrossEntropyLoss"):
            loss = "NLLLoss"  # the zoo MLPs return log-probabilities
        return NNSpec(layers, zoo, HomoNNParams.model_validate({**self._training(), "loss": loss}))

    def _training(self) -> dict[str, object]:
        """HomoNNParams' keyword arguments but the loss: trainer.param, then the top-level names."""
        tp = (self.trainer or TrainerConf()).param
        out: dict[str, object] = {"secure_aggregate": tp.secure_aggregate, **self._optimizer()}
        if tp.tol is not None:
            out.update(early_stop="diff", tol=tp.tol)
        epochs = self.epochs or self.max_iter or tp.epochs or 10
        every = self.aggregate_every_n_epoch or tp.aggregate_every_n_epoch or self.local_epochs or 1
        out.update(max_iter=math.ceil(epochs / every), local_epochs=every)
        seed = self.seed if self.seed is not None else self.torch_seed
        top = {
            "batch_size": self.batch_size if self.batch_size is not None else tp.batch_size,
            "seed": seed,
            "secure_aggregate": self.secure_aggregate,
            "scale_bits": self.scale_bits,
            "max_grad_norm": self.max_grad_norm,
        }
        out.update({k: v for k, v in top.items() if v is not None})
        if self.early_stop is not None:
            out["early_stop"] = self.early_stop.early_stop
            if self.early_stop.eps is not None:
                out["tol"] = self.early_stop.eps
        return out

    def _optimizer(self) -> dict[str, object]:
        opt = self.optimizer
        if opt is None:
            return {}
        lr = {} if opt.lr is None else {"lr": opt.lr}
        return {
            "optimizer": opt.optimizer,
            "momentum": opt.momentum,
            "weight_decay": opt.weight_decay,
            "optimizer_params": opt.extra(),
            **lr,
        }
