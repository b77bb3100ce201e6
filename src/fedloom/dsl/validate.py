"""Validate a DSL v2 job (conf + dsl) against the module registry, before anything runs.

:func:`load_job` finds every problem it can and raises them together: unknown modules, inputs a
module does not take or lacks, references to components or outputs that do not exist, cycles,
parameters for roles that are not in the conf or that the module does not run on, party indexes
out of range, and parameters of the wrong type or value. Each is a :class:`ConfigError` naming the
component and field; several come back as one :class:`JobValidationError` listing them all.

Parameter merge (FATE's rules, made deterministic): for component ``c``, role ``r``, party index
``i``::

    component_parameters.common.c
      <- component_parameters.role.r."all".c
      <- component_parameters.role.r."i|j|...".c   (every key naming i, in conf order)
      <- component_parameters.role.r."i".c

Nested objects merge key by key; any other value (``null`` included) replaces. FATE applies the
role keys in the conf's key order, so a ``"0"`` written before ``"all"`` loses there; here the more
specific key always wins (same result for every conf that lists ``"all"`` first).
``common`` parameters reach only the roles the module runs on (FATE passes ``data_transform_0``'s
``common`` to the guest and host, not to the arbiter). As in FATE, a component that takes a
``model`` input from a component of the same module, without ``train_data``
(not a warm start), runs with that component's parameters: ``data_transform_1`` fed by
``data_transform_0.model`` transforms validation data exactly as ``data_transform_0`` did.
Parameters written for it are ignored, with a warning in :attr:`Job.warnings`. A ``cache`` input
passes no parameters: FATE's cache dsl gives ``intersect_1`` (fed by ``intersect_0.cache``) its
own, e.g. ``sync_intersect_ids: false``.
FATE's ``need_run`` (``false`` switches a component off for a party) is accepted for every module,
checked to be a boolean and read with :meth:`Job.need_run`; it is not passed to the module's
parameter model unless that model declares it.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from fedloom.core.errors import ConfigError
from fedloom.core.roles import PartyId, Role
from fedloom.core.validation import describe_validation_error, sentence
from fedloom.dsl.conf import JobConf, load_json, parse_party_key
from fedloom.dsl.graph import Dsl
from fedloom.dsl.registry import REGISTRY, ModuleRegistry, ModuleSpec

__all__ = ["Job", "JobParams", "JobValidationError", "load_job", "merge_params"]

log = logging.getLogger(__name__)

#: FATE's parameter that switches a component off for a party; every module accepts it.
NEED_RUN = "need_run"

#: Order in which parties are checked (and so which party a shared problem is reported for).
_ROLE_ORDER = [Role.GUEST, Role.HOST, Role.ARBITER]


class JobValidationError(ConfigError):
    """Several problems with one job; :attr:`errors` holds each (the first also sets the fields)."""

    errors: tuple[ConfigError, ...] = ()

    @classmethod
    def of(cls, errors: list[ConfigError]) -> ConfigError:
        """The single error, or one :class:`JobValidationError` listing all of them."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        rest = "\n".join(f"  - {e}" for e in errors[1:])
        err = cls(
            f"{first.message}\n{len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}:\n{rest}",
            party=first.party,
            component=first.component,
            field=first.field,
        )
        err.errors = tuple(errors)
        return err


