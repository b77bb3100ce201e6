"""The PyTorch layer factory shared by HomoNN and HeteroNN: FATE's ``*_nn_define`` to torch.

FATE 1.9+ describes a network as torch layers keyed ``"i-j"`` and run in key order::

    {"0-0": {"layer": "Linear", "in_features": 30, "out_features": 4}, "1-1": {"layer": "ReLU"}}

Each entry is a :class:`TorchLayer`: an allow-listed ``torch.nn`` class (:data:`LAYERS`) with the
keyword arguments that class takes, nothing else (nothing from a conf is executed or passed
blindly). :func:`layers_in_order` sorts the keys, :func:`build_sequential` builds the
``torch.nn.Sequential``; :class:`LossConf` / :func:`make_loss` and :class:`OptimizerConf` /
:func:`make_optimizer` do the same for FATE's ``loss`` and ``optimizer`` sections;
:func:`save_state` / :func:`load_state` store tensors as safetensors (never pickle).

torch is imported inside the functions that need it, so parsing a conf never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import AliasChoices, BeforeValidator, ConfigDict, Field, model_validator

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import rule
from fedloom.ml.homo.params import NN_OPTIMIZERS, Momentum, NonNegative, OptionalPositive, Settings, choice

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "LAYERS",
    "LOSSES",
    "OPTIMIZERS",
    "OPTIMIZER_EXTRA",
    "Layer",
    "LossConf",
    "OptimizerConf",
    "TorchLayer",
    "build_sequential",
    "in_width",
    "layer_order",
    "layers_in_order",
    "load_state",
    "make_loss",
    "make_optimizer",
    "out_width",
    "save_state",
]

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
#: Keyword arguments of the torch optimisers passed through (besides lr, momentum, weight_decay).
OPTIMIZER_EXTRA = ("betas", "eps", "amsgrad", "nesterov", "dampening", "alpha", "centered", "lr_decay")
#: The torch optimisers by (lower-case) name; SGD and RMSprop also take ``momentum``.
OPTIMIZERS = NN_OPTIMIZERS

#: One layer: ``{"layer": "Linear", "in_features": 30, ...}`` (allow-listed name and arguments).
Layer = dict[str, object]


def _is(value: object, why: str) -> BeforeValidator:
    return rule(f"{value!r} ({why})", lambda v: v == value)


def _only(arguments: Mapping[str, object] | None, takes: tuple[str, ...], what: str) -> None:
    """Refuse a keyword argument that ``what`` does not take (nothing from a conf is passed blindly)."""
    for name in arguments or {}:
        if name not in takes:
            raise ValueError(f"is {what}, which takes no {name!r} (it takes {', '.join(takes) or 'nothing'})")


class TorchLayer(Settings):
    """One ``nn_define`` entry: an allow-listed ``torch.nn`` layer and its keyword arguments."""

    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True)

    layer: Annotated[str, choice(tuple(LAYERS))]
    initializer: Annotated[object, rule("empty: custom initializers are not supported", lambda v: not v)] = (
        None
    )
    device: Annotated[object, _is(None, "fedloom places the model itself")] = None
    dtype: Annotated[object, _is(None, "fedloom places the model itself")] = None

    @model_validator(mode="after")
    def _arguments(self) -> TorchLayer:
        _only(self.model_extra, LAYERS[self.layer], f"a {self.layer} layer")
        return self

    def spec(self) -> Layer:
        """``{"layer": name, **arguments}`` (FATE's ``initializer`` / ``device`` / ``dtype`` dropped)."""
        return {"layer": self.layer, **dict(self.model_extra or {})}


class LossConf(Settings):
    """``loss``: a torch / keras loss name, with torch's other arguments at their defaults only."""

    loss_fn: Annotated[str, choice(tuple(LOSSES))]
    weight: Annotated[object, _is(None, "only the default reduction is supported")] = None
    size_average: Annotated[object, _is(None, "only the default reduction is supported")] = None
    reduce: Annotated[object, _is(None, "only the default reduction is supported")] = None
    reduction: Annotated[object, _is("mean", "only the default reduction is supported")] = "mean"
    ignore_index: Annotated[object, _is(-100, "only the default is supported")] = -100
    label_smoothing: Annotated[object, _is(0.0, "only the default is supported")] = 0.0

    @property
    def torch_name(self) -> str:
        """The torch loss this names (:data:`LOSSES`)."""
        return LOSSES[self.loss_fn]


class OptimizerConf(Settings):
    """``optimizer``: a torch optimiser name, its learning rate, momentum and weight decay, and any
    of torch's other arguments (:data:`OPTIMIZER_EXTRA`) at the top or under ``kwargs``."""

    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True, populate_by_name=True)
    ignored: ClassVar[frozenset[str]] = frozenset({"config_type"})

    optimizer: Annotated[str, choice(NN_OPTIMIZERS)] = "sgd"
    lr: OptionalPositive = Field(default=None, validation_alias=AliasChoices("lr", "learning_rate"))
    weight_decay: NonNegative = 0.0
    momentum: Momentum = 0.0
    kwargs: dict[str, object] | None = None

    @model_validator(mode="after")
    def _arguments(self) -> OptimizerConf:
        _only({**(self.model_extra or {}), **(self.kwargs or {})}, OPTIMIZER_EXTRA, "an optimiser")
        return self

    def extra(self) -> dict[str, object]:
        """The torch keyword arguments given besides lr, momentum and weight decay (lists as tuples)."""
        given = {**(self.model_extra or {}), **(self.kwargs or {})}
        return {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}


