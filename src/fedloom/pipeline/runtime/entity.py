"""``JobParameters``: the ``job_parameters`` of a pipeline's job, FATE's ``pipeline.runtime.entity``.

::

    job_parameters = JobParameters(task_parallelism=1, timeout=600)
    job_parameters.get_party_instance(role="guest", party_id=9999).job_param(task_cores=2)
    pipeline.fit(job_parameters)

becomes ``"job_parameters": {"common": {"task_parallelism": 1, "timeout": 600},
"role": {"guest": {"0": {"task_cores": 2}}}}`` (party ids become indexes in the pipeline's roles).
fedloom reads ``timeout``, ``model_id``, ``model_version`` and ``job_type``; FATE's engine settings
are accepted and ignored by the runner. Only the arguments given are written.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from fedloom.core.errors import ConfigError

__all__ = ["JobParameters"]

log = logging.getLogger(__name__)

#: Arguments of FATE's older clients with no meaning in a conf (dropped with a warning, as FATE does).
_DROPPED = ("backend",)


class JobParameters:
    """Job parameters, common and per party.

    Parameters
    ----------
    **kwargs
        ``job_parameters.common`` entries (FATE's names: ``job_type``, ``timeout``,
        ``task_parallelism``, ``computing_engine``, ``model_id``, ``model_version`` ...).
    """

    def __init__(self, **kwargs: Any) -> None:
        self._common: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in _DROPPED:
                log.warning("job parameter %r is not used (FATE >= 1.7 dropped it too)", key)
                continue
            self._common[key] = copy.deepcopy(value)
        self._party: dict[str, dict[Any, JobParameters]] = {}
        self._job_param: dict[str, Any] = {}

    def get_party_instance(
        self, role: str = "guest", party_id: int | list[int] | None = None
    ) -> JobParameters:
        """The job parameters of one party (``None``: every party of the role); set them with
        :meth:`job_param`."""
        if role not in ("guest", "host", "arbiter"):
            raise ConfigError(f"role must be one of guest, host, arbiter. Got {role!r}.", field="role")
        key = "|".join(map(str, party_id)) if isinstance(party_id, list) else party_id
        parties = self._party.setdefault(role, {})
        if key not in parties:
            parties[key] = JobParameters()
        return parties[key]

    def job_param(self, **kwargs: Any) -> JobParameters:
        """Record parameters for this party instance."""
        self._job_param.update(copy.deepcopy(kwargs))
        return self

    def get_job_param(self) -> dict[str, Any]:
        return copy.deepcopy(self._job_param)

    def get_common_param_conf(self) -> dict[str, Any]:
        return copy.deepcopy(self._common)

    def get_role_param_conf(self, roles: Mapping[str, list[Any]] | None = None) -> dict[str, Any]:
        """``{role: {index key: params}}``; party ids become indexes in ``roles``."""
        roles = roles or {}
        out: dict[str, dict[str, Any]] = {}
        for role, parties in self._party.items():
            ids = [str(p) for p in roles.get(role, [])]
            for key, inst in parties.items():
                params = inst.get_job_param()
                if not params:
                    continue
                if key is None:
                    index = "all"
                else:
                    missing = [p for p in str(key).split("|") if p not in ids]
                    if missing:
                        raise ConfigError(
                            f"job parameters name {role} {missing[0]}, which is not a {role} of the pipeline "
                            f"({role}: {ids or 'none'}).",
                            field=f"job_parameters.role.{role}",
                        )
                    index = "|".join(str(ids.index(p)) for p in str(key).split("|"))
                out.setdefault(role, {})[index] = params
        return out

    def get_config(
        self, *args: Any, roles: Mapping[str, list[Any]] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """``{"common": {...}, "role": {...}}`` (each only when non-empty)."""
        conf: dict[str, Any] = {}
        common = self.get_common_param_conf()
        if common:
            conf["common"] = common
        role = self.get_role_param_conf(roles)
        if role:
            conf["role"] = role
        return conf

    def __repr__(self) -> str:
        return f"JobParameters({', '.join(f'{k}={v!r}' for k, v in self._common.items())})"
