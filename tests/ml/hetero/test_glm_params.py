"""Hetero GLM parameters: FATE's confs parse, defaults are valid, bad values name their field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fedloom.core.errors import ConfigError
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.linr import HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRParams
from fedloom.ml.hetero.poisson import HeteroPoissonParams

DSL = Path(__file__).resolve().parents[4] / "shared" / "fate_examples" / "dsl_v2"
CONFS = [
    ("hetero_logistic_regression/hetero_lr_normal_conf.json", "hetero_lr_0", HeteroLRParams),
    ("hetero_linear_regression/test_hetero_linr_train_job_conf.json", "hetero_linr_0", HeteroLinRParams),
    (
        "hetero_poisson_regression/test_hetero_poisson_train_job_conf.json",
        "hetero_poisson_0",
        HeteroPoissonParams,
    ),
]


@pytest.mark.parametrize("conf,component,cls", CONFS, ids=["lr", "linr", "poisson"])
def test_fate_example_confs_parse(conf: str, component: str, cls: type[GLMParams]) -> None:
    if not (DSL / conf).exists():
        pytest.skip("FATE examples not beside the repository")
    values = json.loads((DSL / conf).read_text())["component_parameters"]["common"][component]
    p = cls.from_dict(values, component=component)
    assert p.encrypt_param.key_length == 1024 and p.encrypt_param.method == "paillier"
    assert p.max_iter == values["max_iter"] and p.penalty == "L2"


@pytest.mark.parametrize("cls", [HeteroLRParams, HeteroLinRParams, HeteroPoissonParams])
def test_defaults_pass_their_own_checks(cls: type[GLMParams]) -> None:
    p = cls()
    assert cls.from_dict(p.model_dump()) == p
    assert p.encrypt_param.key_length == 2048 and p.floating_point_precision == 23


@pytest.mark.parametrize(
    "values,field,words",
    [
        (
            {"penalty": "L3"},
            "penalty",
            "The 'penalty' parameter of HeteroLR must be one of 'L1', 'L2', 'none'",
        ),
        ({"early_stop": "loss"}, "early_stop", "must be one of"),
        ({"batch_size": 0}, "batch_size", "-1 (full batch)"),
        ({"init_param": {"init_methd": "zeros"}}, "init_param.init_methd", "not a recognised name"),
        ({"encrypt_param": {"key_length": 512}}, "encrypt_param.key_length", "greater than or equal"),
        ({"cv_param": {"need_cv": True}}, "cv_param.need_cv", "not implemented"),
        ({"stepwise_param": {"need_stepwise": True}}, "stepwise_param.need_stepwise", "not implemented"),
        ({"max_iters": 3}, "max_iters", "not a recognised name"),
        ({"multi_class": "ovo"}, "multi_class", "HeteroLR"),
    ],
)
def test_bad_values_are_config_errors_naming_the_field(
    values: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        HeteroLRParams.from_dict(values, component="hetero_lr_0")
    assert err.value.field == field and err.value.component == "hetero_lr_0"
    assert words in str(err.value)
    assert "hetero_lr_0" in str(err.value)


def test_fate_spellings_and_callback_param() -> None:
    p = HeteroLinRParams.from_dict(
        {
            "penalty": "l1",
            "optimizer": "Adam",
            "callback_param": {"validation_freqs": 2, "early_stopping_rounds": 3, "metrics": ["rmse"]},
            "floating_point_precision": None,
        }
    )
    assert (p.penalty, p.optimizer, p.validation_freqs, p.early_stopping_rounds) == ("L1", "adam", 2, 3)
    assert p.metrics == ["rmse"] and p.precision_bits == 52
    assert HeteroLRParams.from_dict({"penalty": None}).penalty == "none"
    q = HeteroLRParams(learning_rate=0.4, decay=1.0, decay_sqrt=True)
    assert q.learning_rate_at(3) == pytest.approx(0.2)
    assert HeteroLRParams(validation_freqs=[2, 5]).validates_at(1)


def test_allow_small_batches_is_off_by_default_and_strictly_boolean() -> None:
    assert HeteroLRParams().allow_small_batches is False
    assert HeteroLinRParams.from_dict({"allow_small_batches": True}).allow_small_batches is True
    with pytest.raises(ConfigError) as err:
        HeteroPoissonParams.from_dict({"allow_small_batches": "yes"})
    assert err.value.field == "allow_small_batches"
