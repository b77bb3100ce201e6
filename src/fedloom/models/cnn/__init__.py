"""Small convolutional networks of four families, own implementations.

Every model takes images ``(B, in_channels, H, W)``, returns logits ``(B, n_classes)`` and
exposes ``features(x) -> (B, feature_dim)`` (the input of its linear head), so any of them
can serve as a backbone in :mod:`fedloom.models.transfer`.
"""

from fedloom.models.cnn.densenet import DenseNet, DenseNetConfig
from fedloom.models.cnn.preact_resnet import PreActResNet, PreActResNetConfig
from fedloom.models.cnn.resnet import ResNet, ResNetConfig
from fedloom.models.cnn.vgg import VGG, VGGConfig

__all__ = [
    "VGG",
    "DenseNet",
    "DenseNetConfig",
    "PreActResNet",
    "PreActResNetConfig",
    "ResNet",
    "ResNetConfig",
    "VGGConfig",
]
