"""A small pre-activation ResNet (He et al., 2016, "Identity Mappings"): BN-ReLU before each conv."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

__all__ = ["PreActBlock", "PreActResNet", "PreActResNetConfig"]


@dataclass
class PreActResNetConfig:
    """Sizes of a :class:`PreActResNet` (same meaning as :class:`~fedloom.models.cnn.resnet.ResNetConfig`)."""

    in_channels: int = 1
    n_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 64)
    blocks: tuple[int, ...] = (1, 1, 1)


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


class PreActResNet(nn.Module):
    """Stem conv, pre-activation stages, final BN-ReLU, global average pooling, linear head."""

    def __init__(self, config: PreActResNetConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or PreActResNetConfig()
        self.stem = nn.Conv2d(c.in_channels, c.widths[0], 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        c_in = c.widths[0]
        for i, (width, n) in enumerate(zip(c.widths, c.blocks, strict=True)):
            for j in range(n):
                layers.append(PreActBlock(c_in, width, 2 if (i > 0 and j == 0) else 1))
                c_in = width
        self.stages = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in)
        self.feature_dim = c_in
        self.head = nn.Linear(c_in, c.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stages(self.stem(x))))  # (B, C, H', W')
        return x.mean(dim=(2, 3))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, K)
