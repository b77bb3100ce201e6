"""Homo NN on tabular Frames: FATE's ``HomoNN`` roles (:class:`HomoNNFrameClient`,
:class:`HomoNNFrameArbiter`) and the trained network (:class:`HomoNNModel`).

The roles take FATE's conf (:class:`~fedloom.ml.homo.nn_conf.HomoNNConf`), turn a Frame into
tensors (class indices for classification losses, 0/1 for the binary ones, numbers for
regression), run :class:`~fedloom.ml.homo.nn.HomoNNClient` / FedAvg, and predict in FATE's layout.

A client's model keeps its weights as ``weights.safetensors`` bytes in :meth:`HomoNNModel.to_dict`
(the component writes them as a file next to ``model.json``); the arbiter's holds the round
history only. torch is imported when a role trains or a model is built, not when this module is.

>>> model = HomoNNFrameClient(HomoNNConf.from_dict(fate_conf)).fit(ctx, train)   # doctest: +SKIP
>>> HomoNNFrameClient(conf).predict(ctx, model, test).to_pandas()                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.data import Frame
from fedloom.ml.homo.arbiter import FedAvgArbiter, fedavg_summary
from fedloom.ml.homo.client import feature_digest
from fedloom.ml.homo.nn_conf import HomoNNConf, NNSpec
from fedloom.ml.homo.params import HomoNNParams
from fedloom.ml.predictions import Predictions

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "WEIGHTS",
    "HomoNNFrameArbiter",
    "HomoNNFrameClient",
    "HomoNNModel",
    "build_network",
    "frame_tensors",
    "load_weights",
    "save_weights",
]

#: The file a client's weights are stored in, next to ``model.json``.
WEIGHTS = "weights.safetensors"
#: Losses whose targets are class indices, and those whose targets are 0 / 1.
CLASS_LOSSES = ("CrossEntropyLoss", "NLLLoss", "auto")
BINARY_LOSSES = ("BCELoss", "BCEWithLogitsLoss")


# -- network, tensors, weights -----------------------------------------------------------------------
def build_network(spec: NNSpec) -> nn.Module:
    """The torch module ``spec`` describes (allow-listed layers in order, or a zoo model)."""
    from torch import nn

    if spec.zoo is not None and spec.zoo.name in ("tiny_gpt", "bert"):  # tables of token ids
        from fedloom.ml.homo.recipe_fedavg import token_model

        z = spec.zoo
        return token_model(z.name, dict(z.params), z.n_classes, z.in_features)
    if spec.zoo is not None:
        from fedloom.models.recipe import MODELS

        builder = MODELS[spec.zoo.name][0]
        module: nn.Module = builder((spec.zoo.in_features,), spec.zoo.n_classes, dict(spec.zoo.params))
        return module
    layers = []
    for layer in spec.layers:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in layer.items() if k != "layer"}
        layers.append(getattr(nn, str(layer["layer"]))(**kwargs))
    return nn.Sequential(*layers)


def frame_tensors(frame: Frame, spec: NNSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of a labelled Frame, the targets shaped as ``spec``'s loss needs them.

    Raises
    ------
    DataError
        No label, a width the network does not take, labels the loss cannot use.
    """
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
    loss, label = spec.params.loss, np.asarray(frame.label)
    if loss in CLASS_LOSSES:
        y = label.astype(np.int64)
        if not np.array_equal(y, label) or (y < 0).any():
            raise DataError("class labels must be integers 0..K-1 for a classification loss", field="label")
        return x, torch.from_numpy(y)
    y32 = label.astype(np.float32)
    if loss in BINARY_LOSSES and not np.isin(y32, (0.0, 1.0)).all():
        raise DataError(f"{loss} needs labels 0 or 1", field="label")
    return x, torch.from_numpy(y32).reshape(-1, 1)


def save_weights(module: nn.Module) -> bytes:
    """The module's ``state_dict`` (parameters and buffers) as safetensors bytes."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()})


def load_weights(module: nn.Module, data: bytes) -> None:
    """Load :func:`save_weights`' bytes into ``module`` (of the same architecture) in place.

    Raises
    ------
    DataError
        The bytes are not safetensors, or their names or shapes differ from the module's.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        state = load(data)
    except SafetensorError as err:
        raise DataError(f"the stored HomoNN weights are unreadable: {err}", field="input.model") from None
    own = module.state_dict()
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        raise DataError("the stored HomoNN weights do not fit the stored architecture", field="input.model")
    module.load_state_dict(state)


def _predictions(module: nn.Module, spec: NNSpec, frame: Frame) -> Predictions:
    """The network's output on ``frame`` as FATE's predictions (binary, multi-class or values)."""
    import torch

    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(np.ascontiguousarray(frame.features, dtype=np.float32))).double()
    loss, last = spec.params.loss, spec.last
    if out.shape[1] == 1 and loss in BINARY_LOSSES:
        s = (out[:, 0] if last == "Sigmoid" else torch.sigmoid(out[:, 0])).numpy()
        return Predictions(frame.ids, s, (s > 0.5).astype(np.int64), frame.label, "binary", [0, 1])
    if loss in CLASS_LOSSES:
        probs = out.exp() if last == "LogSoftmax" else (out if last == "Softmax" else out.softmax(-1))
        pr = probs.numpy()
        result = pr.argmax(axis=1).astype(np.int64)
        if pr.shape[1] == 2:
            return Predictions(frame.ids, pr[:, 1], result, frame.label, "binary", [0, 1])
        return Predictions(frame.ids, pr, result, frame.label, "multi", list(range(pr.shape[1])))
    v = out[:, 0].numpy()
    return Predictions(frame.ids, v, v, frame.label, "regression")


