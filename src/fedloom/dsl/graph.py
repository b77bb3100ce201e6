"""The ``dsl`` of a FATE DSL v2 job: components, their inputs and outputs, and the DAG they form.

::

    {"components": {
       "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
       "data_transform_0": {"module": "DataTransform",
                            "input": {"data": {"data": ["reader_0.data"]}},
                            "output": {"data": ["data"], "model": ["model"]}},
       "hetero_lr_1": {"module": "HeteroLR",
                       "input": {"data": {"test_data": ["intersection_1.data"]},
                                 "model": ["hetero_lr_0.model"]}}}}

An input is ``"<component>.<output name>"``: a data input must name one of the upstream
component's ``output.data`` names, a ``model`` / ``isometric_model`` input one of its
``output.model`` names, a ``cache`` input one of its ``output.cache`` names. A predict DSL may
use ``"pipeline.<component>.model"``: the model that component produced in the training job
being deployed (an *external* reference, not an edge of this graph).
"""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fedloom.core.errors import ConfigError
from fedloom.core.validation import describe_validation_error, errors_to_config_error
from fedloom.dsl.registry import DATA_INPUTS

__all__ = ["ComponentDef", "ComponentInput", "ComponentOutput", "Dsl", "Ref"]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

#: Prefix of a reference to a model of the deployed training job.
PIPELINE = "pipeline"


class ComponentInput(BaseModel):
    """``input`` of a component: data by slot, model, isometric model and cache references."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, list[str]] = Field(default_factory=dict)
    model: list[str] = Field(default_factory=list)
    isometric_model: list[str] = Field(default_factory=list)
    cache: list[str] = Field(default_factory=list)


class ComponentOutput(BaseModel):
    """``output`` of a component: the names of its data, model and cache outputs."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    cache: list[str] = Field(default_factory=list)


class ComponentDef(BaseModel):
    """One entry of ``components``. ``provider`` (FATE's engine choice) is accepted and ignored."""

    model_config = ConfigDict(extra="forbid")

    module: str
    input: ComponentInput = Field(default_factory=ComponentInput)
    output: ComponentOutput = Field(default_factory=ComponentOutput)
    provider: str | None = None
    need_deploy: bool | None = None

    def input_slots(self) -> list[str]:
        """Input slots in use: data slots (``train_data``...), ``model``, ``isometric_model``, ``cache``."""
        slots = [k for k, v in self.input.data.items() if v]
        slots += [k for k in ("model", "isometric_model", "cache") if getattr(self.input, k)]
        return slots

    def output_kinds(self) -> list[str]:
        """Output kinds declared (``data``, ``model``, ``cache``)."""
        return [k for k in ("data", "model", "cache") if getattr(self.output, k)]


@dataclass(frozen=True)
class Ref:
    """One input reference of a component.

    Attributes
    ----------
    consumer
        The component whose input this is.
    slot
        ``data``, ``train_data``, ``validate_data``, ``test_data``, ``eval_data``, ``model``,
        ``isometric_model`` or ``cache``.
    component
        The upstream component named.
    name
        The upstream output name.
    external
        True for ``pipeline.<component>.<name>``: a model of the deployed training job.
    """

    consumer: str
    slot: str
    component: str
    name: str
    external: bool = False

    @property
    def kind(self) -> str:
        """Output kind the reference must point at: ``data``, ``model`` or ``cache``."""
        if self.slot in DATA_INPUTS:
            return "data"
        return "cache" if self.slot == "cache" else "model"

    @property
    def field(self) -> str:
        """Where it is written in the DSL, e.g. ``input.data.train_data``."""
        return f"input.data.{self.slot}" if self.kind == "data" else f"input.{self.slot}"

    def __str__(self) -> str:
        prefix = f"{PIPELINE}." if self.external else ""
        return f"{prefix}{self.component}.{self.name}"


