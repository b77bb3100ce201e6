"""Multi-layer perceptron softmax classifiers: MNIST-style images and Otto-style tables.

The default configuration is the classic 784-512-256-128-64-10 network with ReLU. ``forward``
returns log-probabilities (``log_softmax``), so the training loss is the negative log
likelihood, i.e. cross-entropy = log-softmax + NLL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from pydantic import ConfigDict
from torch import nn

from fedloom.core.validation import flag, int_list, integer, number

__all__ = ["MLP", "MLPConfig", "tabular_mlp"]


@dataclass
class MLPConfig:
    """Sizes of an :class:`MLP`.

    Parameters
    ----------
    in_features
        Input size (784 for a flattened 28x28 image, 93 for Otto).
    hidden
        Width of each hidden layer, in order.
    n_classes
        Number of output classes.
    dropout
        Dropout probability after each hidden ReLU (0 disables it).
    batchnorm
        Put a BatchNorm1d before each hidden ReLU (useful for un-normalised tabular features).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    in_features: Annotated[int, integer(ge=1)] = 784
    hidden: Annotated[tuple[int, ...], int_list(ge=1)] = (512, 256, 128, 64)
    n_classes: Annotated[int, integer(ge=1)] = 10
    dropout: Annotated[float, number(ge=0, lt=1)] = 0.0
    batchnorm: Annotated[bool, flag()] = False


class MLP(nn.Module):
    """Fully-connected ReLU network ending in ``log_softmax``.

    Inputs of any shape ``(B, ...)`` are flattened to ``(B, in_features)``.
    """

    #: What ``forward`` returns; the trainer uses NLL on log-probabilities.
    output = "log_probs"

    def __init__(self, config: MLPConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MLPConfig()
        layers: list[nn.Module] = []
        width = config.in_features
        for h in config.hidden:
            layers.append(nn.Linear(width, h))
            if config.batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, config.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)  # (B, F)
        return F.log_softmax(self.head(self.body(x)), dim=-1)  # (B, K)


def tabular_mlp(
    in_features: int, n_classes: int, hidden: tuple[int, ...] = (256, 128), dropout: float = 0.2
) -> MLP:
    """An MLP for Otto-style tabular data: batch-normalised hidden layers with dropout."""
    return MLP(MLPConfig(in_features, tuple(hidden), n_classes, dropout=dropout, batchnorm=True))
