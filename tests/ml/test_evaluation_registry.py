"""The metric registry: a name (or FATE spelling) is accepted only if a function computes it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from fedloom.core.errors import ConfigError
from fedloom.ml.evaluation import (
    NOT_COMPUTED,
    REGISTRY,
    evaluate_binary,
    evaluate_multi,
    evaluate_regression,
    lower_is_better,
    resolve_metrics,
    score_metrics,
)

RNG = np.random.default_rng(3)
N = 200
Y = RNG.integers(0, 2, N)
SCORE = np.clip(0.3 * Y + 0.7 * RNG.random(N), 0, 1)
PRED = (SCORE >= 0.5).astype(int)


def _evaluate(task: str, names: list[str]) -> dict:
    if task == "binary":
        res = evaluate_binary(Y, SCORE, PRED, metrics=names)
        return {**res.scores, **res.curves}
    if task == "multi":
        return evaluate_multi(Y + PRED, PRED * 2, metrics=names).scores
    return evaluate_regression(SCORE, SCORE + 0.1 * Y, metrics=names).scores


@pytest.mark.parametrize(
    ("task", "spelling"),
    [(t, s) for t, ms in REGISTRY.items() for m in ms.values() for s in (m.name, *m.aliases)],
)
def test_every_accepted_name_is_computed(task: str, spelling: str) -> None:
    # Execute
    (name,) = resolve_metrics(task, [spelling.upper()])
    out = _evaluate(task, [spelling])
    # Assert: the metric is in the result under fedloom's name, and nothing else was asked for
    assert name in out and out[name] is not None
    assert set(out) - {name, "rows", "positives", "classes", "per_class", "ks_threshold", "roc"} == set()


@pytest.mark.parametrize("name", sorted(NOT_COMPUTED))
def test_fate_names_that_are_not_computed_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_metrics("binary", ["auc", name])
    assert info.value.field == "metrics"
    assert f"binary evaluation does not compute '{name}'" in info.value.message
    assert NOT_COMPUTED[name] in info.value.message
    with pytest.raises(
        ConfigError,
        match=f"The 'metrics' parameter of HeteroLR must list binary metrics among .* Got '{name}'",
    ):
        resolve_metrics("binary", [name], owner="HeteroLR", scores_only=True)
    with pytest.raises(ConfigError):
        evaluate_binary(Y, SCORE, metrics=[name])


def test_unknown_task_and_names_of_another_task_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_metrics("clustering", None)
    assert info.value.field == "eval_type"
    with pytest.raises(ConfigError, match="regression evaluation does not compute 'auc'"):
        resolve_metrics("regression", ["auc"])


def test_validation_scores_keep_fate_spellings_and_refuse_tables() -> None:
    # Prepare
    names = ["auc", "ks", "f1_score", "precision"]
    # Execute
    scores = score_metrics("binary", names, Y, SCORE, PRED)
    # Assert
    assert list(scores) == names
    assert scores["auc"] == pytest.approx(skm.roc_auc_score(Y, SCORE))
    assert scores["f1_score"] == pytest.approx(skm.f1_score(Y, PRED))
    fpr, tpr, _ = skm.roc_curve(Y, SCORE)
    assert scores["ks"] == pytest.approx(np.max(tpr - fpr))
    assert math.isnan(score_metrics("binary", ["auc"], np.ones(4), np.arange(4.0), np.ones(4))["auc"])
    reg = score_metrics("regression", ["root_mean_squared_error", "r2_score"], SCORE, SCORE + 0.1, SCORE)
    assert reg["root_mean_squared_error"] == pytest.approx(0.1)
    with pytest.raises(
        ConfigError, match="must list binary metrics among auc, ks, accuracy, precision, recall, f1\\."
    ):
        resolve_metrics("binary", ["confusion_matrix"], owner="HeteroLR", scores_only=True)
    assert resolve_metrics("binary", None, scores_only=True)[-1] == "f1"


def test_lower_is_better_for_errors_only() -> None:
    assert lower_is_better("regression", "mean_squared_error") and lower_is_better("regression", "RMSE")
    assert not lower_is_better("regression", "r2_score") and not lower_is_better("binary", "auc")