# -- order and widths ---------------------------------------------------------------------------------
def layer_order(key: str) -> tuple[int, ...]:
    """The run order of an ``"i-j"`` key (ValueError worded for a field message otherwise)."""
    try:
        return tuple(int(p) for p in key.split("-"))
    except ValueError:
        raise ValueError(f"must be keyed 'i-j' (integers: the layer order); {key!r} is not") from None


def layers_in_order(value: dict[str, TorchLayer] | None) -> dict[str, TorchLayer] | None:
    """An ``nn_define`` sorted by :func:`layer_order` (ValueError when it holds no layer)."""
    if value is None:
        return None
    if not value:
        raise ValueError("must hold at least one layer")
    return dict(sorted(value.items(), key=lambda kv: layer_order(kv[0])))


def in_width(layers: Iterable[Layer]) -> int | None:
    """The input width the first layer that says one says (``in_features`` / ``num_features``)."""
    for spec in layers:
        for key in ("in_features", "num_features"):
            width = spec.get(key)
            if isinstance(width, int) and not isinstance(width, bool):
                return width
    return None


def out_width(layers: Iterable[Layer]) -> int | None:
    """The output width of the last layer that changes the width (``out_features``), if any."""
    width = None
    for spec in layers:
        w = spec.get("out_features")
        if isinstance(w, int) and not isinstance(w, bool):
            width = w
    return width


# -- building ---------------------------------------------------------------------------------------
def build_sequential(layers: Iterable[Layer]) -> nn.Sequential:
    """The ``torch.nn.Sequential`` of allow-listed ``layers`` (as :meth:`TorchLayer.spec` gives them)."""
    from torch import nn

    modules = []
    for layer in layers:
        name = str(layer["layer"])
        if name not in LAYERS:  # specs read back from a stored model are checked again
            raise DataError(f"unknown layer {name!r} in a stored network", field="model")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.items() if k != "layer"}
        modules.append(getattr(nn, name)(**kwargs))
    return nn.Sequential(*modules)


def make_loss(
    name: str, model: nn.Module | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The torch loss ``name`` as ``loss(output, target)`` (mean reduction).

    ``"auto"``: NLL for a model whose ``output`` attribute is ``"log_probs"``, else cross-entropy.
    """
    import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)

    if name == "auto":
        return F.nll_loss if getattr(model, "output", "logits") == "log_probs" else F.cross_entropy
    table: dict[str, Callable[..., torch.Tensor]] = {
        "CrossEntropyLoss": F.cross_entropy,
        "NLLLoss": F.nll_loss,
        "BCELoss": F.binary_cross_entropy,
        "BCEWithLogitsLoss": F.binary_cross_entropy_with_logits,
        "MSELoss": F.mse_loss,
        "L1Loss": F.l1_loss,
        "SmoothL1Loss": F.smooth_l1_loss,
    }
    return table[name]


def make_optimizer(
    parameters: Iterable[torch.Tensor],
    name: str,
    *,
    lr: float,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    extra: Mapping[str, object] | None = None,
    owner: str = "HomoNN",
    field: str = "optimizer_params",
) -> torch.optim.Optimizer:
    """A torch optimiser (:data:`OPTIMIZERS`, lower-case) over ``parameters``.

    Raises
    ------
    ConfigError
        ``extra`` holds an argument this optimiser does not take (names ``owner`` and ``field``).
    """
    import torch

    classes: dict[str, Callable[..., torch.optim.Optimizer]] = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
    }
    params = [q for q in parameters if q.requires_grad]
    mom = {"momentum": momentum} if name in ("sgd", "rmsprop") else {}
    try:
        return classes[name](params, lr=lr, weight_decay=weight_decay, **mom, **dict(extra or {}))
    except TypeError as err:
        raise ConfigError(
            f"The '{field}' parameter of {owner} has a name {name} does not take: {err}", field=field
        ) from err


# -- storing ----------------------------------------------------------------------------------------
def save_state(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """Named tensors as safetensors bytes (detached, on the CPU, contiguous)."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def load_state(data: bytes, what: str = "model") -> dict[str, torch.Tensor]:
    """Inverse of :func:`save_state` (DataError when the bytes are not safetensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except SafetensorError as err:
        raise DataError(f"the stored {what} weights are unreadable: {err}", field="input.model") from None
