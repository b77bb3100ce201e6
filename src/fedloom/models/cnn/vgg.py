"""A small VGG (Simonyan and Zisserman, 2015): 3x3 conv-BN-ReLU stacks and max pooling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
from torch import nn

from fedloom.core.validation import int_list, number
from fedloom.models.cnn.common import ImageConfig, PooledClassifier

__all__ = ["VGG", "VGGConfig"]


@dataclass
class VGGConfig(ImageConfig):
    """Sizes of a :class:`VGG` (and ``in_channels``, ``n_classes``: :class:`ImageConfig`).

    Parameters
    ----------
    layers
        Conv widths in order; ``0`` stands for a 2x2 max pooling.
    dropout
        Dropout before the linear head.
    """

    layers: Annotated[tuple[int, ...], int_list(ge=0)] = (32, 32, 0, 64, 64, 0, 128, 0)
    dropout: Annotated[float, number(ge=0, lt=1)] = 0.2


class VGG(PooledClassifier):
    """Conv stacks, global average pooling, dropout, linear head."""

    def __init__(self, config: VGGConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or VGGConfig()
        mods: list[nn.Module] = []
        c_in = c.in_channels
        for width in c.layers:
            if width == 0:
                mods.append(nn.MaxPool2d(2))
            else:
                mods += [nn.Conv2d(c_in, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                c_in = width
        self.body = nn.Sequential(*mods)
        self.feature_dim = c_in
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c_in, c.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))  # (B, K)
