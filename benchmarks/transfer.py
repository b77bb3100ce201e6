"""Transfer learning on Fashion-MNIST: frozen vs fine-tuned backbone vs training from scratch.

Same training subset, test set and epochs for every entry; single-threaded CPU. Entries:

- ``scratch/<family>``: the zoo CNNs (ResNet, PreActResNet, VGG, DenseNet) and the MLP;
- ``own_resnet/{transfer,finetune}``: a ResNet fedloom pretrained itself on MNIST (saved with
  ``save_backbone`` and reloaded), frozen (head trained on cached features) or fine-tuned;
- ``efficientnet_lite0/{transfer,finetune}``: the ImageNet-pretrained EfficientNet-Lite0 of the
  offline package, inputs resized to ``--image-size``.

Each reports parameters (total, trainable), size (MB of fp32 weights), test accuracy and
training seconds (feature extraction included for frozen backbones).

Run ``python benchmarks/transfer.py [--quick] --json`` after
``fedloom datasets fetch fashion-mnist`` and ``fedloom datasets fetch mnist``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from torch import nn

from fedloom.models.cnn import VGG, DenseNet, PreActResNet, ResNet
from fedloom.models.datasets import load_image_dataset
from fedloom.models.mlp import MLP
from fedloom.models.train import TrainConfig, evaluate, fit
from fedloom.models.transfer import (
    EfficientNetLite0Backbone,
    TransferModel,
    extract_features,
    load_backbone,
    save_backbone,
)

FASHION = (0.2860, 0.3530)
MNIST = (0.1307, 0.3081)


def images(
    name: str, split: str, limit: int | None, norm: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_image_dataset(name, split, limit=limit)
    xt = torch.from_numpy(x).float().div_(255.0).sub_(norm[0]).div_(norm[1]).unsqueeze(1)  # (N, 1, 28, 28)
    return xt, torch.from_numpy(y)


def describe(model: nn.Module) -> dict[str, float]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable, "size_mb": round(total * 4 / 2**20, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1500 training images, 1 epoch, batch 32, 32 px EfficientNet input",
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--train", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_train = args.train or (1500 if args.quick else 3000)
    bs = 32 if args.quick else 64
    epochs = args.epochs or (1 if args.quick else 3)
    size = args.image_size or (32 if args.quick else 64)
    n_test = 1000 if args.quick else None
    t_start = time.perf_counter()
    x, y = images("fashion-mnist", "train", n_train, FASHION)
    xt, yt = images("fashion-mnist", "test", n_test, FASHION)
    results: dict[str, dict[str, float]] = {}

    def run(name: str, model: nn.Module, cfg: TrainConfig) -> None:
        torch.manual_seed(0)
        t0 = time.perf_counter()
        fit(model, x, y, cfg)
        secs = time.perf_counter() - t0
        results[name] = describe(model) | {
            "test_accuracy": round(evaluate(model, xt, yt, 500)[1], 4),
            "train_seconds": round(secs, 2),
        }

    def run_frozen(name: str, model: TransferModel, head_epochs: int) -> None:
        t0 = time.perf_counter()
        feats = extract_features(model.backbone, x)  # (N, D), computed once
        fit(model.head, feats, y, TrainConfig(epochs=head_epochs, batch_size=bs, optimizer="adam", lr=1e-3))
        secs = time.perf_counter() - t0
        results[name] = describe(model) | {
            "test_accuracy": round(evaluate(model, xt, yt, 500)[1], 4),
            "train_seconds": round(secs, 2),
        }

    sgd = TrainConfig(
        epochs=epochs, batch_size=64, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="cosine"
    )
    builders: dict[str, Callable[[], nn.Module]] = {
        "mlp": MLP,
        "resnet": ResNet,
        "preact_resnet": PreActResNet,
        "vgg": VGG,
        "densenet": DenseNet,
    }
    for fam, build in builders.items():
        torch.manual_seed(0)
        run(
            f"scratch/{fam}",
            build(),
            sgd if fam != "mlp" else TrainConfig(epochs=epochs, batch_size=bs, lr=0.01),
        )

    # a backbone fedloom pretrains itself: ResNet on MNIST digits, saved and reloaded
    mx, my = images("mnist", "train", 3000 if args.quick else 20000, MNIST)
    torch.manual_seed(0)
    own = ResNet()
    t0 = time.perf_counter()
    fit(own, mx, my, TrainConfig(epochs=1 if args.quick else 2, lr=0.05, schedule="cosine"))
    pretrain_seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = save_backbone(own, Path(tmp) / "resnet_mnist.pt")
        torch.manual_seed(0)
        run_frozen("own_resnet/transfer", TransferModel(load_backbone(path), 10, "transfer"), 5 * epochs)
        torch.manual_seed(0)
        tuned = TransferModel(load_backbone(path), 10, "finetune")
        run(
            "own_resnet/finetune", tuned, TrainConfig(epochs=epochs, batch_size=bs, optimizer="adam", lr=1e-3)
        )

    torch.manual_seed(0)
    eff = TransferModel(EfficientNetLite0Backbone(size, *FASHION), 10, "transfer")
    run_frozen("efficientnet_lite0/transfer", eff, 5 * epochs)
    torch.manual_seed(0)
    eff_ft = TransferModel(EfficientNetLite0Backbone(size, *FASHION), 10, "finetune")
    run(
        "efficientnet_lite0/finetune",
        eff_ft,
        TrainConfig(epochs=epochs, batch_size=bs, optimizer="adam", lr=3e-4),
    )

    out = {
        "benchmark": "transfer",
        "quick": args.quick,
        "dataset": "fashion-mnist",
        "train_examples": n_train,
        "test_examples": int(xt.shape[0]),
        "epochs": epochs,
        "batch_size": bs,
        "efficientnet_image_size": size,
        "own_backbone_pretrain": {
            "dataset": "mnist",
            "examples": int(mx.shape[0]),
            "seconds": round(pretrain_seconds, 1),
        },
        "results": results,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
