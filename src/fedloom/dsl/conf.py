"""The job conf of FATE's DSL v2, as pydantic models (errors worded by :mod:`fedloom.core.validation`).

A conf names the parties and the parameters; the ``dsl`` (:mod:`fedloom.dsl.graph`) names the
components. The shape, exactly as FATE 1.x writes it::

    {
      "dsl_version": 2,
      "initiator": {"role": "guest", "party_id": 9999},
      "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
      "job_parameters": {"common": {"job_type": "train"},
                         "role": {"guest": {"0": {...}}}},
      "component_parameters": {
        "common": {"hetero_lr_0": {"penalty": "L2"}},
        "role": {"guest": {"0": {"reader_0": {"table": {...}}}},
                 "host": {"all": {...}, "0|1": {...}, "2": {...}}}
      }
    }

Party-index keys under ``role.<role>`` are FATE's: ``"all"``, one index (``"0"``) or several
joined by ``|`` (``"0|2"``). FATE has no range syntax; ``"0-2"`` or ``"0,1"`` are refused with a
message that shows the ``|`` form, where FATE would ignore them silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fedloom.core.errors import ConfigError
from fedloom.core.roles import PartyId, Role
from fedloom.core.validation import describe_validation_error, errors_to_config_error

__all__ = [
    "ComponentParameters",
    "Initiator",
    "JobConf",
    "JobParameters",
    "load_json",
    "parse_party_key",
]

#: Top-level keys of a FATE v2 conf that fedloom accepts and ignores (engine / provider choices).
IGNORED_CONF_KEYS = frozenset({"provider", "local", "gen_table_info"})

_PARTY_KEY = re.compile(r"^\d+(\|\d+)*$")


def load_json(source: Mapping[str, Any] | str | Path, what: str) -> dict[str, Any]:
    """Return ``source`` as a dict, reading it as a JSON file when it is a path.

    Parameters
    ----------
    source
        A mapping (returned as a plain dict copy) or the path of a JSON file.
    what
        ``"conf"`` or ``"dsl"``, for the error message.

    Raises
    ------
    ConfigError
        The file is missing, is not JSON, or does not hold a JSON object.
    """
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {str(path)!r}: {exc.strerror or exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the {what} file {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"the {what} file {str(path)!r} must hold a JSON object. Got {type(data).__name__}."
        )
    return data


def parse_party_key(key: str, n_parties: int) -> tuple[int, ...] | None:
    """Parse a party-index key of ``component_parameters.role.<role>``.

    Parameters
    ----------
    key
        ``"all"``, ``"0"`` or ``"0|2"`` (FATE's forms).
    n_parties
        How many parties play the role in this conf.

    Returns
    -------
    tuple of int or None
        The indexes the key names, or ``None`` for ``"all"``.

    Raises
    ------
    ConfigError
        The key is malformed or names an index outside ``range(n_parties)``
        (``field`` is the key; the caller adds component and role context).
    """
    key = str(key).strip()
    if key == "all":
        return None
    if not _PARTY_KEY.match(key):
        hint = ""
        if re.match(r"^\d+\s*-\s*\d+$", key):
            lo, hi = (int(x) for x in key.split("-"))
            hint = f" (write {'|'.join(str(i) for i in range(lo, hi + 1))!r} for a range)"
        elif re.match(r"^\d+(\s*,\s*\d+)+$", key):
            hint = f" (write {'|'.join(x.strip() for x in key.split(','))!r})"
        raise ConfigError(
            f"party-index key {key!r} must be 'all', an index such as '0', or indexes joined by '|' "
            f"such as '0|1'{hint}.",
            field=key,
        )
    indexes = tuple(int(x) for x in key.split("|"))
    for i in indexes:
        if i >= n_parties:
            raise ConfigError(
                f"party index {i} in key {key!r} is out of range: the conf lists {n_parties} "
                f"part{'y' if n_parties == 1 else 'ies'} for this role (indexes 0..{n_parties - 1}).",
                field=key,
            )
    return indexes


def _party_id_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a party id must be an integer or a string. Got {value!r}")
    text = str(value).strip()
    try:
        PartyId(Role.GUEST, text)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return text


class Initiator(BaseModel):
    """The party that starts the job (``{"role": "guest", "party_id": 9999}``)."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    party_id: str

    @field_validator("party_id", mode="before")
    @classmethod
    def _pid(cls, v: Any) -> str:
        return _party_id_text(v)


class JobParameters(BaseModel):
    """``job_parameters``: ``common`` for every party, ``role`` per role and party-index key."""

    model_config = ConfigDict(extra="forbid")

    common: dict[str, Any] = Field(default_factory=dict)
    role: dict[Role, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class ComponentParameters(BaseModel):
    """``component_parameters``: ``common.<component>`` and ``role.<role>.<party key>.<component>``."""

    model_config = ConfigDict(extra="forbid")

    common: dict[str, dict[str, Any]] = Field(default_factory=dict)
    role: dict[Role, dict[str, dict[str, dict[str, Any]]]] = Field(default_factory=dict)


class JobConf(BaseModel):
    """A FATE DSL v2 job conf.

    Party ids are kept as text (FATE writes them as JSON numbers); ``role`` keeps the conf's
    order of parties, which defines each party's index.
    """

    model_config = ConfigDict(extra="forbid")

    dsl_version: Literal[2]
    initiator: Initiator
    role: dict[Role, list[str]]
    job_parameters: JobParameters = Field(default_factory=JobParameters)
    component_parameters: ComponentParameters = Field(default_factory=ComponentParameters)

    @field_validator("dsl_version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return 2 if v in (2, "2") else v

    @field_validator("role", mode="before")
    @classmethod
    def _roles(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out: dict[Any, Any] = {}
        for role, ids in v.items():
            if isinstance(ids, int | str) and not isinstance(ids, bool):
                ids = [ids]  # tolerate "guest": 9999
            if isinstance(ids, Sequence) and not isinstance(ids, str):
                ids = [_party_id_text(x) for x in ids]
            out[role] = ids
        return out

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobConf:
        """Validate a conf dict; every problem becomes one line of a :class:`ConfigError`.

        Raises
        ------
        ConfigError
            ``field`` is the dotted path of the first bad field (``role.hostt``); FATE v1 confs
            (``algorithm_parameters`` / ``role_parameters``) get a message of their own.
        """
        data = dict(data)
        if "algorithm_parameters" in data or "role_parameters" in data:
            raise ConfigError(
                "this is a DSL v1 conf (algorithm_parameters / role_parameters); fedloom reads DSL v2: "
                "put them under component_parameters.common / component_parameters.role and set "
                '"dsl_version": 2.',
                field="dsl_version",
            )
        if "dsl_version" not in data:
            raise ConfigError(
                'the conf has no "dsl_version"; FATE reads that as DSL v1, fedloom reads DSL v2 only: '
                'add "dsl_version": 2.',
                field="dsl_version",
            )
        if data["dsl_version"] not in (2, "2"):
            raise ConfigError(
                f"dsl_version must be 2 (fedloom reads FATE's DSL v2). Got {data['dsl_version']!r}.",
                field="dsl_version",
            )
        for key in IGNORED_CONF_KEYS:
            data.pop(key, None)
        try:
            conf = cls.model_validate(data)
        except ValidationError as exc:
            raise errors_to_config_error(describe_validation_error(exc, "field of the job conf")) from None
        if not conf.role:
            raise ConfigError("the conf's 'role' lists no party.", field="role")
        for role, ids in conf.role.items():
            if not ids:
                raise ConfigError(f"role.{role.value} lists no party id.", field=f"role.{role.value}")
            seen: set[str] = set()
            for pid in ids:
                if pid in seen:
                    raise ConfigError(
                        f"party id {pid} appears twice in role.{role.value}; each party of a role "
                        "must be listed once.",
                        field=f"role.{role.value}",
                    )
                seen.add(pid)
        init = conf.initiator
        if init.role not in conf.role or init.party_id not in conf.role[init.role]:
            raise ConfigError(
                f"the initiator {init.role.value}:{init.party_id} is not one of the conf's parties "
                f"({', '.join(f'{r.value}:{p}' for r, ids in conf.role.items() for p in ids)}).",
                field="initiator",
            )
        return conf

    def parties(self) -> list[PartyId]:
        """Every party of the job in conf order (a party id may appear under several roles)."""
        return [PartyId(role, pid) for role, ids in self.role.items() for pid in ids]
