"""The base of every pipeline component: a DSL module with its parameters, per party when needed.

A component is written as FATE writes it::

    hetero_lr_0 = HeteroLR(name="hetero_lr_0", max_iter=10)          # common parameters
    data_transform_0.get_party_instance(role="host", party_id=10000).component_param(with_label=False)

and becomes, at :meth:`~fedloom.pipeline.backend.pipeline.PipeLine.compile`, its DSL entry
(``module``, ``input``, ``output``) and its conf entries: the constructor's keyword arguments under
``component_parameters.common.<name>``, each party instance's under
``component_parameters.role.<role>.<index>.<name>`` (``party_id=None``: the key ``"all"``; a list
of party ids: ``"0|1"``). The parameters are checked by the DSL loader then (unknown names and bad
values are errors naming the component and field); here they are only recorded.

Default names follow FATE: the class name in lower case and a counter per class
(``HeteroLR()`` is ``heterolr_0``, then ``heterolr_1``); party instances do not count.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from fedloom.core.errors import ConfigError
from fedloom.dsl import ModuleSpec
from fedloom.pipeline.interface.input import Input
from fedloom.pipeline.interface.output import Output

__all__ = ["Component", "PartyInstance", "is_learner", "module_spec"]

ROLES = ("guest", "host", "arbiter")


def module_spec(module: str) -> ModuleSpec:
    """The registered spec of ``module`` (importing :mod:`fedloom.components` registers them all)."""
    from fedloom.components import registry

    return registry().get(module)


def is_learner(spec: ModuleSpec) -> bool:
    """Whether the module trains and predicts (its input names ``train_data`` / ``validate_data`` /
    ``test_data``, FATE's "multi" input) rather than transforming one ``data`` input."""
    from fedloom.components.model import ModelComponent

    entry = spec.entry if isinstance(spec.entry, Mapping) else {}
    return any(isinstance(c, type) and issubclass(c, ModelComponent) for c in entry.values())


PartyKey = int | str | None


def _party_key(party_id: int | str | list[int | str] | None) -> PartyKey:
    """``None`` (every party of the role), one id, or ``"9999|10000"`` for a list (FATE's keys)."""
    if party_id is None:
        return None
    ids = party_id if isinstance(party_id, list) else [party_id]
    for pid in ids:
        if isinstance(pid, bool) or not isinstance(pid, int | str) or str(pid) == "":
            raise ConfigError(
                f"a party id must be an integer (or a list of them). Got {pid!r}.", field="party_id"
            )
    if isinstance(party_id, list):
        return "|".join(str(p) for p in party_id)
    return party_id


class PartyInstance:
    """The parameters of one component for one party (or every party of a role, or several).

    Returned by :meth:`Component.get_party_instance`; :meth:`component_param` records parameters
    that override the component's common ones for that party.
    """

    def __init__(self, owner: Component, role: str, key: PartyKey) -> None:
        self._owner = owner
        self._role = role
        self._key = key
        self._component_param: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """The component's name."""
        return self._owner.name

    @property
    def module(self) -> str:
        return self._owner.module

    def component_param(self, **kwargs: Any) -> PartyInstance:
        """Record parameters for this party (merged over the common ones, key by key)."""
        self._component_param.update(copy.deepcopy(kwargs))
        return self

    #: FATE 1.5's name of :meth:`component_param`.
    algorithm_param = component_param

    def get_component_param(self) -> dict[str, Any]:
        """The parameters recorded for this party."""
        return copy.deepcopy(self._component_param)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        if item in self._component_param:
            return self._component_param[item]
        return getattr(self._owner, item)


class Component:
    """A DSL module in a pipeline.

    Parameters
    ----------
    name
        The component's name in the DSL (default: FATE's ``<class name lower>_<counter>``).
    **params
        Parameters common to every party that runs the module (FATE's names).

    Attributes
    ----------
    module
        The DSL module name (``"HeteroLR"``).
    input, output
        :class:`~fedloom.pipeline.interface.Input` / :class:`~fedloom.pipeline.interface.Output`:
        ``output.data`` is ``"<name>.data"``, ``input.data`` what a predict pipeline feeds.
    """

    module: ClassVar[str] = ""
    _counters: ClassVar[dict[str, int]] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> Component:
        obj = super().__new__(cls)
        key = cls.__name__.lower()
        index = Component._counters.get(key, 0)
        Component._counters[key] = index + 1
        obj.__dict__["_component_name"] = f"{key}_{index}"
        return obj

    def __init__(self, name: str | None = None, **params: Any) -> None:
        if not type(self).module:
            raise ConfigError(f"{type(self).__name__} names no DSL module.", field="module")
        if name is not None:
            if not isinstance(name, str) or not name or "." in name:
                raise ConfigError(f"a component name must be a non-empty string without '.'. Got {name!r}.",
                                  field="name")  # fmt: skip
            self._component_name = name
        self._spec = module_spec(type(self).module)
        self._params: dict[str, Any] = copy.deepcopy(params)
        self._party: dict[str, dict[PartyKey, PartyInstance]] = {}
        self.input = Input(self.name, "multi" if is_learner(self._spec) else "single")
        self.output = Output(self.name, self._spec.outputs)

    # -- identity ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The component's name in the DSL."""
        return str(self.__dict__["_component_name"])

    def reset_name(self, name: str) -> None:
        """Rename the component (before it is added to a pipeline)."""
        self._component_name = name
        self.input = Input(name, self.input.data_type)
        self.output = Output(name, self._spec.outputs)

    @property
    def spec(self) -> ModuleSpec:
        """The module's registered spec (roles, inputs, outputs, parameter model)."""
        return self._spec

    # -- parameters --------------------------------------------------------------------------------
    def get_party_instance(
        self, role: str = "guest", party_id: int | str | list[int | str] | None = None
    ) -> PartyInstance:
        """The parameters of this component for ``role`` / ``party_id`` (``None``: every party of
        the role); call ``.component_param(...)`` on it. The same object comes back every time."""
        if role not in ROLES:
            raise ConfigError(f"role must be one of guest, host, arbiter. Got {role!r}.",
                              component=self.name, field="role")  # fmt: skip
        key = _party_key(party_id)
        parties = self._party.setdefault(role, {})
        if key not in parties:
            parties[key] = PartyInstance(self, role, key)
        return parties[key]

    def component_param(self, **kwargs: Any) -> Component:
        """Add common parameters after construction."""
        self._params.update(copy.deepcopy(kwargs))
        return self

    algorithm_param = component_param

    def get_common_param_conf(self) -> dict[str, Any]:
        """The common parameters (those given to the constructor or :meth:`component_param`)."""
        return copy.deepcopy(self._params)

    def get_role_param_conf(self, roles: Mapping[str, list[Any]] | None = None) -> dict[str, Any]:
        """``{role: {party index key: {name: params}}}`` for the parties that set parameters.

        Raises
        ------
        ConfigError
            A party instance names a party id that ``roles`` does not list for that role.
        """
        roles = roles or {}
        out: dict[str, dict[str, Any]] = {}
        for role, parties in self._party.items():
            for key, inst in parties.items():
                params = inst.get_component_param()
                if not params:
                    continue
                index = "all" if key is None else self._index_key(role, key, roles)
                out.setdefault(role, {}).setdefault(index, {})[self.name] = params
        return out

    def _index_key(self, role: str, key: int | str, roles: Mapping[str, list[Any]]) -> str:
        ids = [str(p) for p in roles.get(role, [])]
        indexes = []
        for pid in str(key).split("|"):
            if pid not in ids:
                raise ConfigError(
                    f"component {self.name} sets parameters for {role} {pid}, which is not a {role} of the "
                    f"pipeline ({role}: {ids or 'none'}); call set_roles first or fix the party id.",
                    component=self.name,
                    field=f"{role}.{pid}",
                )
            indexes.append(str(ids.index(pid)))
        return "|".join(indexes)

    def get_config(
        self, *args: Any, roles: Mapping[str, list[Any]] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """This component's ``component_parameters`` entries: ``{"common": {...}, "role": {...}}``."""
        conf: dict[str, Any] = {}
        common = self.get_common_param_conf()
        if common:
            conf["common"] = {self.name: common}
        role = self.get_role_param_conf(roles)
        if role:
            conf["role"] = role
        return conf

    def __getattr__(self, item: str) -> Any:
        # Parameters read as attributes, as in FATE (``hetero_lr_0.max_iter``): the value given, else
        # the module's default. Private names never fall through (copy / repr stay safe).
        if item.startswith("_"):
            raise AttributeError(item)
        params = self.__dict__.get("_params", {})
        if item in params:
            return params[item]
        spec = self.__dict__.get("_spec")
        fields = getattr(getattr(spec, "params_model", None), "model_fields", {})
        if item in fields:
            default = fields[item].get_default(call_default_factory=True)
            return default
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no attribute or parameter {item!r}")

    # -- serialisation (JSON, never pickle) --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The component as plain JSON data (:meth:`from_dict` rebuilds it)."""
        return {
            "class": type(self).__name__,
            "module": self.module,
            "name": self.name,
            "common": self.get_common_param_conf(),
            "parties": [
                {"role": role, "party": key, "params": inst.get_component_param()}
                for role, parties in self._party.items()
                for key, inst in parties.items()
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Component:
        """Rebuild a component written by :meth:`to_dict` (does not advance the name counter)."""
        obj = object.__new__(cls)
        obj.__dict__["_component_name"] = str(doc["name"])
        Component.__init__(obj, name=str(doc["name"]), **dict(doc.get("common") or {}))
        for entry in doc.get("parties") or []:
            obj.get_party_instance(entry["role"], entry.get("party")).component_param(
                **(entry.get("params") or {})
            )
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
