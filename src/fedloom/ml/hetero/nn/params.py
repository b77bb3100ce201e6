"""Parameters of Hetero NN: FATE 1.x ``HeteroNNParam`` names, defaults and meaning.

A FATE conf's ``hetero_nn_0`` section (common and role parts merged by the component) is read
with :meth:`HeteroNNParams.from_dict`; any problem is one :class:`~fedloom.core.errors.ConfigError`
naming the dotted field (``interactive_layer_define.out_dim``, ``optimizer.betas``...).

Networks (:mod:`fedloom.ml.torch_layers`, the factory HomoNN uses too):

- ``bottom_nn_define``: this party's bottom model (every party; ``null`` in the common part of
  FATE's confs, given per role);
- ``top_nn_define``: the guest's top model (hosts have none);
- ``interactive_layer_define``: FATE's one ``InteractiveLayer`` (``{"0-0": {...}}`` or the layer
  itself): ``out_dim``, ``activation`` (``relu``, ``sigmoid``, ``tanh``, ``linear``/``null``),
  ``dropout`` (rate on the layer's inputs), ``need_guest`` (the guest's bottom output enters the
  layer too), ``host_num``, ``guest_dim`` / ``host_dim`` (widths of the bottom outputs),
  ``guest_bias`` / ``host_bias`` (one bias of the layer when either is set).

Training: ``optimizer`` (torch name and arguments, for every bottom and the top model),
``interactive_layer_lr`` (plain SGD on the interactive weights, as in FATE), ``loss``,
``epochs``, ``batch_size`` (``-1``: all rows), ``early_stop`` / ``tol`` (on the epoch loss),
``validation_freqs`` / ``early_stopping_rounds`` / ``metrics`` / ``use_first_metric_only`` (top
level or in ``callback_param``), ``selector_param`` (SelectiveBP), ``encrypt_param``,
``floating_point_precision`` (bits of the fixed-point encoding of the plaintext multipliers in
the encrypted products; FATE's 23), ``task_type``, ``seed`` / ``torch_seed``.

Differences from FATE on purpose: ``encrypt_param.key_length`` defaults to 2048 (FATE's examples
set 1024, accepted); ``encrypt_param.method: plain`` (no encryption) exists for debugging and for
measuring the cost of cryptography only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from fedloom.core.validation import integer, number, rule
from fedloom.ml.hetero.glm.params import CallbackParam, CrossValidationParam, PredictParam
from fedloom.ml.hetero.params_common import EncryptedModeCalculatorParam, EncryptParam
from fedloom.ml.homo.params import (
    BatchSize,
    Checked,
    Flag,
    NonNegative,
    OptionalSeed,
    PositiveNumber,
    Rounds,
    Settings,
    choice,
)
from fedloom.ml.torch_layers import Layer, LossConf, OptimizerConf, TorchLayer, layers_in_order

__all__ = [
    "ACTIVATIONS",
    "HeteroNNParams",
    "InteractiveLayerConf",
    "SelectorParam",
]

#: Interactive-layer activations (FATE's names) → torch layer names (``None``: linear).
ACTIVATIONS: dict[str, str | None] = {
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "linear": None,
}
TASK_TYPES = ("classification", "regression")
EARLY_STOPS = ("none", "diff", "abs")


def _keyed_layers(value: object) -> object:
    """A list of layers as ``{"0": layer, ...}``; a dict is kept (its keys order the layers)."""
    if isinstance(value, list):
        return {str(i): layer for i, layer in enumerate(value)}
    return value


def _one_layer(value: object) -> object:
    """FATE's ``{"0-0": {... "layer": "InteractiveLayer"}}`` as the layer itself."""
    if isinstance(value, Mapping) and "out_dim" not in value and len(value) >= 1:
        inner = list(value.values())
        if all(isinstance(v, Mapping) for v in inner):
            if len(inner) != 1:
                raise ValueError("must hold exactly one InteractiveLayer")
            return inner[0]
    return value


