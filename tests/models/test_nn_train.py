"""The local trainer (fedloom.models.train) and the MLP."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from fedloom.core.errors import ConfigError  # noqa: E402
from fedloom.models.mlp import MLP, MLPConfig, tabular_mlp  # noqa: E402
from fedloom.models.train import TrainConfig, evaluate, fit  # noqa: E402


def _blobs(n: int = 600, k: int = 3, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=g) * 3
    y = torch.randint(0, k, (n,), generator=g)
    x = centres[y] + torch.randn(n, d, generator=g)
    return x, y


def test_mlp_shapes_and_log_probs() -> None:
    model = MLP()
    out = model(torch.randn(5, 1, 28, 28))  # (B, 10)
    assert out.shape == (5, 10)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(5))
    assert [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)] == [
        512,
        256,
        128,
        64,
        10,
    ]
    assert tabular_mlp(93, 9)(torch.randn(4, 93)).shape == (4, 9)


def test_fit_learns_and_writes_artifacts(tmp_path: Path) -> None:
    # Prepare
    x, y = _blobs()
    torch.manual_seed(0)
    model = MLP(MLPConfig(in_features=8, hidden=(32, 16), n_classes=3))
    cfg = TrainConfig(
        epochs=5, batch_size=32, lr=0.05, val_fraction=0.2, schedule="cosine", out_dir=str(tmp_path)
    )
    # Execute
    result = fit(model, x, y, cfg)
    # Assert
    assert result.epochs_run == 5 and result.history[-1]["val_accuracy"] > 0.9
    assert result.history[0]["lr"] == 0.05 and result.history[-1]["lr"] < 0.05
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_run"] == 5 and metrics["config"]["schedule"] == "cosine"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "checkpoint.pt").is_file()
    loss, acc = evaluate(model, x, y)
    assert acc > 0.9 and loss < 0.5


def _run(out: Path, stop_after: int | None, resume: bool) -> tuple[MLP, list[dict[str, float]]]:
    x, y = _blobs()
    torch.manual_seed(1)
    model = MLP(MLPConfig(in_features=8, hidden=(32, 16), n_classes=3, dropout=0.3))
    cfg = TrainConfig(
        epochs=4,
        batch_size=50,
        lr=0.05,
        weight_decay=1e-3,
        schedule="step",
        step_size=1,
        gamma=0.5,
        val_fraction=0.2,
        out_dir=str(out),
    )
    result = fit(model, x, y, cfg, stop_after=stop_after, resume=resume)
    return model, [{k: v for k, v in h.items() if k != "seconds"} for h in result.history]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    # Prepare: an uninterrupted run, and one stopped after epoch 2 then resumed in a fresh model
    full_model, full_hist = _run(tmp_path / "full", None, False)
    _, first = _run(tmp_path / "cut", 2, False)
    # Execute
    resumed_model, resumed_hist = _run(tmp_path / "cut", None, True)
    # Assert: same history (incl. the halved LR and dropout noise) and bit-identical weights
    assert len(first) == 2 and resumed_hist == full_hist
    for k, v in full_model.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[k], v, rtol=0, atol=0)


def test_early_stopping(tmp_path: Path) -> None:
    x, y = _blobs()
    y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(3))]  # labels are noise
    model = MLP(MLPConfig(in_features=8, hidden=(64,), n_classes=3))
    cfg = TrainConfig(epochs=50, lr=0.1, val_fraction=0.3, early_stopping_patience=2, out_dir=str(tmp_path))
    result = fit(model, x, y, cfg)
    assert result.stopped_early and result.epochs_run < 50
    assert result.epochs_run == result.best_epoch + 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", 0.0, "field 'train.lr': must be a number > 0. Got 0.0."),
        ("optimizer", "rmsprop", "must be one of sgd, adam, adamw"),
        ("epochs", 0, "field 'train.epochs'"),
        ("val_fraction", 1.0, "field 'train.val_fraction'"),
        ("schedule", "linear", "field 'train.schedule'"),
    ],
)
def test_bad_config(field: str, value: object, message: str) -> None:
    cfg = TrainConfig(**{field: value})  # type: ignore[arg-type]
    x, y = _blobs(20)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        fit(MLP(MLPConfig(in_features=8, n_classes=3)), x, y, cfg)


def test_default_config_is_valid() -> None:
    from fedloom.models.train import validate_config

    # Execute / Assert: the defaults pass their own checks (validate_config raises otherwise) ...
    defaults = TrainConfig()
    validate_config(defaults)
    # ... and those checks are live: breaking one default at a time is refused, naming it.
    broken: dict[str, Any] = {"epochs": 0, "batch_size": 0, "lr": 0.0, "momentum": 1.0, "gamma": 0.0}
    for name, bad in broken.items():
        with pytest.raises(ConfigError, match=rf"field 'train\.{name}'"):
            validate_config(dataclasses.replace(defaults, **{name: bad}))


def test_restore_best_without_out_dir() -> None:
    x, y = _blobs()
    torch.manual_seed(0)
    model = MLP(MLPConfig(in_features=8, hidden=(32,), n_classes=3))
    cfg = TrainConfig(epochs=6, lr=0.5, val_fraction=0.3)  # a large LR makes later epochs worse
    result = fit(model, x, y, cfg)
    best = min(result.history, key=lambda h: h["val_loss"])
    from fedloom.models.train import _split

    _, _, x_val, y_val = _split(x, y, 0.3, 0)  # the same seeded split fit() made
    assert x_val is not None and y_val is not None
    assert evaluate(model, x_val, y_val)[0] == pytest.approx(best["val_loss"], rel=1e-5)


def test_divergence_is_reported() -> None:
    x, y = _blobs(64)
    model = MLP(MLPConfig(in_features=8, hidden=(8,), n_classes=3))
    with torch.no_grad():
        model.head.bias.fill_(float("inf"))  # stands in for weights that blew up: the loss is NaN
    with pytest.raises(ConfigError, match=r"training diverged at epoch 1.*lower the learning rate"):
        fit(model, x, y, TrainConfig(epochs=2, lr=10.0))
