"""Training recipes: one YAML/JSON file naming the dataset, model, optimiser, schedule, epochs.

Example (``examples/recipes/mnist_mlp.yaml``)::

    name: mnist-mlp
    dataset: {name: mnist, limit: null, test: true}
    model: {name: mlp, params: {hidden: [512, 256, 128, 64]}}
    train: {epochs: 10, batch_size: 64, optimizer: sgd, lr: 0.01, momentum: 0.9,
            schedule: none, val_fraction: 0.1, early_stopping_patience: 3, seed: 0}
    output: runs/mnist-mlp

Every field is checked when the recipe is loaded; a bad one raises :class:`ConfigError`
naming it (``field 'train.lr': must be a number > 0. Got -1.``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError, DataError
from fedloom.models.train import TrainConfig, validate_config

log = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "MODELS",
    "DatasetSection",
    "ModelSection",
    "Recipe",
    "load_recipe",
    "parse_recipe",
    "run_recipe",
]

#: Datasets a recipe may name.
DATASETS = ("mnist", "fashion-mnist", "otto")


def _build_mlp(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.mlp import MLP, MLPConfig

    in_features = 1
    for d in in_shape:
        in_features *= d
    cfg = MLPConfig(in_features=in_features, n_classes=n_classes)
    for k, v in params.items():
        setattr(cfg, k, tuple(v) if k == "hidden" else v)
    return MLP(cfg)


def _build_tabular_mlp(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.mlp import tabular_mlp

    kw = dict(params)
    if "hidden" in kw:
        kw["hidden"] = tuple(kw["hidden"])
    return tabular_mlp(in_shape[0], n_classes, **kw)


def _cnn_builder(family: str) -> Callable[[tuple[int, ...], int, dict[str, Any]], Any]:
    def build(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
        from fedloom.models.transfer import _family_classes

        model_cls, cfg_cls = _family_classes(family)
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return model_cls(cfg_cls(in_channels=in_shape[0], n_classes=n_classes, **kw))

    return build


def _build_transfer(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.transfer import EfficientNetLite0Backbone, TransferModel, load_backbone

    backbone_name = params.get("backbone", "efficientnet_lite0")
    backbone: Any
    if backbone_name == "efficientnet_lite0":
        mean, std = params.get("input_norm", (0.0, 1.0))
        backbone = EfficientNetLite0Backbone(params.get("image_size", 64), mean, std)
    else:
        backbone = load_backbone(backbone_name)
    return TransferModel(backbone, n_classes, params.get("mode", "transfer"), params.get("hidden", 0))


#: Model builders by recipe name: ``builder(input_shape, n_classes, params) -> nn.Module``,
#: with the parameters each accepts.
MODELS: dict[str, tuple[Callable[[tuple[int, ...], int, dict[str, Any]], Any], tuple[str, ...]]] = {
    "mlp": (_build_mlp, ("hidden", "dropout", "batchnorm")),
    "tabular_mlp": (_build_tabular_mlp, ("hidden", "dropout")),
    "resnet": (_cnn_builder("resnet"), ("widths", "blocks")),
    "preact_resnet": (_cnn_builder("preact_resnet"), ("widths", "blocks")),
    "vgg": (_cnn_builder("vgg"), ("layers", "dropout")),
    "densenet": (_cnn_builder("densenet"), ("growth", "blocks", "compression")),
    "transfer": (_build_transfer, ("backbone", "mode", "hidden", "image_size", "input_norm")),
}


@dataclass
class DatasetSection:
    """``dataset:`` of a recipe.

    Parameters
    ----------
    name
        ``mnist``, ``fashion-mnist`` or ``otto``.
    path
        For ``otto``: the training CSV (``id, feat_1..feat_n, target``).
    test_path
        For ``otto``: an optional labelled test CSV.
    limit
        Use only the first ``limit`` training examples.
    test
        Evaluate on the test split at the end.
    test_limit
        Evaluate on only the first ``test_limit`` test examples.
    """

    name: str = "mnist"
    path: str | None = None
    test_path: str | None = None
    limit: int | None = None
    test: bool = True
    test_limit: int | None = None


@dataclass
class ModelSection:
    """``model:`` of a recipe: a name from :data:`MODELS` and its parameters."""

    name: str = "mlp"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    """A whole training recipe."""

    name: str = "run"
    dataset: DatasetSection = field(default_factory=DatasetSection)
    model: ModelSection = field(default_factory=ModelSection)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str = "runs/run"

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (what :func:`parse_recipe` reads back)."""
        return asdict(self)