# -- the model and the roles ---------------------------------------------------------------------
@dataclass
class HomoNNModel:
    """A party's HomoNN model: the architecture, the loss, the weights (clients) and the rounds.

    Attributes
    ----------
    spec
        The network and the loss (which turns outputs into probabilities).
    module
        The trained global network; ``None`` on the arbiter, which never builds one.
    history
        Per round, as this party saw it (see :func:`~fedloom.ml.homo.arbiter.fedavg_summary`).
    converged
        Whether the early-stop rule ended training.
    clients
        The clients (the arbiter's model only).
    """

    spec: NNSpec
    module: nn.Module | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False
    clients: list[str] = field(default_factory=list)

    def predict(self, frame: Frame) -> Predictions:
        """Predictions in FATE's layout (a client's model only)."""
        if self.module is None:
            raise DataError("the arbiter's HomoNN model holds no network to predict with", field="model")
        return _predictions(self.module, self.spec, frame)

    def summary(self) -> dict[str, object]:
        """Rounds, convergence and the loss per round (the arbiter's adds clients and samples)."""
        return fedavg_summary(self.history, self.converged, self.clients)

    def to_dict(self) -> dict[str, object]:
        """The architecture and rounds as JSON, the weights as ``weights.safetensors`` bytes."""
        out: dict[str, object] = {
            "network": self.spec.network(),
            "loss": self.spec.params.loss,
            "history": self.history,
            "converged": self.converged,
            "clients": self.clients,
        }
        if self.module is not None:
            out[WEIGHTS] = save_weights(self.module)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> HomoNNModel:
        """Inverse of :meth:`to_dict` (the network is rebuilt when the weights are there).

        Raises
        ------
        DataError
            ``d`` is not a HomoNN model, or its weights do not fit its network.
        """
        network, loss, weights = d.get("network"), d.get("loss", "auto"), d.get(WEIGHTS)
        history, clients = d.get("history", []), d.get("clients", [])
        if not (isinstance(network, dict) and isinstance(loss, str) and isinstance(history, list)):
            raise DataError("the stored model is not a HomoNN model (network, loss...)", field="model")
        if weights is not None and not isinstance(weights, bytes):
            raise DataError(
                f"the HomoNN model's {WEIGHTS} was not read back: load model.json with "
                "fedloom.components.base.join_model_files",
                field="input.model",
            )
        spec = NNSpec.from_network(network, HomoNNParams(loss=loss))
        module = None
        if weights is not None:
            module = build_network(spec)
            load_weights(module, weights)
        names = [str(c) for c in clients] if isinstance(clients, list) else []
        return cls(spec, module, [dict(h) for h in history], bool(d.get("converged", False)), names)


class HomoNNFrameClient:
    """Guest or host of HomoNN on Frames: FedAvg of the conf's network, then local predictions.

    Parameters
    ----------
    params
        FATE's HomoNN conf (the arbiter's must agree on the federation settings).
    """

    def __init__(self, params: HomoNNConf) -> None:
        self.params = params

    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> HomoNNModel:
        """Federated training on this client's rows; returns the global network."""
        from fedloom.ml.homo.nn import HomoNNClient

        spec = self.params.spec()
        if spec.zoo is not None:  # a zoo model takes the data's width
            spec = replace(spec, zoo=replace(spec.zoo, in_features=train.n_features))
        data = frame_tensors(train, spec)
        columns = list(train.feature_names)
        val = None if validate is None else frame_tensors(validate.select_features(columns), spec)
        client = HomoNNClient(spec.params, lambda: build_network(spec))
        client.schema_digest = feature_digest(train.feature_names)
        result = client.fit(ctx, data, val)
        return HomoNNModel(spec, result.model, result.history.rounds, result.history.converged)

    def predict(self, ctx: Context, model: HomoNNModel, frame: Frame) -> Predictions:
        """Local prediction: in the horizontal setting a client predicts its own rows alone."""
        return model.predict(frame)


class HomoNNFrameArbiter:
    """Arbiter of HomoNN: aggregates; holds no data and builds no network (no torch needed)."""

    def __init__(self, params: HomoNNConf) -> None:
        self.params = params

    def fit(self, ctx: Context) -> HomoNNModel:
        """Run every round; the model records the architecture and what the arbiter saw."""
        spec = self.params.spec()
        result = FedAvgArbiter(spec.params.fedavg()).fit(ctx)
        return HomoNNModel(spec, None, result.rounds, result.converged, result.clients)

    def predict(self, ctx: Context, model: HomoNNModel) -> None:
        """Nothing to do: each client predicts its own rows alone."""
