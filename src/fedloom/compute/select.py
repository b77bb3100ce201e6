"""Choosing a party's compute backend by configuration (issue 16).

A party's configuration names its backend in one mapping, the same in a job's
``job_parameters.common.compute`` and in the server's config (``compute:``)::

    compute:
      backend: ray            # "local" (default: a process pool on this machine) or "ray"
      address: "10.0.0.5:6379"  # ray only: the party's own cluster ("auto": the local one);
                              # absent: a private single-node Ray started in the process
      workers: 16             # tasks to cut work into (local: processes); default all CPUs
      timeout: 3600           # ray only: seconds one stage may take
      max_retries: 3          # ray only: retries of a task whose worker or node died

The runner hands the mapping to each party process as JSON in ``FEDLOOM_COMPUTE``
(:data:`COMPUTE_ENV`); :func:`~fedloom.compute.executor.default_executor` builds the process'
executor from it with :func:`select_executor`, so an algorithm that takes
``executor=None`` gets the configured backend without knowing which it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fedloom.compute.executor import Executor, LocalExecutor
from fedloom.core.errors import ConfigError

#: Environment variable carrying a party process' compute mapping as JSON.
COMPUTE_ENV = "FEDLOOM_COMPUTE"
BACKENDS = ("local", "ray")
_KEYS = {"backend", "address", "workers", "timeout", "max_retries", "namespace"}


def check_compute(config: Mapping[str, Any] | None, field: str = "compute") -> dict[str, Any]:
    """The compute mapping, validated (unknown keys, backend name, key types).

    Raises
    ------
    ConfigError
        Names the offending ``field`` (e.g. ``job_parameters.common.compute.backend``).
    """
    if config is None:
        return {"backend": "local"}
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"must be a mapping like {{backend: ray, address: ...}}. Got {config!r}.", field=field
        )
    unknown = sorted(set(config) - _KEYS)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {sorted(_KEYS)}", field=field)
    out = dict(config)
    backend = out.setdefault("backend", "local")
    if backend not in BACKENDS:
        raise ConfigError(f"must be one of {', '.join(BACKENDS)}. Got {backend!r}.", field=f"{field}.backend")
    if backend == "local":
        extra = sorted(set(out) - {"backend", "workers"})
        if extra:
            raise ConfigError(f"{extra} apply to backend 'ray' only", field=field)
    address = out.get("address")
    if address is not None and (not isinstance(address, str) or not address):
        raise ConfigError(f"must be a non-empty string. Got {address!r}.", field=f"{field}.address")
    for key in ("workers", "max_retries", "timeout"):
        _check_number(out.get(key), key, f"{field}.{key}")
    return out


def _check_number(value: Any, key: str, field: str) -> None:
    """``workers`` an int >= 1, ``max_retries`` an int >= 0, ``timeout`` a number > 0 (or absent)."""
    if value is None:
        return
    if key == "timeout":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        wanted = "a number > 0"
    else:
        low = 1 if key == "workers" else 0
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        wanted = f"an int >= {low}"
    if not ok:
        raise ConfigError(f"must be {wanted}. Got {value!r}.", field=field)


def select_executor(config: Mapping[str, Any] | None, field: str = "compute") -> Executor:
    """A new executor for a compute mapping (see the module docstring).

    Parameters
    ----------
    config
        ``{"backend": "local" | "ray", "address": ..., "workers": ..., ...}``; ``None``: local.
    field
        Where the mapping came from, for error messages.

    Raises
    ------
    ConfigError
        An invalid mapping, Ray missing, or an unreachable cluster.
    """
    conf = check_compute(config, field)
    workers = conf.get("workers")
    if conf["backend"] == "local":
        return LocalExecutor(workers)
    from fedloom.compute.ray_backend import DEFAULT_RETRIES, DEFAULT_TIMEOUT, RayExecutor

    return RayExecutor(
        conf.get("address"),
        workers,
        timeout=conf.get("timeout", DEFAULT_TIMEOUT),
        max_retries=conf.get("max_retries", DEFAULT_RETRIES),
        namespace=conf.get("namespace", "fedloom"),
    )


def compute_env(config: Mapping[str, Any] | None, field: str = "compute") -> dict[str, str]:
    """Environment entries that give a party process this compute mapping (empty for none)."""
    if config is None:
        return {}
    return {COMPUTE_ENV: json.dumps(check_compute(config, field))}


def from_env(text: str) -> Executor:
    """The executor of a :data:`COMPUTE_ENV` value."""
    try:
        config = json.loads(text)
    except ValueError:
        raise ConfigError(f"must be a JSON mapping. Got {text!r}.", field=COMPUTE_ENV) from None
    return select_executor(config, COMPUTE_ENV)


def party_compute(job_parameters: Any, role: Any, index: int) -> dict[str, Any] | None:
    """A party's compute mapping from a job's ``job_parameters``: ``common.compute`` updated by
    ``role.<role>.all.compute`` then ``role.<role>.<index>.compute`` (each party names its own
    cluster's address); ``None`` when the job configures none.
    """
    common = getattr(job_parameters, "common", None) or {}
    by_role = (getattr(job_parameters, "role", None) or {}).get(role) or {}
    role = getattr(role, "value", role)
    found = False
    out: dict[str, Any] = {}
    for where, section in (
        ("common", common),
        (f"role.{role}.all", by_role.get("all") or {}),
        (f"role.{role}.{index}", by_role.get(str(index)) or {}),
    ):
        part = section.get("compute")
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise ConfigError(f"must be a mapping. Got {part!r}.", field=f"job_parameters.{where}.compute")
        out.update(part)
        found = True
    return check_compute(out, "job_parameters.compute") if found else None


def configure_process(config: Mapping[str, Any] | None) -> None:
    """Make ``config`` this process' backend: :func:`~fedloom.compute.executor.default_executor`
    returns an executor built from it from now on (``None``: leave the process as it is, so a
    server-wide ``FEDLOOM_COMPUTE`` stays in force). Used in a party's own process only.
    """
    import os

    from fedloom.compute import executor as _executor

    if config is None:
        return
    text = json.dumps(check_compute(config))
    if os.environ.get(COMPUTE_ENV) == text:
        return
    os.environ[COMPUTE_ENV] = text
    with _executor._default_lock:
        old, _executor._default = _executor._default, None
    if old is not None:
        old[1].close()
