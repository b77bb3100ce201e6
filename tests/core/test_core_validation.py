"""The one error formatter (fedloom.core.validation) and the one SHA-256 file helper."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fedloom.core.errors import ConfigError
from fedloom.core.hashing import sha256_file
from fedloom.core.validation import (
    check,
    config_error,
    describe_validation_error,
    flag,
    int_list,
    integer,
    number,
    one_of,
    parameter_error,
    validate,
)


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_length: int = Field(default=2048, ge=1024)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    learning_rate: float = Field(default=0.1, gt=0)
    max_iter: int = 10
    penalty: str = "L2"
    inner: _Inner = Field(default_factory=_Inner)
    seed: int | str = 0


@dataclass
class _Config:
    lr: Annotated[float, number(gt=0)] = 0.01
    momentum: Annotated[float, number(ge=0, lt=1)] = 0.9
    epochs: Annotated[int, integer(ge=1)] = 10
    patience: Annotated[int | None, integer(ge=1, optional=True)] = None
    optimizer: Annotated[str, one_of("sgd", "adam")] = "sgd"
    shuffle: Annotated[bool, flag()] = True
    hidden: Annotated[tuple[int, ...], int_list(ge=1)] = (8,)


def _error(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Params.model_validate(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"learning_rate": 0},
            "learning_rate",
            "The 'learning_rate' parameter of HeteroLR must be > 0.0. Got 0.",
        ),
        ({"max_iter": "ten"}, "max_iter", "The 'max_iter' parameter of HeteroLR must be an int. Got 'ten'."),
        (
            {"inner": {"key_length": 512}},
            "inner.key_length",
            "The 'inner.key_length' parameter of HeteroLR must be greater than or equal to 1024. Got 512.",
        ),
        (
            {"learnig_rate": 1},
            "learnig_rate",
            "The 'learnig_rate' parameter of HeteroLR is not a recognised name; check its spelling. Got 1.",
        ),
        (
            {"seed": 1.5},
            "seed",
            "The 'seed' parameter of HeteroLR must be an int or a string. Got 1.5.",
        ),
    ],
)
def test_config_error_has_the_one_shape_and_names_the_field(data: dict, field: str, message: str) -> None:
    # Execute
    err = config_error(_error(data), "HeteroLR", "hetero_lr_0")
    # Assert
    assert (err.message, err.field, err.component) == (message, field, "hetero_lr_0")
    assert str(err) == f"[hetero_lr_0] field '{field}': {message}"


def test_several_problems_are_counted_and_described_one_per_field() -> None:
    exc = _error({"learning_rate": -1, "max_iter": "x"})
    assert config_error(exc, "HeteroLR").message.endswith("Got -1. (1 more problem(s))")
    lines = describe_validation_error(exc, "parameter of hetero_lr_0")
    assert [f for f, _ in lines] == ["learning_rate", "max_iter"]


def test_without_an_owner_the_field_path_carries_the_section() -> None:
    # Execute
    with pytest.raises(ConfigError) as info:
        validate(_Config, {"lr": -1}, prefix="train")
    # Assert: the shape of core/errors.py, the dotted path as the field
    assert info.value.field == "train.lr"
    assert str(info.value) == "field 'train.lr': must be a number > 0. Got -1."


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("lr", 0.0, "must be a number > 0"),
        ("lr", True, "must be a number > 0"),
        ("lr", float("inf"), "must be a number > 0"),
        ("momentum", 1.0, "must be a number in [0, 1)"),
        ("epochs", 1.0, "must be an int >= 1"),
        ("patience", 0, "must be null or an int >= 1"),
        ("optimizer", "rmsprop", "must be one of sgd, adam"),
        ("shuffle", "yes", "must be true or false"),
        ("hidden", [], "must be a non-empty list of ints >= 1"),
    ],
)
def test_rules_word_what_they_check(field: str, value: object, rule: str) -> None:
    config = _Config(**{field: value})  # type: ignore[arg-type]  # __init__ only stores
    with pytest.raises(ConfigError) as info:
        check(config, prefix="cfg")
    assert info.value.field == f"cfg.{field}" and info.value.message.startswith(f"{rule}. Got ")


def test_check_returns_a_validated_copy_and_defaults_pass() -> None:
    config = _Config(hidden=[4, 2])  # type: ignore[arg-type]
    checked = check(config)
    assert checked.hidden == (4, 2) and config.hidden == [4, 2]  # the original is left as it is
    assert check(_Config()) == _Config()


def test_parameter_error_words_hand_checked_rules_the_same_way() -> None:
    err = parameter_error("n_embd", "must be a multiple of n_head=4", 9, owner="GPTConfig", component="gpt_0")
    assert err.message == "The 'n_embd' parameter of GPTConfig must be a multiple of n_head=4. Got 9."
    assert (err.field, err.component) == ("n_embd", "gpt_0")
    assert str(parameter_error("x", "is required")) == "field 'x': is required."


def test_sha256_file_equals_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # > one read chunk
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(str(tmp_path / "empty")) == hashlib.sha256(b"").hexdigest()


def test_one_of_can_take_fate_spellings() -> None:
    @dataclass
    class _Fate:
        optimizer: Annotated[str, one_of("sgd", "Adam", ignore_case=True)] = "sgd"
        penalty: Annotated[str, one_of("L1", "L2", "none", none="none")] = "L2"

    assert check(_Fate(optimizer="ADAM", penalty=None)) == _Fate("Adam", "none")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"field 'optimizer': must be one of sgd, Adam\. Got 'rmsprop'\."):
        check(_Fate(optimizer="rmsprop"))
    with pytest.raises(ConfigError, match="must be one of L1, L2, none"):
        check(_Fate(penalty="l1"))
