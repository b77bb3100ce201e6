"""Training recipes (fedloom.models.recipe) and the `fedloom nn` / `fedloom datasets` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fedloom.core.errors import ConfigError, DataError

pytest.importorskip("torch")

from fedloom.models.recipe import Recipe, load_recipe, parse_recipe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "recipes"


def _base() -> dict[str, Any]:
    return {
        "name": "t",
        "dataset": {"name": "mnist", "limit": 300},
        "model": {"name": "mlp", "params": {"hidden": [32]}},
        "train": {"epochs": 1, "lr": 0.05},
        "output": "runs/t",
    }


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.*")), ids=lambda p: p.name)
def test_example_recipes_are_valid(path: Path) -> None:
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe) and recipe.train.out_dir == recipe.output


def test_default_recipe_is_valid() -> None:
    assert parse_recipe(Recipe().to_dict() | {"train": {}}).model.name == "mlp"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"train": {"lr": -1}}, "train.lr"),
        ({"train": {"learning_rate": 0.1}}, "train.learning_rate"),
        ({"train": {"out_dir": "x"}}, "train.out_dir"),
        ({"dataset": {"name": "cifar"}}, "dataset.name"),
        ({"dataset": {"name": "otto"}}, "dataset.path"),
        ({"dataset": {"name": "mnist", "limit": 0}}, "dataset.limit"),
        ({"dataset": {"name": "mnist", "test_limit": 1.5}}, "dataset.test_limit"),
        ({"model": {"name": "transformer"}}, "model.name"),
        ({"model": {"name": "mlp", "params": {"hidden": [0]}}}, "model.params.hidden"),
        ({"model": {"name": "mlp", "params": {"width": 3}}}, "model.params.width"),
        ({"epochs": 3}, "epochs"),
        ({"dataset": [1]}, "dataset"),
    ],
)
def test_recipe_errors_name_the_field(patch: dict[str, Any], field: str) -> None:
    data = _base()
    data.update(patch)
    with pytest.raises(ConfigError) as info:
        parse_recipe(data)
    assert info.value.field == field and f"field '{field}'" in str(info.value)


def test_load_recipe_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid yaml"):
        load_recipe(tmp_path / "r.yaml")


def test_nn_train_cli_with_resume(tmp_path: Path) -> None:
    # Prepare
    from fedloom.cli.nn import app
    from fedloom.models.datasets import DatasetUnavailableError, ensure

    try:
        ensure("mnist")
    except DatasetUnavailableError as err:  # absent here; a corrupt file fails the test
        pytest.skip(str(err))
    data = _base()
    data["dataset"] = {"name": "mnist", "limit": 600, "test_limit": 1000}
    data["train"] = {"epochs": 2, "batch_size": 32, "lr": 0.05, "val_fraction": 0.2}
    data["output"] = str(tmp_path / "run")
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps(data))
    runner = CliRunner()
    # Execute: one epoch, then resume to two
    first = runner.invoke(app, ["train", str(recipe), "--epochs", "1", "--no-progress"])
    second = runner.invoke(app, ["train", str(recipe), "--resume", "--no-progress"])
    # Assert
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 2 and summary["test_accuracy"] > 0.6
    for name in ("metrics.json", "curves.png", "checkpoint.pt", "model.pt", "recipe.json"):
        assert (tmp_path / "run" / name).is_file()


def test_datasets_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedloom.cli.datasets import app

    monkeypatch.setenv("FEDLOOM_CACHE", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0 and "mnist" in listed.output and "missing" in listed.output
    failed = runner.invoke(app, ["fetch", "imdb", "--from", str(tmp_path / "nope")])
    assert isinstance(failed.exception, DataError) and "does not exist" in str(failed.exception)


def test_otto_tabular_recipe(tmp_path: Path) -> None:
    # Prepare: a synthetic Otto-layout CSV with 3 separable classes
    import numpy as np

    rng = np.random.default_rng(0)
    lines = ["id," + ",".join(f"feat_{j}" for j in range(1, 7)) + ",target"]
    for i in range(300):
        k = i % 3
        counts = rng.poisson(1.0, 6) + np.where(np.arange(6) // 2 == k, 6, 0)
        lines.append(f"{i + 1}," + ",".join(map(str, counts)) + f",Class_{k + 1}")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    data = {
        "name": "otto",
        "dataset": {
            "name": "otto",
            "path": str(tmp_path / "train.csv"),
            "test_path": str(tmp_path / "train.csv"),
        },
        "model": {"name": "tabular_mlp", "params": {"hidden": [16], "dropout": 0.1}},
        "train": {"epochs": 5, "batch_size": 32, "optimizer": "adamw", "lr": 0.01, "val_fraction": 0.2},
        "output": str(tmp_path / "run"),
    }
    # Execute
    from fedloom.models.recipe import run_recipe

    summary = run_recipe(parse_recipe(data))
    # Assert
    assert summary["epochs_run"] == 5 and summary["test_accuracy"] > 0.9


def test_cnn_recipe(tmp_path: Path) -> None:
    from fedloom.models.datasets import DatasetUnavailableError, ensure
    from fedloom.models.recipe import run_recipe

    try:
        ensure("fashion-mnist")
    except DatasetUnavailableError as err:  # absent here; a corrupt file fails the test
        pytest.skip(str(err))
    data = {
        "dataset": {"name": "fashion-mnist", "limit": 512, "test_limit": 500},
        "model": {"name": "preact_resnet", "params": {"widths": [8, 16], "blocks": [1, 1]}},
        "train": {"epochs": 1, "batch_size": 32, "lr": 0.05},
        "output": str(tmp_path / "run"),
    }
    summary = run_recipe(parse_recipe(data))
    assert summary["parameters"] < 20_000 and 0.0 <= summary["test_accuracy"] <= 1.0
