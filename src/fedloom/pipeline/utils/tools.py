"""``load_job_config``: the parties of FATE's example scripts (``examples/config.yaml``).

FATE's examples start with ``config = load_job_config("../../config.yaml")`` and read
``config.parties.guest[0]``, ``config.parties.host[0]``, ``config.parties.arbiter[0]`` (and in
older scripts ``config.backend`` / ``config.work_mode``). The file is YAML or JSON::

    parties:
      guest: [9999]
      host: [10000]
      arbiter: [10000]
    work_mode: 0
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError

__all__ = ["JobConfig", "Parties", "load_job_config", "merge_dict"]


def merge_dict(dict1: Mapping[str, Any], dict2: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two dicts recursively; on a key both hold, ``dict2``'s value wins (dicts merge)."""
    out: dict[str, Any] = dict(dict1)
    for key, value in dict2.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_dict(out[key], value)
        else:
            out[key] = value
    return out


def _ids(value: Any, role: str) -> list[int] | None:
    if value is None:
        return None
    ids = value if isinstance(value, list) else [value]
    for pid in ids:
        if isinstance(pid, bool) or not isinstance(pid, int | str):
            raise ConfigError(f"parties.{role} must list party ids. Got {pid!r}.", field=f"parties.{role}")
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in ids]


class Parties:
    """``guest``, ``host``, ``arbiter``: lists of party ids (``None`` for a role not given)."""

    def __init__(self, parties: Mapping[str, Any]) -> None:
        self.guest = _ids(parties.get("guest"), "guest")
        self.host = _ids(parties.get("host"), "host")
        self.arbiter = _ids(parties.get("arbiter"), "arbiter")


class JobConfig:
    """What a FATE example reads from its config file."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.parties = Parties(config.get("parties") or {})
        self.backend = config.get("backend", 0)
        self.work_mode = config.get("work_mode", 0)
        self.data_base = config.get("data_base", config.get("data_base_dir", 0))

    @staticmethod
    def load(path: str | Path) -> JobConfig:
        return JobConfig(JobConfig.load_from_file(path))

    @staticmethod
    def load_from_file(path: str | Path) -> dict[str, Any]:
        """The file's content (``.yaml`` / ``.yml`` or ``.json``).

        Raises
        ------
        ConfigError
            Missing or unreadable file, another suffix, or not a mapping.
        """
        p = Path(path).expanduser()
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read the job config {p}: {exc.strerror or exc}", field="config"
            ) from None
        if p.suffix in (".yaml", ".yml"):
            import yaml

            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"job config {p} is not valid YAML: {exc}", field="config") from None
        elif p.suffix == ".json":
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"job config {p} is not valid JSON: {exc}", field="config") from None
        else:
            raise ConfigError(f"cannot load a job config from a {p.suffix or 'suffix-less'} file ({p}); "
                              "use .yaml or .json.", field="config")  # fmt: skip
        if not isinstance(doc, Mapping):
            raise ConfigError(f"job config {p} must be a mapping with 'parties'.", field="config")
        return dict(doc)


def load_job_config(path: str | Path) -> JobConfig:
    """Load FATE's example config (``parties``, ``work_mode``, ``backend``)."""
    return JobConfig.load(path)