class Dsl:
    """A parsed DSL: components in declaration order, their references, the DAG over them.

    Build with :meth:`parse`; :meth:`problems` lists reference and cycle errors without
    raising, :meth:`topological_order` raises on a cycle.
    """

    def __init__(self, components: dict[str, ComponentDef], refs: dict[str, list[Ref]]) -> None:
        self.components = components
        self.refs = refs
        self._order: list[str] | None = None
        self._up: dict[str, list[str]] = {
            name: list(dict.fromkeys(r.component for r in rs if not r.external and r.component in components))
            for name, rs in refs.items()
        }
        self._down: dict[str, list[str]] = {name: [] for name in components}
        for name in components:
            for up in self._up[name]:
                self._down[up].append(name)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Dsl:
        """Parse a DSL dict.

        Raises
        ------
        ConfigError
            Wrong shape (``components`` missing, a component without ``module``, a misspelled
            key, a bad component name, a reference not of the form ``component.output``);
            names the component and field.
        """
        data = dict(data)
        data.pop("provider", None)
        comps = data.pop("components", None)
        if comps is None:
            raise ConfigError('the dsl has no "components" object.', field="components")
        if data:
            raise ConfigError(
                f'the dsl has unknown top-level keys {sorted(data)}; it holds only "components".',
                field=sorted(data)[0],
            )
        if not isinstance(comps, Mapping) or not comps:
            raise ConfigError('the dsl\'s "components" must be a non-empty object.', field="components")
        components: dict[str, ComponentDef] = {}
        for name, body in comps.items():
            if not _NAME.match(str(name)):
                raise ConfigError(
                    f"component name {name!r} may hold only letters, digits, '_' and '-'.",
                    component=str(name),
                )
            if not isinstance(body, Mapping):
                raise ConfigError("a component must be an object.", component=name)
            if "module" not in body:
                raise ConfigError('the component has no "module".', component=name, field="module")
            try:
                components[name] = ComponentDef.model_validate(body)
            except ValidationError as exc:
                lines = describe_validation_error(exc, f"field of component {name}")
                raise errors_to_config_error(lines, component=name) from None
        refs: dict[str, list[Ref]] = {}
        for name, comp in components.items():
            refs[name] = []
            for slot, items in comp.input.data.items():
                if slot not in DATA_INPUTS:
                    raise ConfigError(
                        f"input data slot {slot!r} is not one of {', '.join(sorted(DATA_INPUTS))}.",
                        component=name,
                        field=f"input.data.{slot}",
                    )
                refs[name] += [_parse_ref(name, slot, s) for s in items]
            for slot in ("model", "isometric_model", "cache"):
                refs[name] += [_parse_ref(name, slot, s) for s in getattr(comp.input, slot)]
        return cls(components, refs)

    # -- queries -----------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.components

    def __iter__(self) -> Any:
        return iter(self.components)

    def module_of(self, name: str) -> str:
        """The ``module`` of component ``name``."""
        return self.components[name].module

    def upstream(self, name: str) -> list[str]:
        """Components ``name`` reads from (internal references only), without repeats."""
        return list(self._up[name])

    def downstream(self, name: str) -> list[str]:
        """Components that read from ``name``, in declaration order."""
        return list(self._down[name])

    def external_refs(self) -> list[Ref]:
        """Every ``pipeline.*`` reference (a predict DSL's deployed models)."""
        return [r for refs in self.refs.values() for r in refs if r.external]

    def problems(self) -> list[ConfigError]:
        """Dangling references and cycles, each as a :class:`ConfigError` naming component and field."""
        out: list[ConfigError] = []
        for refs in self.refs.values():
            for ref in refs:
                err = self._check_ref(ref)
                if err is not None:
                    out.append(err)
        if not out:
            cycle = self.find_cycle()
            if cycle:
                path = " -> ".join([*cycle, cycle[0]])
                out.append(
                    ConfigError(
                        f"components {', '.join(cycle)} form a cycle ({path}); a job must be a DAG.",
                        component=cycle[0],
                        field="input",
                    )
                )
        return out

    def _check_ref(self, ref: Ref) -> ConfigError | None:
        if ref.external:
            return None
        if ref.component not in self.components:
            close = difflib.get_close_matches(ref.component, list(self.components), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            return ConfigError(
                f"input {str(ref)!r} refers to component {ref.component!r}, which is not in the dsl.{hint}",
                component=ref.consumer,
                field=ref.field,
            )
        outputs = getattr(self.components[ref.component].output, ref.kind)
        if ref.name not in outputs:
            have = ", ".join(repr(o) for o in outputs) if outputs else "none"
            return ConfigError(
                f"input {str(ref)!r} refers to {ref.kind} output {ref.name!r} of {ref.component}, which "
                f"declares no such output (its {ref.kind} outputs: {have}).",
                component=ref.consumer,
                field=ref.field,
            )
        return None

    def find_cycle(self) -> list[str] | None:
        """The components of one cycle in dependency order, or ``None`` for a DAG."""
        color: dict[str, int] = dict.fromkeys(self.components, 0)
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            color[node] = 1
            stack.append(node)
            for down in self.downstream(node):
                if color[down] == 1:
                    return stack[stack.index(down) :]
                if color[down] == 0:
                    found = visit(down)
                    if found:
                        return found
            stack.pop()
            color[node] = 2
            return None

        for start in self.components:
            if color[start] == 0:
                found = visit(start)
                if found:
                    return list(found)
        return None

    def topological_order(self) -> list[str]:
        """Components so that each comes after everything it reads; ties keep declaration order.

        Raises
        ------
        ConfigError
            The graph has a cycle or a dangling reference.
        """
        if self._order is not None:
            return list(self._order)
        problems = self.problems()
        if problems:
            raise problems[0]
        position = {name: i for i, name in enumerate(self.components)}
        indegree = {name: len(self.upstream(name)) for name in self.components}
        ready = [position[n] for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        names = list(self.components)
        order: list[str] = []
        while ready:
            node = names[heapq.heappop(ready)]
            order.append(node)
            for down in self.downstream(node):
                indegree[down] -= 1
                if indegree[down] == 0:
                    heapq.heappush(ready, position[down])
        self._order = order
        return list(order)

    def to_dict(self) -> dict[str, Any]:
        """The DSL as FATE JSON (empty sections left out)."""
        out: dict[str, Any] = {}
        for name, comp in self.components.items():
            body: dict[str, Any] = {"module": comp.module}
            inp = comp.input.model_dump(exclude_defaults=True)
            if inp:
                body["input"] = inp
            outp = comp.output.model_dump(exclude_defaults=True)
            if outp:
                body["output"] = outp
            if comp.provider is not None:
                body["provider"] = comp.provider
            out[name] = body
        return {"components": out}


def _parse_ref(consumer: str, slot: str, text: str) -> Ref:
    field = f"input.data.{slot}" if slot in DATA_INPUTS else f"input.{slot}"
    parts = str(text).split(".")
    if len(parts) == 3 and parts[0] == PIPELINE and slot != "cache" and slot not in DATA_INPUTS:
        return Ref(consumer, slot, parts[1], parts[2], external=True)
    if len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"input {text!r} must be written '<component>.<output name>', e.g. 'reader_0.data'.",
            component=consumer,
            field=field,
        )
    return Ref(consumer, slot, parts[0], parts[1])
