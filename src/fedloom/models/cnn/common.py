"""What the zoo CNNs share: the sizes every config has, and a linear head on pooled features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
from pydantic import ConfigDict
from torch import nn

from fedloom.core.validation import integer

__all__ = ["ImageConfig", "PooledClassifier"]


@dataclass
class ImageConfig:
    """Sizes every zoo CNN config starts with (checked by :func:`fedloom.core.validation.check`).

    Parameters
    ----------
    in_channels
        Image channels (1 for MNIST-style data).
    n_classes
        Output classes.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    in_channels: Annotated[int, integer(ge=1)] = 1
    n_classes: Annotated[int, integer(ge=1)] = 10


class PooledClassifier(nn.Module):
    """A CNN whose ``features(x)`` are globally pooled ``(B, feature_dim)`` and whose logits are
    ``head(features(x))``; subclasses build ``head`` and ``features``."""

    head: nn.Module
    feature_dim: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K)
