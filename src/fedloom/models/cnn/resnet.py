"""A small ResNet (He et al., 2016): stages of basic residual blocks, post-activation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

from fedloom.core.validation import int_list
from fedloom.models.cnn.common import ImageConfig, PooledClassifier

__all__ = ["BasicBlock", "ResNet", "ResNetConfig", "residual_stages"]


@dataclass
class ResNetConfig(ImageConfig):
    """Sizes of a :class:`ResNet` (and ``in_channels``, ``n_classes``: :class:`ImageConfig`).

    Parameters
    ----------
    widths
        Channels of each stage; every stage after the first halves the resolution.
    blocks
        Residual blocks per stage.
    """

    widths: Annotated[tuple[int, ...], int_list(ge=1)] = (16, 32, 64)
    blocks: Annotated[tuple[int, ...], int_list(ge=0)] = (1, 1, 1)


def residual_stages(
    widths: tuple[int, ...], blocks: tuple[int, ...], block: Callable[[int, int, int], nn.Module]
) -> tuple[nn.Sequential, int]:
    """``blocks[i]`` blocks of ``widths[i]`` channels per stage, the first block of every stage
    after the first with stride 2; the stages and their output channels."""
    layers: list[nn.Module] = []
    c_in = widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
        for j in range(n):
            layers.append(block(c_in, width, 2 if (i > 0 and j == 0) else 1))
            c_in = width
    return nn.Sequential(*layers), c_in


class BasicBlock(nn.Module):
    """``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (B, C_out, H', W')
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(PooledClassifier):
    """Stem conv, residual stages, global average pooling, linear head."""

    def __init__(self, config: ResNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ResNetConfig()
        self.stem = nn.Sequential(
            nn.Conv2d(c.in_channels, c.widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c.widths[0]), nn.ReLU()
        )
        self.stages, c_in = residual_stages(c.widths, c.blocks, BasicBlock)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, c.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (B, C, H', W')
        return x.mean(dim=(2, 3))  # (B, C)
