"""Module registry: what the DSL knows about each ``module`` name.

The DSL layer registers nothing algorithmic. Component authors register their modules, e.g.::

    register_module(ModuleSpec(
        name="HeteroLR",
        roles={GUEST, HOST, ARBITER},
        params_model=HeteroLRParams,          # a pydantic model; defaults must pass its own checks
        inputs={"train_data", "validate_data", "test_data", "model"},
        outputs={"data", "model"},
        entry={GUEST: HeteroLRGuest, ...},    # whatever the runner needs; the DSL never reads it
    ))

:func:`fedloom.dsl.validate.load_job` then checks a job against the registry before anything runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from fedloom.core.errors import ConfigError
from fedloom.core.roles import Role

__all__ = [
    "ALL_INPUTS",
    "DATA_INPUTS",
    "MODEL_INPUTS",
    "OUTPUT_KINDS",
    "REGISTRY",
    "AnyParams",
    "ModuleRegistry",
    "ModuleSpec",
    "register_module",
]

#: Input slots under ``input.data`` (FATE v2; ``eval_data`` is FATE's older name for test data).
DATA_INPUTS = frozenset({"data", "train_data", "validate_data", "test_data", "eval_data"})
#: Input slots that take model references.
MODEL_INPUTS = frozenset({"model", "isometric_model"})
#: Every input slot a component may use.
ALL_INPUTS = DATA_INPUTS | MODEL_INPUTS | {"cache"}
#: Output kinds a component may declare.
OUTPUT_KINDS = frozenset({"data", "model", "cache"})


class AnyParams(BaseModel):
    """Parameter model that accepts any parameters (for modules without a schema, and tests)."""

    model_config = ConfigDict(extra="allow")


def _roles(values: Iterable[Role | str]) -> frozenset[Role]:
    out = set()
    for v in values:
        try:
            out.add(v if isinstance(v, Role) else Role(str(v).lower()))
        except ValueError:
            raise ConfigError(
                f"unknown role {v!r} in a module spec; roles are guest, host, arbiter."
            ) from None
    return frozenset(out)


@dataclass(frozen=True, init=False)
class ModuleSpec:
    """What the DSL layer needs to know about one module.

    Parameters
    ----------
    name
        The DSL ``module`` value, e.g. ``"HeteroLR"`` (FATE's spelling).
    roles
        Roles the module runs on. A party of another role skips the component, and ``common``
        parameters do not apply to it; role-specific parameters for such a role are an error.
    params_model
        Pydantic model of the parameters (``extra="forbid"`` to refuse unknown names, as FATE's
        redundant-parameter check does). :class:`AnyParams` accepts anything.
    inputs
        Input slots the module accepts: any of :data:`ALL_INPUTS`.
    outputs
        Output kinds the module may declare: any of :data:`OUTPUT_KINDS`.
    requires_data
        Whether a component of this module needs at least one ``input.data`` entry
        (``False`` for sources such as ``Reader``).
    entry
        Opaque binding for the runner (role classes, a factory...); never read by the DSL layer.
    description
        One line for ``fedloom`` help output.
    """

    name: str
    roles: frozenset[Role]
    params_model: type[BaseModel]
    inputs: frozenset[str]
    outputs: frozenset[str]
    requires_data: bool
    entry: Any = field(compare=False)
    description: str

    def __init__(
        self,
        name: str,
        roles: Iterable[Role | str],
        params_model: type[BaseModel] = AnyParams,
        inputs: Iterable[str] = ALL_INPUTS,
        outputs: Iterable[str] = ("data", "model"),
        requires_data: bool = True,
        entry: Any = None,
        description: str = "",
    ) -> None:
        if not name or not isinstance(name, str):
            raise ConfigError(f"a module spec needs a name. Got {name!r}.")
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "roles", _roles(roles))
        setattr_(self, "params_model", params_model)
        setattr_(self, "requires_data", bool(requires_data))
        setattr_(self, "entry", entry)
        setattr_(self, "description", description)
        if not self.roles:
            raise ConfigError(f"module {self.name} must support at least one role.", field="roles")
        inputs = frozenset(inputs)
        outputs = frozenset(outputs)
        if bad := inputs - ALL_INPUTS:
            raise ConfigError(
                f"module {self.name} declares unknown input slots {sorted(bad)}; "
                f"slots are {sorted(ALL_INPUTS)}.",
                field="inputs",
            )
        if bad := outputs - OUTPUT_KINDS:
            raise ConfigError(
                f"module {self.name} declares unknown output kinds {sorted(bad)}; "
                f"kinds are {sorted(OUTPUT_KINDS)}.",
                field="outputs",
            )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        if not (isinstance(self.params_model, type) and issubclass(self.params_model, BaseModel)):
            raise ConfigError(
                f"module {self.name}: params_model must be a pydantic model class. "
                f"Got {self.params_model!r}.",
                field="params_model",
            )


class ModuleRegistry:
    """Module name → :class:`ModuleSpec`. Lookups are exact first, then case-insensitive."""

    def __init__(self, specs: Iterable[ModuleSpec] = ()) -> None:
        self._specs: dict[str, ModuleSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModuleSpec, *, replace: bool = False) -> ModuleSpec:
        """Add ``spec``; registering a name twice is an error unless ``replace`` is true.

        Raises
        ------
        ConfigError
            The name is taken (case-insensitively) and ``replace`` is false.
        """
        clash = self._find(spec.name)
        if clash is not None and not replace and clash != spec:
            raise ConfigError(
                f"module {spec.name!r} is already registered (as {clash.name!r}); pass replace=True "
                "to override it.",
                field="module",
            )
        if clash is not None:
            del self._specs[clash.name]
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove a module (tests and plugins); unknown names are ignored."""
        spec = self._find(name)
        if spec is not None:
            del self._specs[spec.name]

    def _find(self, name: str) -> ModuleSpec | None:
        if name in self._specs:
            return self._specs[name]
        folded = [s for n, s in self._specs.items() if n.lower() == str(name).lower()]
        return folded[0] if len(folded) == 1 else None

    def lookup(self, name: str) -> ModuleSpec | None:
        """The spec of ``name`` or ``None``."""
        return self._find(name)

    def get(self, name: str, *, component: str | None = None) -> ModuleSpec:
        """The spec of ``name``.

        Raises
        ------
        ConfigError
            Unknown module; the message lists close names and ``field`` is ``module``.
        """
        spec = self._find(name)
        if spec is None:
            raise ConfigError(self.unknown_message(name), component=component, field="module")
        return spec

    def unknown_message(self, name: str) -> str:
        """Message for an unknown module name, with suggestions."""
        close = difflib.get_close_matches(str(name), list(self._specs), n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._specs)) or "none registered"
        return f"unknown module {name!r}.{hint} Known modules: {known}."

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[ModuleSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)


#: The process-wide registry components register into.
REGISTRY = ModuleRegistry()


def register_module(
    spec: ModuleSpec, *, registry: ModuleRegistry | None = None, replace: bool = False
) -> ModuleSpec:
    """Register ``spec`` in ``registry`` (default: the process-wide :data:`REGISTRY`)."""
    return (registry if registry is not None else REGISTRY).register(spec, replace=replace)