def _section(cls: type, data: object, prefix: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"must be a mapping. Got {type(data).__name__}.", field=prefix)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown key; allowed: {', '.join(sorted(known))}.", field=f"{prefix}.{key}")
    return cls(**data)


def parse_recipe(data: object) -> Recipe:
    """Build and validate a :class:`Recipe` from parsed YAML/JSON.

    Raises
    ------
    ConfigError
        An unknown key, a missing or wrongly typed field, or a value out of range; the error's
        ``field`` is the dotted path (``train.lr``, ``model.params.hidden``).
    """
    if not isinstance(data, dict):
        raise ConfigError("a recipe must be a mapping with dataset, model, train, output.", field="recipe")
    allowed = {"name", "dataset", "model", "train", "output"}
    for key in data:
        if key not in allowed:
            raise ConfigError(f"unknown key; allowed: {', '.join(sorted(allowed))}.", field=key)
    name = data.get("name", "run")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"must be a non-empty string. Got {name!r}.", field="name")
    ds = _section(DatasetSection, data.get("dataset"), "dataset")
    model = _section(ModelSection, data.get("model"), "model")
    train = _section(TrainConfig, data.get("train"), "train")
    output = data.get("output", f"runs/{name}")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"must be a folder path. Got {output!r}.", field="output")

    if ds.name not in DATASETS:
        raise ConfigError(f"must be one of {', '.join(DATASETS)}. Got {ds.name!r}.", field="dataset.name")
    if ds.name == "otto" and not ds.path:
        raise ConfigError("the otto dataset needs 'path' (the training CSV).", field="dataset.path")
    for key in ("limit", "test_limit"):
        v = getattr(ds, key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(f"must be null or an int >= 1. Got {v!r}.", field=f"dataset.{key}")
    if not isinstance(ds.test, bool):
        raise ConfigError(f"must be true or false. Got {ds.test!r}.", field="dataset.test")
    if model.name not in MODELS:
        raise ConfigError(
            f"must be one of {', '.join(sorted(MODELS))}. Got {model.name!r}.", field="model.name"
        )
    if not isinstance(model.params, dict):
        raise ConfigError("must be a mapping.", field="model.params")
    accepted = MODELS[model.name][1]
    for key, value in model.params.items():
        if key not in accepted:
            raise ConfigError(
                f"unknown parameter of {model.name}; allowed: {', '.join(accepted)}.",
                field=f"model.params.{key}",
            )
        if key == "hidden" and (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(h, int) and h > 0 for h in value)
        ):
            raise ConfigError(
                f"must be a non-empty list of ints > 0. Got {value!r}.", field="model.params.hidden"
            )
        if key == "mode" and value not in ("transfer", "finetune"):
            raise ConfigError(f"must be transfer or finetune. Got {value!r}.", field="model.params.mode")
        if key in ("widths", "blocks", "layers") and (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(h, int) and h >= 0 for h in value)
        ):
            raise ConfigError(
                f"must be a non-empty list of ints. Got {value!r}.", field=f"model.params.{key}"
            )
        if key == "dropout" and (not isinstance(value, int | float) or not 0 <= value < 1):
            raise ConfigError(f"must be a number in [0, 1). Got {value!r}.", field="model.params.dropout")
    if train.out_dir is not None:
        raise ConfigError("set the output folder with the top-level 'output' key.", field="train.out_dir")
    train.out_dir = output
    validate_config(train)
    return Recipe(name=name, dataset=ds, model=model, train=train, output=output)


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe from a ``.yaml``/``.yml`` or ``.json`` file and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe file {path} does not exist.", field="recipe")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ImportError as err:
        raise ConfigError(
            "YAML recipes need PyYAML (pip install pyyaml); or write JSON.", field="recipe"
        ) from err
    except Exception as err:  # yaml.YAMLError, json.JSONDecodeError (both ValueError-like)
        raise ConfigError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {err}", field="recipe"
        ) from err
    return parse_recipe(data)


