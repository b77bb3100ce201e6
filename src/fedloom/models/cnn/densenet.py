"""A small DenseNet-BC (Huang et al., 2017): dense blocks of bottleneck layers and transitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

from fedloom.core.validation import int_list, integer, number
from fedloom.models.cnn.common import ImageConfig, PooledClassifier

__all__ = ["DenseNet", "DenseNetConfig"]


@dataclass
class DenseNetConfig(ImageConfig):
    """Sizes of a :class:`DenseNet` (and ``in_channels``, ``n_classes``: :class:`ImageConfig`).

    Parameters
    ----------
    growth
        Channels each layer adds (``k``).
    blocks
        Layers per dense block; a transition (1x1 conv, 2x2 average pooling) follows each
        block but the last.
    compression
        Channel reduction of a transition (``theta``).
    """

    growth: Annotated[int, integer(ge=1)] = 12
    blocks: Annotated[tuple[int, ...], int_list(ge=0)] = (4, 4, 4)
    compression: Annotated[float, number(gt=0, le=1)] = 0.5


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (4k) then BN-ReLU-3x3 conv (k); output concatenated to the input."""

    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))  # (B, 4k, H, W)
        out = self.conv2(F.relu(self.bn2(out)))  # (B, k, H, W)
        return torch.cat([x, out], dim=1)  # (B, C_in + k, H, W)


class Transition(nn.Module):
    """BN-ReLU-1x1 conv to ``c_out`` channels, then 2x2 average pooling."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)  # (B, C_out, H/2, W/2)


class DenseNet(PooledClassifier):
    """Stem conv, dense blocks with transitions, BN-ReLU, global average pooling, linear head."""

    def __init__(self, config: DenseNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or DenseNetConfig()
        channels = 2 * c.growth
        mods: list[nn.Module] = [nn.Conv2d(c.in_channels, channels, 3, padding=1, bias=False)]
        for i, n in enumerate(c.blocks):
            for _ in range(n):
                mods.append(DenseLayer(channels, c.growth))
                channels += c.growth
            if i < len(c.blocks) - 1:
                out = int(channels * c.compression)
                mods.append(Transition(channels, out))
                channels = out
        self.body = nn.Sequential(*mods)
        self.bn = nn.BatchNorm2d(channels)
        self.feature_dim = channels
        self.head = nn.Linear(channels, c.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.body(x)))  # (B, C, H', W')
        return x.mean(dim=(2, 3))  # (B, C)