class InteractiveLayerConf(Settings):
    """FATE's ``InteractiveLayer``: the layer mixing the parties' bottom outputs (see the module
    docstring). ``guest_dim`` / ``host_dim`` of ``null`` mean "the bottom model's output width"."""

    ignored: ClassVar[frozenset[str]] = frozenset({"initializer", "name"})

    layer: Annotated[str, rule("'InteractiveLayer'", lambda v: v == "InteractiveLayer")] = "InteractiveLayer"
    out_dim: Annotated[int, integer(ge=1)]
    activation: Annotated[str, choice(tuple(ACTIVATIONS), none="linear")] = "linear"
    dropout: Annotated[float | None, number(ge=0, lt=1, optional=True)] = None
    need_guest: Flag = True
    host_num: Annotated[int, integer(ge=1)] = 1
    guest_dim: Annotated[int | None, integer(ge=1, optional=True)] = None
    host_dim: Annotated[int | None, integer(ge=1, optional=True)] = None
    guest_bias: Flag = True
    host_bias: Flag = True

    @property
    def bias(self) -> bool:
        """One bias of the layer (the guest keeps it) when either party's bias is on."""
        return self.guest_bias or self.host_bias


class SelectorParam(Settings):
    """``selector_param``: SelectiveBP (FATE 1.6).

    ``method: "relative"`` keeps each sample in the backward pass with probability
    ``p_i = max(min_prob, min(1, (L_i / mean(L)) ** beta))`` (``L_i`` the sample's loss, the mean
    over the batch), so a sample with a loss above the batch mean is always trained on and one
    below it is trained on less often. ``null``: every sample is back-propagated.
    ``selective_size`` is accepted (FATE's buffer size; fedloom selects per batch).
    """

    method: Annotated[str, choice(("relative", "none"), none="none")] = "none"
    beta: PositiveNumber = 1.0
    selective_size: Annotated[int, integer(ge=1)] = 1024
    min_prob: Annotated[float, number(ge=0, le=1)] = 0.0
    random_state: OptionalSeed = None