def _load_data(ds: DatasetSection) -> tuple[Any, Any, Any, Any, int]:
    """Training and (optional) test tensors, and the number of classes."""
    import numpy as np
    import torch

    if ds.name in ("mnist", "fashion-mnist"):
        from fedloom.models.datasets.idx import load_image_dataset

        mean, std = (0.1307, 0.3081) if ds.name == "mnist" else (0.2860, 0.3530)

        def prep(split: str, limit: int | None) -> tuple[Any, Any]:
            images, labels = load_image_dataset(ds.name, split, limit=limit)
            x = (
                torch.from_numpy(images).float().div_(255.0).sub_(mean).div_(std).unsqueeze(1)
            )  # (N, 1, 28, 28)
            return x, torch.from_numpy(labels)

        x, y = prep("train", ds.limit)
        xt, yt = prep("test", ds.test_limit) if ds.test else (None, None)
        return x, y, xt, yt, 10
    from fedloom.models.datasets.tabular import read_otto_csv

    assert ds.path is not None
    train = read_otto_csv(ds.path)
    if train.labels is None:
        raise DataError(f"{ds.path}: the training CSV has no 'target' column", field="target")
    feats, labels = train.features, train.labels
    if ds.limit is not None:
        feats, labels = feats[: ds.limit], labels[: ds.limit]
    x, y = torch.from_numpy(np.log1p(np.maximum(feats, 0))), torch.from_numpy(labels)
    xt = yt = None
    if ds.test and ds.test_path:
        test = read_otto_csv(ds.test_path, classes=train.classes)
        if test.labels is None:
            raise DataError(f"{ds.test_path}: the test CSV has no 'target' column", field="target")
        n = ds.test_limit
        xt = torch.from_numpy(np.log1p(np.maximum(test.features[:n], 0)))
        yt = torch.from_numpy(test.labels[:n])
    return x, y, xt, yt, len(train.classes)


def run_recipe(recipe: Recipe, *, resume: bool = False) -> dict[str, Any]:
    """Train what ``recipe`` describes; write metrics, curves, checkpoints and ``summary.json``.

    Returns
    -------
    dict
        ``name``, ``output``, ``epochs_run``, ``best_epoch``, ``stopped_early``,
        ``epoch_seconds``, ``final`` (last epoch's metrics), ``test_loss``/``test_accuracy``
        (when the dataset has a test split), ``parameters``.
    """
    import torch

    from fedloom.models.train import evaluate, fit

    x, y, xt, yt, n_classes = _load_data(recipe.dataset)
    torch.manual_seed(recipe.train.seed)
    builder = MODELS[recipe.model.name][0]
    model = builder(tuple(x.shape[1:]), n_classes, recipe.model.params)
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))
    result = fit(model, x, y, recipe.train, resume=resume)
    summary: dict[str, Any] = {
        "name": recipe.name,
        "output": str(out),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epoch_seconds": round(result.epoch_seconds, 4),
        "final": result.history[-1] if result.history else {},
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if xt is not None and yt is not None:
        summary["test_loss"], summary["test_accuracy"] = evaluate(model, xt, yt)
    torch.save(model.state_dict(), out / "model.pt")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
