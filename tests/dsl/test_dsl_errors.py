"""Each broken job gives a ConfigError naming the component and the field, before anything runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from fedloom.core import ConfigError
from fedloom.dsl import JobValidationError, ModuleRegistry, ModuleSpec, load_job

Job = tuple[dict[str, Any], dict[str, Any]]


class LRParams(BaseModel):
    """A strict stand-in for the real HeteroLR parameters."""

    model_config = ConfigDict(extra="forbid")

    penalty: Literal["L1", "L2"] = "L2"
    tol: float = 1e-4
    alpha: float = 0.01
    optimizer: Literal["sgd", "rmsprop", "adam", "adagrad"] = "sgd"
    batch_size: int = -1
    learning_rate: float = Field(0.01, gt=0)
    max_iter: int = Field(100, ge=1)
    early_stop: str = "diff"
    encrypt_param: dict[str, Any] = Field(default_factory=dict)
    init_param: dict[str, Any] = Field(default_factory=dict)
    cv_param: dict[str, Any] = Field(default_factory=dict)
    sqn_param: dict[str, Any] = Field(default_factory=dict)


class TransformParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    with_label: bool = False
    label_name: str = "y"
    output_format: Literal["dense", "sparse"] = "dense"


@pytest.fixture
def registry(fate_registry: ModuleRegistry) -> ModuleRegistry:
    fate_registry.register(
        ModuleSpec(
            "HeteroLR",
            {"guest", "host", "arbiter"},
            LRParams,
            inputs={"train_data", "validate_data", "test_data", "model"},
        ),
        replace=True,
    )
    fate_registry.register(ModuleSpec("DataTransform", {"guest", "host"}, TransformParams), replace=True)
    return fate_registry


def fails(conf: dict[str, Any], dsl: dict[str, Any], registry: ModuleRegistry) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_job(conf, dsl, registry)
    return info.value


def test_the_unbroken_job_validates(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = lr_job
    job = load_job(conf, dsl, registry)
    assert job.params_for("hetero_lr_0", "guest", 0).optimizer == "rmsprop"  # type: ignore[attr-defined]


def test_unknown_module(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["hetero_lr_0"]["module"] = "HeteroLRR"
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "module")
    assert "unknown module 'HeteroLRR'" in err.message and "'HeteroLR'" in err.message


def test_missing_input(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    del dsl["components"]["intersection_0"]["input"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("intersection_0", "input.data")
    assert "missing input" in err.message


def test_test_data_without_model_is_a_missing_input(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["hetero_lr_0"]["input"]["data"] = {"test_data": ["intersection_0.data"]}
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "input.model")


def test_dangling_input_component(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["hetero_lr_0"]["input"]["data"]["train_data"] = ["intersection_9.data"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "input.data.train_data")
    assert "'intersection_9'" in err.message and "not in the dsl" in err.message


def test_dangling_input_output_name(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["evaluation_0"]["input"]["data"]["data"] = ["hetero_lr_0.predictions"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("evaluation_0", "input.data.data")
    assert "'predictions'" in err.message


def test_dangling_model_input(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["hetero_lr_0"]["input"]["model"] = ["intersection_0.model"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "input.model")
    assert "model output 'model' of intersection_0" in err.message


def test_cycle_names_its_components(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["intersection_0"]["input"]["data"]["data"] = ["evaluation_0.data"]
    err = fails(conf, dsl, registry)
    assert err.field == "input" and err.component in {"intersection_0", "hetero_lr_0", "evaluation_0"}
    for name in ("intersection_0", "hetero_lr_0", "evaluation_0"):
        assert name in err.message
    assert "data_transform_0," not in err.message and "cycle" in err.message


def test_self_loop_is_a_cycle(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["evaluation_0"]["input"]["data"]["data"] = ["evaluation_0.data"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("evaluation_0", "input")


def test_party_index_out_of_range(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["role"]["host"]["1"] = {
        "reader_0": {"table": {"name": "t", "namespace": "n"}}
    }
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("reader_0", "component_parameters.role.host.1")
    assert "out of range" in err.message


def test_range_key_is_refused_with_the_fate_form(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["role"]["host"]["0-1"] = conf["component_parameters"]["role"]["host"].pop(
        "0"
    )
    err = fails(conf, dsl, registry)
    assert err.field == "component_parameters.role.host.0-1" and "'0|1'" in err.message


def test_role_not_in_conf(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    del conf["role"]["arbiter"]
    conf["component_parameters"]["role"]["arbiter"] = {"0": {"hetero_lr_0": {"alpha": 0.1}}}
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "component_parameters.role.arbiter")
    assert "does not list" in err.message


def test_role_the_module_does_not_run_on(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["role"]["arbiter"] = {"0": {"data_transform_0": {"with_label": False}}}
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == (
        "data_transform_0",
        "component_parameters.role.arbiter.0.data_transform_0",
    )
    assert "runs only on guest, host" in err.message


def test_common_parameters_skip_roles_the_module_does_not_run_on(
    lr_job: Job, registry: ModuleRegistry
) -> None:
    conf, dsl = lr_job  # data_transform_0 has common parameters and the conf has an arbiter
    job = load_job(conf, dsl, registry)
    assert job.parameters_for("data_transform_0", "arbiter", 0) == {}
    assert not job.runs_on("data_transform_0", "arbiter")


def test_wrong_value_names_component_field_and_choices(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["common"]["hetero_lr_0"]["penalty"] = "L3"
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "penalty")
    assert err.message == "The 'penalty' parameter of hetero_lr_0 must be one of 'L1', 'L2'. Got 'L3'."
    assert err.party == "guest:9999"


def test_wrong_type(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["common"]["hetero_lr_0"]["max_iter"] = "thirty"
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "max_iter")
    assert err.message == "The 'max_iter' parameter of hetero_lr_0 must be an int. Got 'thirty'."


def test_out_of_bounds_and_unknown_parameter_are_both_reported(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["common"]["hetero_lr_0"]["learning_rate"] = 0
    conf["component_parameters"]["common"]["hetero_lr_0"]["learnig_rate"] = 0.1
    err = fails(conf, dsl, registry)
    assert isinstance(err, JobValidationError) and len(err.errors) == 2
    assert {e.field for e in err.errors} == {"learning_rate", "learnig_rate"}
    assert "learning_rate' parameter of hetero_lr_0 must be > 0" in err.errors[0].message
    assert "not a recognised name" in err.errors[1].message
    assert all(e.component == "hetero_lr_0" for e in err.errors)


def test_role_specific_wrong_value_names_the_party(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["role"]["host"]["0"]["data_transform_0"]["output_format"] = "csv"
    err = fails(conf, dsl, registry)
    assert (err.component, err.field, err.party) == ("data_transform_0", "output_format", "host:10000")


def test_nested_parameter_path(lr_job: Job, registry: ModuleRegistry) -> None:
    class Encrypt(BaseModel):
        key_length: int = Field(1024, ge=1024)

    class Strict(LRParams):
        encrypt_param: Encrypt = Encrypt()  # type: ignore[assignment,call-arg]

    registry.register(ModuleSpec("HeteroLR", {"guest", "host", "arbiter"}, Strict), replace=True)
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["common"]["hetero_lr_0"]["encrypt_param"]["key_length"] = 512
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "encrypt_param.key_length")


def test_input_slot_the_module_does_not_take(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    dsl["components"]["hetero_lr_0"]["input"]["isometric_model"] = ["data_transform_0.model"]
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == ("hetero_lr_0", "input.isometric_model")


@pytest.mark.parametrize(
    ("mutate", "component", "field"),
    [
        (lambda c, d: d["components"]["hetero_lr_0"].update(inputs={}), "hetero_lr_0", "inputs"),
        (
            lambda c, d: d["components"]["hetero_lr_0"]["input"]["data"].update(trian_data=["x.data"]),
            "hetero_lr_0",
            "input.data.trian_data",
        ),
        (
            lambda c, d: d["components"]["hetero_lr_0"]["input"]["data"].update(
                train_data=["intersection_0"]
            ),
            "hetero_lr_0",
            "input.data.train_data",
        ),
        (lambda c, d: d["components"]["hetero_lr_0"].pop("module"), "hetero_lr_0", "module"),
        (lambda c, d: c["role"].update(hostt=[1]), None, "role.hostt"),
        (lambda c, d: c["initiator"].update(party_id=1), None, "initiator"),
        (lambda c, d: c.pop("dsl_version"), None, "dsl_version"),
        (lambda c, d: c.update(dsl_version=1), None, "dsl_version"),
        (lambda c, d: c["role"].update(host=[10000, 10000]), None, "role.host"),
        (lambda c, d: c.update(component_parameter={}), None, "component_parameter"),
        (
            lambda c, d: c["job_parameters"].update(common={"job_type": "serve"}),
            None,
            "job_parameters.common.job_type",
        ),
    ],
    ids=[
        "dsl-key-typo",
        "data-slot-typo",
        "ref-without-output",
        "no-module",
        "unknown-role",
        "initiator-not-a-party",
        "no-dsl-version",
        "dsl-v1",
        "duplicate-party",
        "conf-key-typo",
        "bad-job-type",
    ],
)
def test_shape_errors(
    lr_job: Job, registry: ModuleRegistry, mutate: Any, component: str | None, field: str
) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf.setdefault("job_parameters", {})
    mutate(conf, dsl)
    err = fails(conf, dsl, registry)
    assert (err.component, err.field) == (component, field)


def test_train_job_type_with_deployed_model(fate_dir: Path, fate_registry: ModuleRegistry) -> None:
    base = fate_dir / "hetero_logistic_regression"
    conf = json.loads((base / "hetero_lr_normal_predict_conf.json").read_text())
    conf["job_parameters"]["common"]["job_type"] = "train"
    err = fails(conf, json.loads((base / "hetero_lr_normal_predict_dsl.json").read_text()), fate_registry)
    assert err.field in {"input.model"} and err.component in {"data_transform_0", "hetero_lr_0"}


def test_unreadable_files(tmp_path: Path, lr_job: Job, registry: ModuleRegistry) -> None:
    bad = tmp_path / "conf.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_job(bad, lr_job[1], registry)
    with pytest.raises(ConfigError, match="cannot read"):
        load_job(tmp_path / "missing.json", lr_job[1], registry)


def test_parameters_for_unknown_component_is_warned_not_fatal(lr_job: Job, registry: ModuleRegistry) -> None:
    conf, dsl = copy.deepcopy(lr_job)
    conf["component_parameters"]["common"]["hetero_lr_1"] = {"alpha": 1.0}
    job = load_job(conf, dsl, registry)
    assert any("hetero_lr_1" in w and "hetero_lr_0" in w for w in job.warnings)