class HeteroNNParams(Checked):
    """All parameters of Hetero NN (FATE 1.x ``HeteroNNParam`` names; see the module docstring).

    Attributes
    ----------
    bottom_nn_define, top_nn_define
        Torch layers keyed ``"i-j"``, in key order (:class:`~fedloom.ml.torch_layers.TorchLayer`).
    interactive_layer_define
        The interactive layer (:class:`InteractiveLayerConf`).
    optimizer, loss
        Torch optimiser (bottom and top models) and loss.
    interactive_layer_lr
        Learning rate of the interactive weights (SGD).
    epochs, batch_size
        Passes over the data; rows per batch (``-1``: all).
    early_stop, tol
        ``diff`` (|loss_t − loss_{t−1}| < tol), ``abs`` (loss < tol) or ``none``.
    validation_freqs, early_stopping_rounds, metrics, use_first_metric_only
        Validation every ``validation_freqs`` epochs; stop after ``early_stopping_rounds``
        validations without improvement of the first metric.
    selector_param
        SelectiveBP (:class:`SelectorParam`).
    encrypt_param, floating_point_precision
        Cipher of the hosts' keys; bits of the plaintext multipliers of the encrypted products.
    task_type
        ``classification`` or ``regression``.
    seed
        Seeds the models' initial weights, dropout, batch order, noise draws of the plain cipher
        and SelectiveBP (``torch_seed`` is FATE's spelling).
    """

    owner: ClassVar[str] = "HeteroNN"
    #: FATE switches accepted with no effect.
    ignored: ClassVar[frozenset[str]] = frozenset(
        {"config_type", "drop_out_keep_rate", "coae_param", "dataset", "api_version"}
    )

    task_type: Annotated[str, choice(TASK_TYPES)] = "classification"
    bottom_nn_define: Annotated[
        dict[str, TorchLayer] | None, BeforeValidator(_keyed_layers), AfterValidator(layers_in_order)
    ] = None
    top_nn_define: Annotated[
        dict[str, TorchLayer] | None, BeforeValidator(_keyed_layers), AfterValidator(layers_in_order)
    ] = None
    interactive_layer_define: Annotated[InteractiveLayerConf | None, BeforeValidator(_one_layer)] = None
    interactive_layer_lr: PositiveNumber = 0.1
    optimizer: Annotated[
        OptimizerConf, BeforeValidator(lambda v: {"optimizer": v} if isinstance(v, str) else v)
    ] = OptimizerConf(optimizer="sgd", lr=0.01)
    loss: Annotated[
        LossConf | None, BeforeValidator(lambda v: {"loss_fn": v} if isinstance(v, str) else v)
    ] = None
    epochs: Rounds = 100
    batch_size: BatchSize = -1
    early_stop: Annotated[
        str,
        choice(EARLY_STOPS, none="none"),
        BeforeValidator(lambda v: v.get("early_stop") if isinstance(v, dict) else v),
    ] = "diff"
    tol: NonNegative = 1e-5
    validation_freqs: Annotated[
        int | list[int] | None,
        rule(
            "null, an int >= 1 or a list of ints >= 1",
            lambda v: (
                v is None
                or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                or (
                    isinstance(v, list)
                    and all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in v)
                )
            ),
        ),
    ] = None
    early_stopping_rounds: Annotated[int | None, integer(ge=1, optional=True)] = None
    metrics: list[str] | None = None
    use_first_metric_only: Flag = False
    callback_param: CallbackParam = Field(default_factory=CallbackParam)
    selector_param: SelectorParam = Field(default_factory=SelectorParam)
    encrypt_param: EncryptParam = Field(default_factory=EncryptParam)
    encrypted_mode_calculator_param: EncryptedModeCalculatorParam = Field(
        default_factory=EncryptedModeCalculatorParam
    )
    floating_point_precision: Annotated[int | None, integer(ge=8, le=52, optional=True)] = 23
    predict_param: PredictParam = Field(default_factory=PredictParam)
    cv_param: CrossValidationParam = Field(default_factory=CrossValidationParam)
    seed: OptionalSeed = None
    torch_seed: OptionalSeed = None

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> HeteroNNParams:
        if self.early_stopping_rounds is not None and not self.validation_frequencies_given:
            raise ValueError("early_stopping_rounds needs validation_freqs")
        return self

    # -- derived settings ---------------------------------------------------------------------------
    @property
    def validation_frequencies_given(self) -> bool:
        """Whether validation was asked for (top level or ``callback_param``)."""
        return self.validation_freqs is not None or self.callback_param.validation_freqs is not None

    def validates_at(self, epoch: int) -> bool:
        """Whether to validate after ``epoch`` (0-based): every ``k``-th epoch, or the listed
        1-based epochs, and always after the last one when validation is on."""
        freqs = (
            self.validation_freqs
            if self.validation_freqs is not None
            else self.callback_param.validation_freqs
        )
        if freqs is None:
            return False
        if isinstance(freqs, list):
            return (epoch + 1) in freqs or epoch + 1 == self.epochs
        return (epoch + 1) % freqs == 0 or epoch + 1 == self.epochs

    @property
    def stopping_rounds(self) -> int | None:
        """Validations without improvement before stopping (top level, else ``callback_param``)."""
        if self.early_stopping_rounds is not None:
            return self.early_stopping_rounds
        return self.callback_param.early_stopping_rounds

    @property
    def metric_names(self) -> list[str] | None:
        """Validation metrics asked for (top level, else ``callback_param``)."""
        return self.metrics if self.metrics is not None else self.callback_param.metrics

    @property
    def effective_seed(self) -> int:
        """``seed``, else ``torch_seed``, else 0."""
        if self.seed is not None:
            return self.seed
        return self.torch_seed if self.torch_seed is not None else 0

    @property
    def precision_bits(self) -> int:
        """Bits of the plaintext multipliers in encrypted products (``null``: 52, full float)."""
        return 52 if self.floating_point_precision is None else self.floating_point_precision

    def bottom_layers(self) -> list[Layer]:
        """This party's bottom model as layer specs (empty when none is given)."""
        return [layer.spec() for layer in (self.bottom_nn_define or {}).values()]

    def top_layers(self) -> list[Layer]:
        """The guest's top model as layer specs (empty when none is given)."""
        return [layer.spec() for layer in (self.top_nn_define or {}).values()]

    @property
    def loss_name(self) -> str:
        """The torch loss: as configured, else BCELoss (classification) / MSELoss (regression)."""
        if self.loss is not None:
            return self.loss.torch_name
        return "BCELoss" if self.task_type == "classification" else "MSELoss"

    @property
    def optimizer_lr(self) -> float:
        """The bottom / top optimiser's learning rate (0.01 when the conf gives none)."""
        return 0.01 if self.optimizer.lr is None else float(self.optimizer.lr)
