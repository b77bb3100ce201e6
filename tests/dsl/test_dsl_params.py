"""Parameter merge order (common <- all <- i|j <- i), inheritance, job parameters, party keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from fedloom.core import ConfigError, PartyId, Role
from fedloom.dsl import AnyParams, ModuleRegistry, ModuleSpec, load_job, merge_params, parse_party_key


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int = 0
    b: int = 0
    c: int = 0
    d: int = 0
    nested: dict[str, Any] = {}


def registry() -> ModuleRegistry:
    return ModuleRegistry(
        [
            ModuleSpec(
                "Reader",
                {"guest", "host", "arbiter"},
                AnyParams,
                inputs=set(),
                outputs={"data"},
                requires_data=False,
            ),
            ModuleSpec("Algo", {"guest", "host"}, Params, outputs={"data", "model"}),
        ]
    )


DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "algo_0": {
            "module": "Algo",
            "input": {"data": {"data": ["reader_0.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        },
        "algo_1": {
            "module": "Algo",
            "input": {"data": {"data": ["reader_0.data"]}, "model": ["algo_0.model"]},
            "output": {"data": ["data"]},
        },
    }
}


def conf(
    component_parameters: dict[str, Any], job_parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000, 10001, 10002], "arbiter": [10000]},
        "job_parameters": job_parameters or {},
        "component_parameters": component_parameters,
    }


def test_merge_order_common_all_group_index() -> None:
    # Prepare: each level overrides one more key; the exact key written *before* "all" still wins.
    cp = {
        "common": {"algo_0": {"a": 1, "b": 1, "c": 1, "d": 1}},
        "role": {
            "host": {
                "1": {"algo_0": {"d": 4}},
                "all": {"algo_0": {"b": 2, "c": 2, "d": 2}},
                "1|2": {"algo_0": {"c": 3, "d": 3}},
            }
        },
    }
    # Execute
    job = load_job(conf(cp), DSL, registry())
    # Assert
    assert job.parameters_for("algo_0", "host", 0) == {"a": 1, "b": 2, "c": 2, "d": 2}
    assert job.parameters_for("algo_0", "host", 1) == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert job.parameters_for("algo_0", "host", 2) == {"a": 1, "b": 2, "c": 3, "d": 3}
    assert job.parameters_for("algo_0", "guest", 0) == {"a": 1, "b": 1, "c": 1, "d": 1}


def test_nested_objects_merge_key_by_key_and_null_replaces() -> None:
    cp = {
        "common": {"algo_0": {"nested": {"x": 1, "y": {"p": 1, "q": 2}}}},
        "role": {"guest": {"0": {"algo_0": {"nested": {"y": {"q": 3}, "z": None}}}}},
    }
    job = load_job(conf(cp), DSL, registry())
    assert job.parameters_for("algo_0", "guest", 0) == {"nested": {"x": 1, "y": {"p": 1, "q": 3}, "z": None}}
    # the conf itself is not modified by merging
    assert cp["common"]["algo_0"]["nested"]["y"] == {"p": 1, "q": 2}  # type: ignore[index]


def test_params_for_fills_defaults_and_skips_roles_not_run() -> None:
    job = load_job(conf({"common": {"algo_0": {"a": 5}}}), DSL, registry())
    params = job.params_for("algo_0", "host", 2)
    assert isinstance(params, Params) and (params.a, params.b) == (5, 0)
    assert job.roles_for("algo_0") == [Role.GUEST, Role.HOST]
    assert job.parameters_for("algo_0", "arbiter", 0) == {}
    with pytest.raises(ConfigError, match="does not run on role arbiter"):
        job.params_for("algo_0", Role.ARBITER, 0)
    with pytest.raises(ConfigError, match="out of range"):
        job.parameters_for("algo_0", "host", 3)


def test_model_input_of_same_module_inherits_parameters() -> None:
    cp = {"common": {"algo_0": {"a": 7}, "algo_1": {"a": 99}}}
    job = load_job(conf(cp), DSL, registry())
    assert job.parameter_source("algo_1") == "algo_0"
    assert job.parameters_for("algo_1", "guest", 0) == {"a": 7}
    assert any("algo_1" in w and "ignored" in w for w in job.warnings)


def test_warm_start_keeps_its_own_parameters() -> None:
    dsl = {"components": {**DSL["components"]}}
    dsl["components"]["algo_1"] = {
        "module": "Algo",
        "input": {"data": {"train_data": ["reader_0.data"]}, "model": ["algo_0.model"]},
        "output": {"data": ["data"]},
    }
    job = load_job(conf({"common": {"algo_0": {"a": 7}, "algo_1": {"a": 99}}}), dsl, registry())
    assert job.parameter_source("algo_1") == "algo_1"
    assert job.parameters_for("algo_1", "guest", 0) == {"a": 99}


def test_job_parameters_merge_and_parties() -> None:
    jp = {
        "common": {"job_type": "train", "task_cores": 4, "eggroll_run": {"x": 1}},
        "role": {"host": {"all": {"task_cores": 2}, "2": {"task_cores": 1}}},
    }
    job = load_job(conf({}, jp), DSL, registry())
    assert job.job_parameters_for("host", 0)["task_cores"] == 2
    assert job.job_parameters_for("host", 2)["task_cores"] == 1
    assert job.job_parameters_for("guest", 0)["eggroll_run"] == {"x": 1}
    assert job.job_type == "train"
    assert job.initiator == PartyId(Role.GUEST, "9999")
    assert job.party_index(PartyId(Role.HOST, "10001")) == 1
    assert [str(p) for p in job.parties()] == [
        "guest:9999",
        "host:10000",
        "host:10001",
        "host:10002",
        "arbiter:10000",
    ]


@pytest.mark.parametrize(
    ("key", "n", "expected"),
    [
        ("all", 3, None),
        ("0", 3, (0,)),
        ("2", 3, (2,)),
        ("0|2", 3, (0, 2)),
        (" 1 ", 2, (1,)),
    ],
)
def test_party_keys(key: str, n: int, expected: tuple[int, ...] | None) -> None:
    assert parse_party_key(key, n) == expected


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("3", "out of range"),
        ("0|5", "out of range"),
        ("0-2", "'0|1|2'"),
        ("0,1", "'0|1'"),
        ("guest", "'all'"),
        ("-1", "'all'"),
    ],
)
def test_bad_party_keys(key: str, hint: str) -> None:
    with pytest.raises(ConfigError, match=hint.replace("|", r"\|")):
        parse_party_key(key, 3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=8,
)
json_dicts = st.dictionaries(st.text(max_size=2), json_values, max_size=4)


@given(json_dicts, json_dicts)
def test_merge_properties(base: dict[str, Any], override: dict[str, Any]) -> None:
    merged = merge_params(base, override)
    assert merge_params(base, {}) == base and merge_params({}, override) == override
    assert set(merged) == set(base) | set(override)
    for key, value in override.items():
        if not (isinstance(value, dict) and isinstance(base.get(key), dict)):
            assert merged[key] == value
    assert merge_params(merged, override) == merged  # idempotent


def test_need_run_is_accepted_by_every_module() -> None:
    cp = {"common": {"algo_0": {"a": 1}}, "role": {"host": {"1": {"algo_0": {"need_run": False}}}}}
    job = load_job(conf(cp), DSL, registry())  # Params forbids extras, need_run still passes
    assert job.need_run("algo_0", "host", 0) and not job.need_run("algo_0", "host", 1)
    assert job.params_for("algo_0", "host", 1).a == 1  # type: ignore[attr-defined]
    bad = {"common": {"algo_0": {"need_run": "no"}}}
    with pytest.raises(ConfigError) as info:
        load_job(conf(bad), DSL, registry())
    assert (info.value.component, info.value.field) == ("algo_0", "need_run")
