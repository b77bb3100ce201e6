"""Text recipes (tiny GPT on Austen, BERT on IMDB): schema, the GPT loss, resume, training extras."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedloom.core.errors import ConfigError

torch = pytest.importorskip("torch")

from fedloom.models.recipe import parse_recipe, run_recipe  # noqa: E402
from fedloom.models.text_tasks import gpt_loss  # noqa: E402
from fedloom.models.train import TrainConfig, fit  # noqa: E402


def _gpt(tmp: Path | str = "runs/t") -> dict[str, Any]:
    return {
        "name": "gpt",
        "dataset": {"name": "austen", "limit": 1500, "test_limit": 400},
        "model": {"name": "tiny_gpt", "params": {"vocab_size": 200, "n_embd": 16, "dropout": 0.1}},
        "train": {"epochs": 2, "batch_size": 64, "optimizer": "adamw", "lr": 0.01, "schedule": "cosine",
                  "val_fraction": 0.1, "seed": 0},
        "adversary": {"weight": 0.5, "letter": "e", "epochs": 2, "limit": 300},
        "output": str(tmp),
    }  # fmt: skip


def _bert() -> dict[str, Any]:
    return {
        "dataset": {"name": "imdb", "limit": 10},
        "model": {"name": "bert", "params": {"max_length": 32}},
        "train": {"grad_accum": 2, "schedule": "warmup_linear", "warmup_fraction": 0.1, "amp": True},
    }


def _austen() -> None:
    from fedloom.models.datasets import DatasetUnavailableError, ensure

    try:
        ensure("austen")
    except DatasetUnavailableError as err:  # absent here and not obtainable; a corrupt file fails
        pytest.skip(str(err))


def test_text_recipes_parse() -> None:
    gpt = parse_recipe(_gpt())
    bert = parse_recipe(_bert())
    assert gpt.adversary is not None and gpt.adversary.weight == 0.5 and gpt.model.params["n_embd"] == 16
    assert bert.train.grad_accum == 2 and bert.train.schedule == "warmup_linear" and bert.adversary is None


@pytest.mark.parametrize(
    ("base", "section", "patch", "field"),
    [
        (_gpt, "adversary", {"wieght": 0.1}, "adversary.wieght"),
        (_gpt, "model", {"params": {"n_heads": 2}}, "model.params.n_heads"),
        (_gpt, "dataset", {"hold_out": 0.2}, "dataset.hold_out"),
        (_gpt, "adversary", {"letter": "E"}, "adversary.letter"),
        (_gpt, "adversary", {"score": "vowels"}, "adversary.score"),
        (_gpt, "adversary", {"weight": -1}, "adversary.weight"),
        (_gpt, "model", {"params": {"n_embd": 10, "n_head": 4}}, "model.params.n_embd"),
        (_gpt, "dataset", {"name": "imdb"}, "dataset.name"),
        (_bert, "model", {"params": {"max_len": 64}}, "model.params.max_len"),
        (_bert, "train", {"gradient_accumulation": 4}, "train.gradient_accumulation"),
        (_bert, "train", {"grad_accum": 0}, "train.grad_accum"),
        (_bert, "train", {"device": "tpu"}, "train.device"),
        (_bert, "model", {"params": {"max_length": 4}}, "model.params.max_length"),
        (_bert, "model", {"name": "mlp", "params": {}}, "model.name"),
        (_bert, "adversary", {"weight": 0.1}, "adversary"),
        (_bert, "generation", {"n": 3}, "generation"),
    ],
)
def test_text_recipe_errors_name_the_field(
    base: Any, section: str, patch: dict[str, Any], field: str
) -> None:
    data = base()
    data[section] = {**data.get(section, {}), **patch}
    with pytest.raises(ConfigError) as info:
        parse_recipe(data)
    assert info.value.field == field and f"field '{field}'" in str(info.value)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gpt_loss_is_ce_minus_weighted_expected_score(reduction: str) -> None:
    # Prepare: logits (B, T, V), targets, per-word scores; the loss written out in numpy
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (3, 4), generator=g)
    scores = torch.tensor([0.0, 1, 2, 0, 3, 1], dtype=torch.float64)
    z = out.numpy()
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    nll = -np.log(np.take_along_axis(p, y.numpy()[..., None], -1))[..., 0]  # (B, T)
    expected = p @ scores.numpy()  # (B, T)
    agg = np.mean if reduction == "mean" else np.sum
    # Execute / Assert
    assert float(gpt_loss()(out, y, reduction)) == pytest.approx(agg(nll), rel=1e-12)
    assert float(gpt_loss(scores, 0.3)(out, y, reduction)) == pytest.approx(
        agg(nll) - 0.3 * agg(expected), rel=1e-12
    )


def _state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_gpt_recipe_resume_after_interrupt_equals_uninterrupted(tmp_path: Path) -> None:
    # Prepare: dropout, a validation split (best weights restored), cosine schedule, adversary + control
    _austen()
    torch.set_num_threads(1)
    whole = parse_recipe(_gpt(tmp_path / "whole"))
    cut = parse_recipe(_gpt(tmp_path / "cut"))
    # Execute: uninterrupted; then stopped after epoch 1 (as a kill leaves it) and resumed
    summary = run_recipe(whole)
    stopped = run_recipe(cut, stop_after=1)
    assert stopped.get("interrupted") and not (tmp_path / "cut" / "adversary").exists()
    resumed = run_recipe(cut, resume=True)
    # Assert
    assert resumed["epochs_run"] == summary["epochs_run"] == 2
    for rel in ("model.pt", "adversary/model.pt", "control/model.pt"):
        a, b = _state(tmp_path / "whole" / rel), _state(tmp_path / "cut" / rel)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), rel
    assert resumed["adversary"] == summary["adversary"]
    before, after = summary["adversary"]["before"], summary["adversary"]["after"]
    assert summary["test_accuracy"] == before["accuracy"] and 0 < before["accuracy"] < 1
    assert summary["adversary"]["shift"]["expected_score"] == pytest.approx(
        after["expected_score"] - before["expected_score"], abs=1e-5
    )


@pytest.mark.slow
def test_adversary_phase_restarts_when_its_base_changed(tmp_path: Path) -> None:
    # A finished run resumed with a different base (more epochs) must not reuse the stale phase.
    _austen()
    torch.set_num_threads(1)
    data = _gpt(tmp_path / "run")
    data["train"] |= {"epochs": 1, "schedule": "none", "val_fraction": 0.0}
    data["adversary"] |= {"epochs": 1, "control": False}
    run_recipe(parse_recipe(data))
    stale = _state(tmp_path / "run" / "adversary" / "model.pt")
    data["train"]["epochs"] = 2
    run_recipe(parse_recipe(data), resume=True)
    data["output"] = str(tmp_path / "fresh")
    run_recipe(parse_recipe(data))
    resumed = _state(tmp_path / "run" / "adversary" / "model.pt")
    fresh = _state(tmp_path / "fresh" / "adversary" / "model.pt")
    assert all(torch.equal(resumed[k], fresh[k]) for k in fresh)
    assert not all(torch.equal(resumed[k], stale[k]) for k in stale)


def _blobs(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    y = torch.arange(n) % 3
    return torch.randn(n, 5, generator=g) + y[:, None].float(), y


def test_grad_accum_equals_the_larger_batch() -> None:
    # Two micro-batches of 8, losses halved and summed, give the gradient of one batch of 16
    # (no shuffle dependence: one batch per epoch).
    x, y = _blobs(16)
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = copy.deepcopy(a)
    fit(a, x, y, TrainConfig(epochs=3, batch_size=16, lr=0.1, momentum=0.0))
    fit(b, x, y, TrainConfig(epochs=3, batch_size=8, grad_accum=2, lr=0.1, momentum=0.0))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_warmup_linear_schedule_per_optimiser_step(tmp_path: Path) -> None:
    # 64 rows, batch 8, accumulation 2: 4 optimiser steps an epoch, 8 in all, 2 warm-up steps.
    x, y = _blobs(64)
    cfg = TrainConfig(epochs=2, batch_size=8, grad_accum=2, lr=1.0, optimizer="sgd", momentum=0.0,
                      schedule="warmup_linear", warmup_fraction=0.25, out_dir=str(tmp_path))  # fmt: skip
    result = fit(torch.nn.Linear(5, 3), x, y, cfg)
    total, warm = 8, 2
    factors = [(s + 1) / (warm + 1) if s < warm else (total - s) / (total - warm) for s in range(total + 1)]
    # The lr recorded for epoch e is the one of its first optimiser step (step 4 * (e - 1)).
    assert [h["lr"] for h in result.history] == pytest.approx([factors[0], factors[4]])
    saved = _state(tmp_path / "checkpoint.pt")
    assert saved["schedule"]["last_epoch"] == total and math.isclose(
        saved["optimizer"]["param_groups"][0]["lr"], factors[total]
    )