class JobParams(BaseModel):
    """The ``job_parameters`` fedloom reads; FATE's engine settings are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    job_type: Literal["train", "predict"] | None = None
    model_id: str | None = None
    model_version: str | int | None = None
    task_cores: PositiveInt | None = None
    task_parallelism: PositiveInt | None = None
    computing_partitions: PositiveInt | None = None
    timeout: PositiveInt | None = None


def merge_params(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``: objects merge key by key, values replace."""
    out: dict[str, Any] = {k: _copy(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_params(out[key], value)
        else:
            out[key] = _copy(value)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _role(role: Role | str) -> Role:
    if isinstance(role, Role):
        return role
    try:
        return Role(str(role).lower())
    except ValueError:
        raise ConfigError(f"role must be guest, host or arbiter. Got {role!r}.", field="role") from None


def _layers(section: Mapping[str, Mapping[str, Any]], n_parties: int, index: int) -> list[Mapping[str, Any]]:
    """The role-section entries that apply to party ``index``, least specific first."""
    every: list[Mapping[str, Any]] = []
    groups: list[Mapping[str, Any]] = []
    single: list[Mapping[str, Any]] = []
    for key, value in section.items():
        idx = parse_party_key(key, n_parties)
        if idx is None:
            every.append(value)
        elif index in idx:
            (single if len(idx) == 1 else groups).append(value)
    return every + groups + single


class Job:
    """A validated job: conf, DSL, module specs, run order and every party's parameters.

    Build with :func:`load_job`. Roles may be given as :class:`Role` or text (``"guest"``); a
    party index is the position of the party id in the conf's ``role.<role>`` list.
    """

    def __init__(
        self, conf: JobConf, dsl: Dsl, specs: dict[str, ModuleSpec], registry: ModuleRegistry
    ) -> None:
        self.conf = conf
        self.dsl = dsl
        self.specs = specs
        self.registry = registry
        self.order: list[str] = dsl.topological_order()
        self.warnings: list[str] = []
        self._params: dict[tuple[str, Role, int], BaseModel] = {}

    # -- parties --------------------------------------------------------------------------
    @property
    def initiator(self) -> PartyId:
        """The party that starts the job."""
        return PartyId(self.conf.initiator.role, self.conf.initiator.party_id)

    @property
    def job_type(self) -> str:
        """``train`` or ``predict``: ``job_parameters.common.job_type``, else ``predict`` when the
        DSL uses ``pipeline.*`` models, else ``train``."""
        explicit = self.conf.job_parameters.common.get("job_type")
        if explicit:
            return str(explicit)
        return "predict" if self.dsl.external_refs() else "train"

    def parties(self) -> list[PartyId]:
        """Every party in conf order."""
        return self.conf.parties()

    def party_ids(self, role: Role | str) -> list[str]:
        """Party ids of ``role`` in index order (empty when the conf has no such role)."""
        return list(self.conf.role.get(_role(role), []))

    def party_index(self, party: PartyId) -> int:
        """Index of ``party`` within its role.

        Raises
        ------
        ConfigError
            The party is not in the conf.
        """
        ids = self.party_ids(party.role)
        if party.id not in ids:
            raise ConfigError(
                f"party {party} is not in the conf's role list.", field="role", party=str(party)
            )
        return ids.index(party.id)

    def party_at(self, role: Role | str, party_index: int) -> PartyId:
        """The party with index ``party_index`` in ``role``."""
        role = _role(role)
        ids = self.party_ids(role)
        if not 0 <= party_index < len(ids):
            raise ConfigError(
                f"party index {party_index} is out of range for role {role.value} ({len(ids)} parties).",
                field=f"role.{role.value}",
            )
        return PartyId(role, ids[party_index])

    # -- components -----------------------------------------------------------------------
    def spec(self, component: str) -> ModuleSpec:
        """The module spec of ``component``."""
        self._require(component)
        return self.specs[component]

    def roles_for(self, component: str) -> list[Role]:
        """Roles of the conf that run ``component`` (conf order)."""
        spec = self.spec(component)
        return [r for r in self.conf.role if r in spec.roles]

    def runs_on(self, component: str, role: Role | str) -> bool:
        """Whether parties of ``role`` run ``component``."""
        return _role(role) in self.roles_for(component)

    def upstream(self, component: str) -> list[str]:
        """Components ``component`` reads from."""
        self._require(component)
        return self.dsl.upstream(component)

    def parameter_source(self, component: str) -> str:
        """The component whose parameters ``component`` runs with (FATE's model-input inheritance)."""
        self._require(component)
        cur = component
        seen = {cur}
        while True:
            comp = self.dsl.components[cur]
            refs = [r for r in self.dsl.refs[cur] if r.slot == "model" and not r.external]
            if not refs:
                return cur
            up = refs[-1].component
            warm = bool(comp.input.data.get("train_data")) and bool(comp.input.model)
            if warm or self.dsl.module_of(up) != comp.module or up in seen:
                return cur
            seen.add(up)
            cur = up

    def parameters_for(self, component: str, role: Role | str, party_index: int) -> dict[str, Any]:
        """The parameters the conf gives ``component`` on one party, merged (see module docs).

        Only what the conf writes, after inheritance; defaults are in :meth:`params_for`.
        Empty for a role the module does not run on.
        """
        role = _role(role)
        self.party_at(role, party_index)
        source = self.parameter_source(component)
        if role not in self.spec(component).roles:
            return {}
        return self._merged(source, role, party_index)

    def params_for(self, component: str, role: Role | str, party_index: int) -> BaseModel:
        """The validated parameter model of ``component`` on one party (defaults filled in).

        Raises
        ------
        ConfigError
            The module does not run on ``role``.
        """
        role = _role(role)
        self.party_at(role, party_index)
        if role not in self.spec(component).roles:
            raise ConfigError(
                f"module {self.spec(component).name} does not run on role {role.value}.",
                component=component,
                field="role",
            )
        key = (self.parameter_source(component), role, party_index)
        if key not in self._params:
            model = self.spec(component).params_model
            merged = self._merged(*key)
            if NEED_RUN not in model.model_fields:
                merged.pop(NEED_RUN, None)  # FATE's universal switch, read by need_run()
            self._params[key] = model.model_validate(merged)
        return self._params[key]

    def need_run(self, component: str, role: Role | str, party_index: int) -> bool:
        """FATE's ``need_run`` parameter: ``false`` makes the party skip the component (and pass
        its input data through); ``true`` when not written or when the role does not run it."""
        value = self.parameters_for(component, role, party_index).get(NEED_RUN, True)
        return bool(value)

    def job_parameters_for(self, role: Role | str, party_index: int) -> dict[str, Any]:
        """``job_parameters`` for one party: ``common`` <- role ``all`` <- ``i|j`` <- ``i``."""
        role = _role(role)
        self.party_at(role, party_index)
        n = len(self.party_ids(role))
        out = dict(self.conf.job_parameters.common)
        for layer in _layers(self.conf.job_parameters.role.get(role, {}), n, party_index):
            out = merge_params(out, layer)
        return out

    def _merged(self, component: str, role: Role, party_index: int) -> dict[str, Any]:
        cp = self.conf.component_parameters
        out = dict(cp.common.get(component, {}))
        n = len(self.party_ids(role))
        for layer in _layers(cp.role.get(role, {}), n, party_index):
            if component in layer:
                out = merge_params(out, layer[component])
        return out

    def _require(self, component: str) -> None:
        if component not in self.dsl.components:
            raise ConfigError(f"component {component!r} is not in the dsl.", component=component)


def load_job(
    conf: Mapping[str, Any] | str | Path,
    dsl: Mapping[str, Any] | str | Path,
    registry: ModuleRegistry | None = None,
) -> Job:
    """Parse and validate a FATE DSL v2 job; nothing runs.

    Parameters
    ----------
    conf, dsl
        Dicts, or paths of JSON files.
    registry
        Modules the job may use (default: the process-wide :data:`fedloom.dsl.registry.REGISTRY`).

    Returns
    -------
    Job
        With run order and every party's validated parameters.

    Raises
    ------
    ConfigError
        The first problem when there is one, else a :class:`JobValidationError` listing all;
        each names the component and field (and party, for a parameter value).
    """
    registry = REGISTRY if registry is None else registry
    conf_obj = JobConf.parse(load_json(conf, "conf"))
    dsl_obj = Dsl.parse(load_json(dsl, "dsl"))
    problems: list[ConfigError] = []

    specs: dict[str, ModuleSpec] = {}
    for name, comp in dsl_obj.components.items():
        spec = registry.lookup(comp.module)
        if spec is None:
            problems.append(
                ConfigError(registry.unknown_message(comp.module), component=name, field="module")
            )
            continue
        specs[name] = spec
        problems += _check_slots(name, dsl_obj, spec)
    problems += dsl_obj.problems()
    problems += _check_job_type(conf_obj, dsl_obj)
    warnings: list[str] = []
    problems += _check_conf_against_dsl(conf_obj, dsl_obj, specs, warnings)
    if problems:
        raise JobValidationError.of(problems)

    job = Job(conf_obj, dsl_obj, specs, registry)
    job.warnings += warnings
    problems += _check_parameters(job)
    if problems:
        raise JobValidationError.of(problems)
    for name in dsl_obj.components:
        if not job.roles_for(name):
            job.warnings.append(
                f"{name} ({specs[name].name}) runs on "
                f"{', '.join(sorted(r.value for r in specs[name].roles))}, none of which is in the conf: "
                "no party runs it."
            )
    for msg in job.warnings:
        log.warning("%s", msg)
    return job


def _check_slots(name: str, dsl: Dsl, spec: ModuleSpec) -> list[ConfigError]:
    comp = dsl.components[name]
    out: list[ConfigError] = []
    for slot in comp.input_slots():
        if slot not in spec.inputs:
            field = (
                f"input.data.{slot}" if slot not in ("model", "isometric_model", "cache") else f"input.{slot}"
            )
            takes = ", ".join(sorted(spec.inputs)) or "no input"
            out.append(
                ConfigError(
                    f"module {spec.name} takes no {slot!r} input (it takes: {takes}).",
                    component=name,
                    field=field,
                )
            )
    for kind in comp.output_kinds():
        if kind not in spec.outputs:
            gives = ", ".join(sorted(spec.outputs)) or "no output"
            out.append(
                ConfigError(
                    f"module {spec.name} has no {kind!r} output (it gives: {gives}).",
                    component=name,
                    field=f"output.{kind}",
                )
            )
    data = {k for k, v in comp.input.data.items() if v}
    if spec.requires_data and not data:
        slots = " / ".join(sorted(s for s in spec.inputs if s not in ("model", "isometric_model", "cache")))
        out.append(
            ConfigError(
                f"missing input: module {spec.name} needs a data input ({slots or 'data'}).",
                component=name,
                field="input.data",
            )
        )
    if "test_data" in data and not (comp.input.model or comp.input.isometric_model):
        out.append(
            ConfigError(
                "missing input: 'test_data' is predicted with a model, and input.model is empty "
                '(e.g. "model": ["hetero_lr_0.model"]).',
                component=name,
                field="input.model",
            )
        )
    if "validate_data" in data and "train_data" not in data:
        out.append(
            ConfigError(
                "missing input: 'validate_data' is only used with 'train_data'.",
                component=name,
                field="input.data.train_data",
            )
        )
    return out


def _check_job_type(conf: JobConf, dsl: Dsl) -> list[ConfigError]:
    out: list[ConfigError] = []
    try:
        JobParams.model_validate(conf.job_parameters.common)
    except ValidationError as exc:
        for field, msg in describe_validation_error(exc, "job parameter"):
            out.append(ConfigError(msg, field=f"job_parameters.common.{field}"))
        return out
    ext = dsl.external_refs()
    if conf.job_parameters.common.get("job_type") == "train" and ext:
        ref = ext[0]
        out.append(
            ConfigError(
                f"job_type is 'train' but input {str(ref)!r} loads a deployed model; "
                "set job_type to 'predict'.",
                component=ref.consumer,
                field=ref.field,
            )
        )
    return out


def _unused(comp: str, where: str, dsl: Dsl) -> str:
    close = difflib.get_close_matches(comp, list(dsl.components), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where} gives parameters for {comp!r}, which is not in the dsl: ignored{hint}."


def _check_conf_against_dsl(
    conf: JobConf, dsl: Dsl, specs: dict[str, ModuleSpec], warnings: list[str]
) -> list[ConfigError]:
    # Parameters for components the dsl lacks are warnings, not errors: FATE ignores them and its
    # own examples have some (hetero_linr's conf sets evaluation_0, which its dsl lacks).
    out: list[ConfigError] = []
    cp = conf.component_parameters
    for comp in cp.common:
        if comp not in dsl.components:
            warnings.append(_unused(comp, "component_parameters.common", dsl))
    for role, section in cp.role.items():
        base = f"component_parameters.role.{role.value}"
        if role not in conf.role:
            first = next((c for layer in section.values() for c in layer), None)
            out.append(
                ConfigError(
                    f"parameters are given for role {role.value!r}, which the conf's 'role' does not list "
                    f"(roles: {', '.join(r.value for r in conf.role)}).",
                    component=first,
                    field=base,
                )
            )
            continue
        n = len(conf.role[role])
        for key, layer in section.items():
            first = next(iter(layer), None)
            try:
                parse_party_key(key, n)
            except ConfigError as exc:
                out.append(ConfigError(f"{role.value} {exc.message}", component=first, field=f"{base}.{key}"))
            for comp in layer:
                if comp not in dsl.components:
                    warnings.append(_unused(comp, f"{base}.{key}", dsl))
                elif comp in specs and role not in specs[comp].roles:
                    runs = ", ".join(sorted(r.value for r in specs[comp].roles))
                    out.append(
                        ConfigError(
                            f"parameters are given for role {role.value}, but module {specs[comp].name} "
                            f"runs only on {runs}.",
                            component=comp,
                            field=f"{base}.{key}.{comp}",
                        )
                    )
    for role, section in conf.job_parameters.role.items():
        base = f"job_parameters.role.{role.value}"
        if role not in conf.role:
            out.append(
                ConfigError(
                    f"job parameters are given for role {role.value!r}, which the conf's 'role' "
                    "does not list.",
                    field=base,
                )
            )
            continue
        for key in section:
            try:
                parse_party_key(key, len(conf.role[role]))
            except ConfigError as exc:
                out.append(ConfigError(f"{role.value} {exc.message}", field=f"{base}.{key}"))
    return out


def _check_parameters(job: Job) -> list[ConfigError]:
    out: list[ConfigError] = []
    seen: set[str] = set()
    cp = job.conf.component_parameters
    for name in job.order:
        spec = job.specs[name]
        source = job.parameter_source(name)
        if source != name:
            written = [
                f"{r.value}.{k}" for r, sec in cp.role.items() for k, layer in sec.items() if name in layer
            ]
            if name in cp.common:
                written.insert(0, "common")
            if written:
                job.warnings.append(
                    f"{name} takes its model from {source} (same module {spec.name}) and runs with "
                    f"{source}'s parameters; those written for {name} ({', '.join(written)}) are ignored."
                )
            continue
        for role in sorted(job.roles_for(name), key=_ROLE_ORDER.index):
            for idx, pid in enumerate(job.party_ids(role)):
                need_run = job.parameters_for(name, role, idx).get(NEED_RUN, True)
                if not isinstance(need_run, bool):
                    msg = sentence(
                        NEED_RUN,
                        "must be a boolean (true or false)",
                        need_run,
                        subject=f"parameter of {name}",
                    )
                    if msg not in seen:
                        seen.add(msg)
                        out.append(
                            ConfigError(msg, component=name, field=NEED_RUN, party=f"{role.value}:{pid}")
                        )
                    continue
                try:
                    job.params_for(name, role, idx)
                except ValidationError as exc:
                    for field, msg in describe_validation_error(exc, f"parameter of {name}"):
                        if msg in seen:
                            continue
                        seen.add(msg)
                        out.append(ConfigError(msg, component=name, field=field, party=f"{role.value}:{pid}"))
                except ConfigError as exc:  # a parameter model that checks with its algorithm's own rules
                    if exc.message not in seen:
                        seen.add(exc.message)
                        out.append(
                            ConfigError(
                                exc.message, component=name, field=exc.field, party=f"{role.value}:{pid}"
                            )
                        )
    return out
