"""Caches of an earlier job (``CacheLoader``), for :func:`fedloom.runner.local.run_job`.

``fedloom run --cache-job JOB_ID`` mirrors ``--model-job``: it names the job whose ``cache``
outputs the dsl's ``CacheLoader`` components load, overriding the ``job_id`` their parameters
carry (FATE's example confs ship ``""``). Before any process starts, every party that runs a
``CacheLoader`` must find its own cache file there
(``{job}/outputs/{component_name}/{role}-{id}/{cache_name}.json``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from fedloom.components.cache_loader import CacheLoaderParams, cache_folder, load_cache
from fedloom.core.errors import ConfigError, FedloomError
from fedloom.dsl import Job

__all__ = ["cache_loaders", "preflight_caches", "with_cache_job"]

MODULE = "CacheLoader"


def cache_loaders(job: Job) -> list[str]:
    """The dsl's ``CacheLoader`` components, in run order."""
    return [name for name in job.order if job.spec(name).name == MODULE]


def with_cache_job(
    job: Job, conf: dict[str, Any], cache_job: str | Path | None, jobs_root: Path
) -> dict[str, Any]:
    """``conf`` with every ``CacheLoader``'s ``job_id`` set to ``cache_job``'s folder (a copy);
    ``conf`` itself when ``cache_job`` is not given.

    Raises
    ------
    ConfigError
        ``cache_job`` is given to a dsl without ``CacheLoader``, or names no job with outputs.
    """
    if cache_job in (None, ""):
        return conf
    loaders = cache_loaders(job)
    if not loaders:
        raise ConfigError(
            f"--cache-job {cache_job} is given, but the dsl has no CacheLoader component to load a cache.",
            field="--cache-job",
        )
    folder = cache_folder(str(cache_job), jobs_root)
    if not (folder / "outputs").is_dir():
        raise ConfigError(
            f"no job {str(cache_job)!r} with outputs under {jobs_root}; give the id of a job run with "
            "the same --job-dir, or its folder.",
            field="--cache-job",
        )
    value = str(folder.resolve())
    out = copy.deepcopy(conf)
    params = out.setdefault("component_parameters", {})
    for name in loaders:
        params.setdefault("common", {}).setdefault(name, {})["job_id"] = value
        for by_index in (params.get("role") or {}).values():
            for per_party in (by_index or {}).values():
                if isinstance(per_party, dict) and isinstance(per_party.get(name), dict):
                    per_party[name]["job_id"] = value
    return out


def preflight_caches(job: Job, jobs_root: Path) -> None:
    """Every party running a ``CacheLoader`` finds its cache (ConfigError naming party, component
    and field otherwise)."""
    for name in cache_loaders(job):
        for party in job.parties():
            index = job.party_index(party)
            if not job.runs_on(name, party.role) or not job.need_run(name, party.role, index):
                continue
            params = job.params_for(name, party.role, index)
            assert isinstance(params, CacheLoaderParams)
            try:
                load_cache(params, party, jobs_root)
            except FedloomError as exc:
                exc.party = exc.party or str(party)
                exc.component = exc.component or name
                raise
