"""A small pre-activation ResNet (He et al., 2016, "Identity Mappings"): BN-ReLU before each conv."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

from fedloom.models.cnn.common import PooledClassifier
from fedloom.models.cnn.resnet import ResNetConfig, residual_stages

__all__ = ["PreActBlock", "PreActResNet", "PreActResNetConfig"]


@dataclass
class PreActResNetConfig(ResNetConfig):
    """Sizes of a :class:`PreActResNet` (same fields as :class:`~fedloom.models.cnn.resnet.ResNetConfig`)."""


class PreActBlock(nn.Module):
    """``conv(relu(bn(conv(relu(bn(x)))))) + shortcut(x)``: the identity path stays clean."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))  # (B, C_in, H, W)
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)  # (B, C_out, H', W')
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(PooledClassifier):
    """Stem conv, pre-activation stages, final BN-ReLU, global average pooling, linear head."""

    def __init__(self, config: PreActResNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PreActResNetConfig()
        self.stem = nn.Conv2d(c.in_channels, c.widths[0], 3, 1, 1, bias=False)
        self.stages, c_in = residual_stages(c.widths, c.blocks, PreActBlock)
        self.bn = nn.BatchNorm2d(c_in)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, c.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stages(self.stem(x))))  # (B, C, H', W')
        return x.mean(dim=(2, 3))  # (B, C)
