"""``CacheLoader``: a ``cache`` output of an earlier job, for a component of this one (FATE's module).

FATE's parameters, per party: ``job_id`` (the earlier job), ``component_name`` (its component
that produced the cache) and ``cache_name`` (the output name, default ``cache``). Each party
loads its own part::

    {jobs folder}/{job_id}/outputs/{component_name}/{role}-{party_id}/{cache_name}.json

``job_id`` may also be the job's folder. FATE's example confs ship ``"job_id": ""`` for the user to
fill in; ``fedloom run --cache-job JOB_ID`` fills it in for every ``CacheLoader`` (as
``--model-job`` names the job a predict job loads), and the run checks before any process
starts that every party finds its cache there. Runs on guest and hosts; outputs ``cache`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from fedloom.components.base import Component, Env, Inputs, Outputs, read_json
from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.core.roles import GUEST, HOST, PartyId
from fedloom.dsl import ModuleSpec, register_module

__all__ = ["CacheLoader", "CacheLoaderParams", "load_cache"]


class CacheLoaderParams(BaseModel):
    """``job_id``, ``component_name``, ``cache_name`` (FATE's names)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = ""
    component_name: str = ""
    cache_name: str = "cache"


def cache_folder(job_id: str, jobs_root: Path | None) -> Path:
    """The earlier job's folder: ``job_id`` itself when it is a job folder, else under ``jobs_root``."""
    if not job_id:
        raise ConfigError(
            "names no job: set job_id to the id of the job that made the cache, or run with "
            "--cache-job JOB_ID",
            field="job_id",
        )
    candidate = Path(job_id).expanduser()
    if candidate.is_dir() and (candidate / "outputs").is_dir():
        return candidate
    if jobs_root is None:
        raise ConfigError(f"job {job_id!r} is not a job folder and no jobs folder is known", field="job_id")
    return jobs_root / job_id


def load_cache(params: CacheLoaderParams, party: PartyId, jobs_root: Path | None) -> dict[str, Any]:
    """``party``'s cache named by ``params``, or ConfigError naming the field at fault."""
    if not params.component_name:
        raise ConfigError("names no component: set component_name (e.g. intersect_0)", field="component_name")
    folder = cache_folder(params.job_id, jobs_root)
    role_dir = f"{party.role.value}-{party.id}"
    path = folder / "outputs" / params.component_name / role_dir / f"{params.cache_name}.json"
    cache = read_json(
        path,
        missing=f"job {folder.name} holds no cache {params.cache_name!r} of {params.component_name} for "
        f"{party} ({path} does not exist): did {params.component_name} run with run_cache there?",
        unreadable=f"cannot read the cache {path}",
        field="cache_name",
        party=party,
    )
    if not isinstance(cache, dict):
        raise ConfigError(f"the cache {path} is not a JSON object", field="cache_name", party=str(party))
    return cache


class CacheLoader(Component):
    """Load this party's cache of an earlier job."""

    module = "CacheLoader"
    params: CacheLoaderParams

    @classmethod
    def preflight(cls, params: BaseModel, env: Env) -> None:
        """The parameters name a job and a component (the files are checked by ``fedloom run``)."""
        assert isinstance(params, CacheLoaderParams)
        if not params.component_name:
            raise ConfigError(
                "names no component: set component_name (e.g. intersect_0)", field="component_name"
            )

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        jobs_root = self.env.job_dir.parent if self.env.job_dir is not None else None
        cache = load_cache(self.params, self.env.party, jobs_root)
        folder = cache_folder(self.params.job_id, jobs_root)
        return Outputs(
            cache=cache,
            metrics={"job_id": folder.name, "component_name": self.params.component_name,
                     "cache_name": self.params.cache_name},
        )  # fmt: skip


SPEC = register_module(
    ModuleSpec(
        "CacheLoader",
        roles={GUEST, HOST},
        params_model=CacheLoaderParams,
        inputs=(),
        outputs={"cache"},
        requires_data=False,
        entry={GUEST: CacheLoader, HOST: CacheLoader},
        description="Load this party's cache output of an earlier job (job_id, component_name, cache_name).",
    )
)
