"""Federated recipe runs (fedloom.ml.homo.recipe_fedavg, fedloom.runner.nn_federated): client splits
are deterministic partitions, one client equals local training, and ``fedloom nn train
--federated`` runs three client processes and an arbiter for two rounds on an MNIST slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from homo_party_targets import blobs, factory  # type: ignore[import-not-found]  # noqa: E402

from fedloom.core import ConfigError, DataError  # noqa: E402
from fedloom.ml.homo.nn import HomoNNArbiter, state_to_vector  # noqa: E402
from fedloom.ml.homo.recipe_fedavg import (  # noqa: E402
    FederatedSettings,
    RecipeClient,
    homo_params,
    merge_rounds,
)
from fedloom.models.datasets.split import (  # noqa: E402
    chunked_iid,
    dirichlet_split,
    iid_split,
    parse_split,
    split_indices,
)
from fedloom.models.recipe import parse_recipe  # noqa: E402
from fedloom.models.train import TrainConfig, fit  # noqa: E402
from fedloom.testing import run_parties  # noqa: E402


def assert_partition(parts: list[np.ndarray], n: int) -> None:
    """Every index 0..n-1 in exactly one part; each part sorted."""
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))
    assert all(np.array_equal(p, np.sort(p)) for p in parts)


# -- splits ---------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=12, max_size=300),
    clients=st.integers(1, 4),
    alpha=st.sampled_from([0.1, 0.5, 1.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_dirichlet_split_is_a_deterministic_partition(
    labels: list[int], clients: int, alpha: float, seed: int
) -> None:
    y = np.array(labels)
    try:
        a = dirichlet_split(y, clients, alpha, seed)
    except DataError:  # tiny data with a skewed alpha may never give every client an example
        return
    b = dirichlet_split(y, clients, alpha, seed)
    assert_partition(a, len(y))
    assert len(a) == clients and all(len(p) >= 1 for p in a)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 500), clients=st.integers(1, 6), chunk=st.integers(1, 40), seed=st.integers(0, 99))
def test_iid_and_chunked_splits_are_partitions(n: int, clients: int, chunk: int, seed: int) -> None:
    if n < clients:
        with pytest.raises(DataError, match="cannot be split"):
            iid_split(n, clients, seed)
        return
    parts = iid_split(n, clients, seed)
    assert_partition(parts, n)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    if -(-n // chunk) >= clients:
        runs = chunked_iid(n, clients, chunk, seed)
        assert_partition(runs, n)
        for p in runs:  # whole runs only: every run [k·chunk, (k+1)·chunk) lies in one client
            assert set(np.unique(p // chunk)) == {int(k) for k in p // chunk}
            for k in np.unique(p // chunk):
                assert np.count_nonzero(p // chunk == k) == min(chunk, n - int(k) * chunk)


def test_dirichlet_skews_labels_and_iid_does_not() -> None:
    # Prepare: 10 balanced classes, 3000 examples
    y = np.repeat(np.arange(10), 300)
    # Execute
    skewed = split_indices(len(y), 3, "dirichlet:0.1", seed=0, labels=y)
    even = split_indices(len(y), 3, "iid", seed=0, labels=y)
    flat = split_indices(len(y), 3, "dirichlet:1000", seed=0, labels=y)

    # Assert: the largest class share of each client (1/10 when balanced)
    def top_share(parts: list[np.ndarray]) -> float:
        return float(np.mean([np.bincount(y[p], minlength=10).max() / len(p) for p in parts]))

    assert top_share(skewed) > 0.3 and top_share(even) < 0.13 and top_share(flat) < 0.13
    assert_partition(skewed, len(y))
    other = split_indices(len(y), 3, "dirichlet:0.1", seed=1, labels=y)
    assert any(not np.array_equal(p, q) for p, q in zip(skewed, other, strict=True))


def test_split_names_are_checked() -> None:
    assert parse_split("Dirichlet:0.5").alpha == 0.5 and parse_split("iid").kind == "iid"
    for bad in ("dirichlet", "dirichlet:0", "dirichlet:-1", "shards", "dirichlet:abc"):
        with pytest.raises(ConfigError, match="'split'"):
            parse_split(bad)
    with pytest.raises(ConfigError, match="labels"):
        split_indices(10, 2, "dirichlet:0.5")


# -- the client -----------------------------------------------------------------------------------
class BlobsWorkload:
    """Three Gaussian classes (homo_party_targets.blobs) as a recipe workload."""

    def __init__(self, test: tuple[Any, Any]) -> None:
        self.test_set = test

    def build(self) -> Any:
        return factory()

    def loss(self, model: Any, xb: Any, yb: Any) -> Any:
        return torch.nn.functional.cross_entropy(model(xb), yb)

    def evaluate(self, model: Any, data: Any) -> tuple[float, float, int]:
        with torch.no_grad():
            out = model(data[0])
        loss = float(torch.nn.functional.cross_entropy(out, data[1]))
        return loss, float((out.argmax(1) == data[1]).float().mean()), len(data[1])

    def has_test(self) -> bool:
        return True

    def test(self, model: Any) -> dict[str, float]:
        loss, acc, _ = self.evaluate(model, self.test_set)
        return {"test_loss": loss, "test_accuracy": acc}


@pytest.mark.parametrize(
    "schedule",
    [{}, {"schedule": "cosine"}, {"schedule": "step", "step_size": 2, "gamma": 0.5},
     {"schedule": "warmup_linear", "warmup_fraction": 0.25}],
)  # fmt: skip
def test_one_recipe_client_equals_the_local_recipe_run(schedule: dict[str, Any]) -> None:
    # Prepare: a recipe's train section; 3 rounds of 2 local epochs = 6 local epochs, the same
    # learning-rate schedule over them as the local run's over its 6 epochs
    train = {"epochs": 6, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "seed": 3, **schedule}
    recipe = parse_recipe({"train": train, "output": "unused"})
    fed = FederatedSettings(clients=1, rounds=3, local_epochs=2)
    params = homo_params(recipe, fed)
    x, y = blobs(1)
    test = blobs(99)
    torch.manual_seed(3)
    local = factory()
    fit(local, x, y, TrainConfig(**train))
    # Execute
    client = RecipeClient(params, BlobsWorkload(test), test=True, train=recipe.train)
    out = run_parties(
        {
            "guest:9999": lambda ctx: client.fit(ctx, (x, y)),
            "arbiter:10000": lambda ctx: HomoNNArbiter(params).fit(ctx),
        },
        timeout=60,
    )
    # Assert: the same weights up to secure aggregation's fixed-point rounding (2^-25 per value
    # per round); the recorded test accuracy is the global model's, computed here independently
    fed_model = out["guest:9999"].model
    assert np.abs(state_to_vector(fed_model) - state_to_vector(local)).max() < 1e-6
    assert len(client.test_rows) == 3
    with torch.no_grad():
        acc = (local(test[0]).argmax(1) == test[1]).double().mean().item()
    assert client.test_rows[-1]["test_accuracy"] == pytest.approx(acc, abs=1e-9)


def test_rows_merge_by_round() -> None:
    arb = [
        {"round": 0, "loss": 2.0, "samples": 90.0, "val_loss": 1.5, "val_accuracy": 0.5, "seconds": 1.0},
        {
            "round": 1,
            "loss": 1.0,
            "samples": 90.0,
            "val_loss": 0.5,
            "val_accuracy": 0.8,
            "weight_change": 0.3,
            "seconds": 2.0,
        },
    ]
    test = [{"test_loss": 1.4, "test_accuracy": 0.6}, {"test_loss": 0.6, "test_accuracy": 0.85}]
    rows = merge_rounds(arb, test, local_epochs=2)
    assert [r["round"] for r in rows] == [1, 2] and [r["epoch"] for r in rows] == [2, 4]
    assert (
        rows[1]["train_loss"] == 1.0 and rows[1]["test_accuracy"] == 0.85 and rows[1]["val_accuracy"] == 0.8
    )
    assert "weight_change" not in rows[0] and rows[1]["weight_change"] == 0.3


def test_bad_federated_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match="'clients'"):
        FederatedSettings(clients=0).check()
    with pytest.raises(ConfigError, match="'rounds'"):
        FederatedSettings(rounds=0).check()
    with pytest.raises(ConfigError, match="'split'"):
        FederatedSettings(split="dirichlet:x").check()


# -- the command, over OS processes ---------------------------------------------------------------
@pytest.mark.slow
def test_cli_federated_mnist_slice_two_rounds_three_clients(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fedloom.cli.nn import app
    from fedloom.models.datasets import ensure, load_image_dataset

    try:
        ensure("mnist")
    except DataError as err:
        pytest.skip(f"mnist unavailable: {err}")
    # Prepare: 1200 training images split dirichlet:0.5 over 3 clients, 400 test images
    recipe = {
        "name": "mnist-fed",
        "dataset": {"name": "mnist", "limit": 1200, "test": True, "test_limit": 400},
        "model": {"name": "mlp", "params": {"hidden": [64]}},
        "train": {"epochs": 5, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "val_fraction": 0.1, "seed": 0},
        "output": str(tmp_path / "run"),
    }
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    # Execute
    res = CliRunner().invoke(
        app,
        ["train", str(path), "--federated", "--clients", "3", "--split", "dirichlet:0.5", "--rounds", "2"],
    )
    # Assert: per-round metrics from the arbiter and the guest, files like the local run's
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    rows = metrics["history"]
    assert [r["round"] for r in rows] == [1, 2] and metrics["config"]["federated"]["clients"] == 3
    for key in ("train_loss", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds"):
        assert all(key in r for r in rows), key
    assert all(r["samples"] == sum(c["train"] for c in metrics["clients"]) for r in rows)
    _, labels = load_image_dataset("mnist", "train", limit=1200)
    counts = np.sum([c["class_counts"] for c in metrics["clients"]], axis=0)
    assert np.array_equal(counts, np.bincount(labels, minlength=10))  # every example, once
    assert (tmp_path / "run" / "curves.png").stat().st_size > 0
    # The saved global model scores the test slice as the guest reported, recomputed here
    images, ty = load_image_dataset("mnist", "test", limit=400)
    x = torch.from_numpy(images).float().div(255.0).sub(0.1307).div(0.3081).unsqueeze(1)
    from fedloom.models.mlp import MLP, MLPConfig

    model = MLP(MLPConfig(in_features=784, n_classes=10, hidden=(64,)))
    model.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1).numpy() == ty).mean()
    assert rows[-1]["test_accuracy"] == pytest.approx(acc, abs=1e-9) and acc > 0.5
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
