"""The module registry and the DSL graph helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel

from fedloom.core import ConfigError, Role
from fedloom.dsl import REGISTRY, AnyParams, Dsl, ModuleRegistry, ModuleSpec, register_module

SRC = Path(__file__).resolve().parents[2] / "src" / "fedloom"


def test_register_and_lookup() -> None:
    reg = ModuleRegistry()
    spec = reg.register(ModuleSpec("HeteroLR", [Role.GUEST, "host", "ARBITER"]))
    assert spec.roles == {Role.GUEST, Role.HOST, Role.ARBITER}
    assert reg.get("HeteroLR") is spec and reg.get("heterolr") is spec and "heteroLR" in reg
    assert reg.names() == ["HeteroLR"] and len(reg) == 1 and list(reg) == [spec]


def test_duplicate_registration_needs_replace() -> None:
    reg = ModuleRegistry([ModuleSpec("Reader", {"guest"}, requires_data=False)])
    with pytest.raises(ConfigError, match="already registered"):
        reg.register(ModuleSpec("reader", {"guest", "host"}))
    reg.register(ModuleSpec("Reader", {"guest", "host"}), replace=True)
    assert reg.get("Reader").roles == {Role.GUEST, Role.HOST}
    reg.unregister("reader")
    assert "Reader" not in reg


def test_unknown_module_suggests_close_names() -> None:
    reg = ModuleRegistry([ModuleSpec("Intersection", {"guest", "host"})])
    with pytest.raises(ConfigError, match="Did you mean 'Intersection'") as info:
        reg.get("Intersect", component="intersect_0")
    assert (info.value.component, info.value.field) == ("intersect_0", "module")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"roles": {"judge"}}, None),
        ({"roles": set()}, "roles"),
        ({"roles": {"guest"}, "inputs": {"train"}}, "inputs"),
        ({"roles": {"guest"}, "outputs": {"metrics"}}, "outputs"),
        ({"roles": {"guest"}, "params_model": dict}, "params_model"),
    ],
)
def test_bad_specs(kwargs: dict, field: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        ModuleSpec("M", **kwargs)
    assert info.value.field == field


def test_register_module_uses_the_process_registry() -> None:
    spec = ModuleSpec("_TestOnlyModule", {"guest"}, AnyParams)
    try:
        assert register_module(spec) is spec and "_TestOnlyModule" in REGISTRY
        other = ModuleRegistry()
        register_module(spec, registry=other)
        assert "_TestOnlyModule" in other
    finally:
        REGISTRY.unregister("_TestOnlyModule")


def test_graph_order_ties_keep_declaration_order() -> None:
    dsl = Dsl.parse(
        {
            "components": {
                "b": {"module": "M", "input": {"data": {"data": ["a.data"]}}, "output": {"data": ["data"]}},
                "z": {"module": "R", "output": {"data": ["data"]}},
                "a": {"module": "R", "output": {"data": ["data"]}},
                "c": {"module": "M", "input": {"data": {"data": ["z.data", "b.data"]}}},
            }
        }
    )
    assert dsl.topological_order() == ["z", "a", "b", "c"]
    assert dsl.upstream("c") == ["z", "b"] and dsl.downstream("a") == ["b"]
    assert dsl.to_dict()["components"]["c"] == {
        "module": "M",
        "input": {"data": {"data": ["z.data", "b.data"]}},
    }


def test_params_defaults_pass_their_own_checks() -> None:
    class P(BaseModel):
        x: int = 1

    assert ModuleSpec("M", {"guest"}, P).params_model.model_validate({}).x == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("package", ["dsl", "data"])
def test_layering_imports_only_core(package: str) -> None:
    """dsl/ and data/ import only fedloom.core and themselves (never each other)."""
    for path in (SRC / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("fedloom"):
                    assert name.startswith(("fedloom.core", f"fedloom.{package}")), f"{path}: imports {name}"
