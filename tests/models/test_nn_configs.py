"""Every recipe and model config: its defaults pass its own rules, and each rule is live."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fedloom.core.errors import ConfigError
from fedloom.core.validation import check, validate

pytest.importorskip("torch")

from fedloom.models.bert import FinetuneConfig
from fedloom.models.cnn import DenseNetConfig, PreActResNetConfig, ResNetConfig, VGGConfig
from fedloom.models.mlp import MLPConfig
from fedloom.models.recipe import MODELS, DatasetSection, ModelSection, Recipe, TransferParams
from fedloom.models.tiny_gpt import GPTConfig
from fedloom.models.train import TrainConfig

CONFIGS: list[Any] = [
    TrainConfig(),
    MLPConfig(),
    ResNetConfig(),
    PreActResNetConfig(),
    VGGConfig(),
    DenseNetConfig(),
    GPTConfig(),
    GPTConfig.nano(),
    FinetuneConfig(),
    TransferParams(),
]

#: One out-of-range value per field with a rule.
BROKEN: dict[str, Any] = {
    "epochs": 0,
    "batch_size": 0,
    "lr": 0.0,
    "momentum": 1.0,
    "gamma": 0.0,
    "in_features": 0,
    "hidden": [],
    "n_classes": 0,
    "dropout": 1.0,
    "widths": [],
    "blocks": [-1],
    "layers": "32,0",
    "growth": 0,
    "compression": 0.0,
    "vocab_size": 1,
    "n_head": 0,
    "warmup_fraction": 1.0,
    "mode": "frozen",
    "image_size": 2,
    "input_norm": [0.5],
    "in_channels": 0,
}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_defaults_pass_their_own_rules_and_every_rule_is_live(config: Any) -> None:
    # Execute / Assert: the defaults pass ...
    assert check(config) == config
    # ... and breaking one field at a time is refused, naming it
    names = [f.name for f in dataclasses.fields(config) if f.name in BROKEN]
    assert names, type(config).__name__
    for name in names:
        if name == "hidden" and isinstance(config, TransferParams):
            continue
        with pytest.raises(ConfigError) as info:
            check(dataclasses.replace(config, **{name: BROKEN[name]}), prefix="cfg")
        assert info.value.field == f"cfg.{name}", name


def test_recipe_sections_defaults_pass() -> None:
    for section in (DatasetSection(), ModelSection(), Recipe()):
        assert validate(type(section), section.model_dump()) == section


def test_hand_checked_rules_name_their_field() -> None:
    with pytest.raises(
        ConfigError, match=r"field 'GPTConfig\.n_embd': must be a multiple of n_head=2\. Got 9\."
    ):
        GPTConfig(n_embd=9).validate()
    with pytest.raises(ConfigError, match=r"field 'finetune\.lr': must be a number > 0\. Got 0\."):
        FinetuneConfig(lr=0).validate()


def test_model_builders_check_their_params_for_every_caller() -> None:
    # Execute / Assert: the builders (which Homo NN calls too) refuse bad params, naming them
    build = MODELS["mlp"][0]
    with pytest.raises(ConfigError) as info:
        build((4,), 2, {"hidden": [0]})
    assert info.value.field == "model.params.hidden"
    with pytest.raises(ConfigError, match="is not a parameter of tabular_mlp"):
        MODELS["tabular_mlp"][0]((4,), 2, {"batchnorm": True})
    model = build((4,), 3, {"hidden": [5], "dropout": 0.1})
    assert model.config.hidden == (5,) and model.config.in_features == 4
