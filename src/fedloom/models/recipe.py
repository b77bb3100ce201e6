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
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import (
    flag,
    integer,
    one_of,
    parameter_error,
    rule,
    validate,
)
from fedloom.models.train import TrainConfig

log = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "MODELS",
    "DatasetSection",
    "ModelSection",
    "Recipe",
    "TransferParams",
    "check_model_params",
    "load_recipe",
    "parse_recipe",
    "run_recipe",
]

#: Datasets a recipe may name.
DATASETS = ("mnist", "fashion-mnist", "otto")


@dataclass
class TransferParams:
    """``model.params`` of the ``transfer`` model.

    Parameters
    ----------
    backbone
        ``efficientnet_lite0`` (the offline ImageNet-pretrained package) or the path of a
        backbone saved with :func:`fedloom.models.transfer.save_backbone`.
    mode
        ``transfer`` (frozen backbone) or ``finetune``.
    hidden
        Width of a hidden layer in the head (0: a linear head).
    image_size
        Side of the images EfficientNet-Lite0 sees.
    input_norm
        ``[mean, std]`` already applied to the inputs.
    """

    backbone: Annotated[str, rule("a backbone name or path", lambda v: isinstance(v, str) and bool(v))] = (
        "efficientnet_lite0"
    )
    mode: Annotated[str, one_of("transfer", "finetune")] = "transfer"
    hidden: Annotated[int, integer(ge=0)] = 0
    image_size: Annotated[int, integer(ge=8)] = 64
    input_norm: Annotated[
        tuple[float, float],
        rule("[mean, std] (two numbers)", lambda v: isinstance(v, list | tuple) and len(v) == 2),
    ] = (0.0, 1.0)


def _build_mlp(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.mlp import MLP, MLPConfig

    return MLP(
        MLPConfig(in_features=math.prod(in_shape), n_classes=n_classes, **check_model_params("mlp", params))
    )


def _build_tabular_mlp(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.mlp import tabular_mlp

    return tabular_mlp(in_shape[0], n_classes, **check_model_params("tabular_mlp", params))


def _cnn_builder(family: str) -> Callable[[tuple[int, ...], int, dict[str, Any]], Any]:
    def build(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
        from fedloom.models.transfer import _family_classes

        model_cls, cfg_cls = _family_classes(family)
        return model_cls(
            cfg_cls(in_channels=in_shape[0], n_classes=n_classes, **check_model_params(family, params))
        )

    return build


def _build_transfer(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.transfer import EfficientNetLite0Backbone, TransferModel, load_backbone

    p = TransferParams(**check_model_params("transfer", params))
    backbone: Any
    if p.backbone == "efficientnet_lite0":
        backbone = EfficientNetLite0Backbone(p.image_size, *p.input_norm)
    else:
        backbone = load_backbone(p.backbone)
    return TransferModel(backbone, n_classes, p.mode, p.hidden)


#: Model builders by recipe name: ``builder(input_shape, n_classes, params) -> nn.Module``
#: (the builder checks ``params``), with the parameters each accepts.
MODELS: dict[str, tuple[Callable[[tuple[int, ...], int, dict[str, Any]], Any], tuple[str, ...]]] = {
    "mlp": (_build_mlp, ("hidden", "dropout", "batchnorm")),
    "tabular_mlp": (_build_tabular_mlp, ("hidden", "dropout")),
    "resnet": (_cnn_builder("resnet"), ("widths", "blocks")),
    "preact_resnet": (_cnn_builder("preact_resnet"), ("widths", "blocks")),
    "vgg": (_cnn_builder("vgg"), ("layers", "dropout")),
    "densenet": (_cnn_builder("densenet"), ("growth", "blocks", "compression")),
    "transfer": (_build_transfer, ("backbone", "mode", "hidden", "image_size", "input_norm")),
}


def _rules(name: str) -> type:
    """The dataclass whose field rules check the parameters of model ``name``."""
    if name == "transfer":
        return TransferParams
    if name in ("mlp", "tabular_mlp"):
        from fedloom.models.mlp import MLPConfig

        return MLPConfig
    from fedloom.models.transfer import _family_classes

    return _family_classes(name)[1]


def check_model_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of model ``name`` checked against its config's rules, lists made tuples.

    Raises
    ------
    ConfigError
        A parameter the model does not take, or a bad value (``field 'model.params.hidden'``).
    """
    accepted = MODELS[name][1]
    for key, value in params.items():
        if key not in accepted:
            raise parameter_error(
                f"model.params.{key}", f"is not a parameter of {name} (it takes {', '.join(accepted)})", value
            )
    checked: Any = validate(_rules(name), params, prefix="model.params")
    return {key: getattr(checked, key) for key in params}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSection(_Section):
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

    name: Annotated[str, one_of(*DATASETS)] = "mnist"
    path: str | None = Field(default=None, validate_default=True)
    test_path: str | None = None
    limit: Annotated[int | None, integer(ge=1, optional=True)] = None
    test: Annotated[bool, flag()] = True
    test_limit: Annotated[int | None, integer(ge=1, optional=True)] = None

    @field_validator("path")
    @classmethod
    def _otto_needs_a_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("name") == "otto" and not value:
            raise ValueError("must name the training CSV of the otto dataset")
        return value


class ModelSection(_Section):
    """``model:`` of a recipe: a name from :data:`MODELS` and its parameters."""

    name: Annotated[str, one_of(*MODELS)] = "mlp"
    params: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Section):
    """A whole training recipe (``output`` defaults to ``runs/{name}``)."""

    name: Annotated[str, rule("a non-empty string", lambda v: isinstance(v, str) and bool(v))] = "run"
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: Annotated[str, rule("a folder path", lambda v: isinstance(v, str) and bool(v))] = "runs/run"

    @model_validator(mode="before")
    @classmethod
    def _output_after_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "output" not in data:
            return {**data, "output": f"runs/{data.get('name', 'run')}"}
        return data

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain data (what :func:`parse_recipe` reads back)."""
        return self.model_dump()


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
    train = data.get("train")
    if isinstance(train, dict) and train.get("out_dir") is not None:
        raise parameter_error(
            "train.out_dir", "must be left out: the top-level 'output' key names the folder", train["out_dir"]
        )
    recipe = validate(Recipe, data)
    check_model_params(recipe.model.name, recipe.model.params)
    recipe.train.out_dir = recipe.output
    return recipe


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
