"""Where the server keeps its things, and its settings.

The server home (``$FEDLOOM_SERVER_HOME`` or ``~/.fedloom/server``)::

    server.json     settings written at first start (host, port, db_url, party_ids, routes,
                    server_id, compute); command-line options override them for one run
    token           the API token, mode 0600 (see :mod:`fedloom.server.auth`)
    endpoint.json   {"url", "pid"} of the running server (written once it listens)
    store.db        the job store when ``db_url`` is not set (SQLite)
    jobs/{job_id}/  each job's folder (the runner's layout, :mod:`fedloom.runner.local`)
    data/           the server's table store (:class:`fedloom.data.TableStore`)

``server_id`` is a random id made at first start: every job row carries the id of the server that
owns it, and a server reads only its own jobs, so servers that share one PostgreSQL database never
see, stop or rerun each other's jobs.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fedloom.compute.select import check_compute
from fedloom.core.errors import ConfigError

__all__ = ["DEFAULT_PORT", "SERVER_HOME_ENV", "ServerSettings", "default_server_home"]

SERVER_HOME_ENV = "FEDLOOM_SERVER_HOME"
DEFAULT_PORT = 9380


def default_server_home() -> Path:
    """``$FEDLOOM_SERVER_HOME`` when set, else ``~/.fedloom/server``."""
    env = os.environ.get(SERVER_HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "server"


@dataclass
class ServerSettings:
    """One server's settings.

    Attributes
    ----------
    home
        The server home (see module docs).
    host, port
        Where the REST API listens (127.0.0.1 by default: nothing outside this machine).
    db_url
        SQLAlchemy URL of the job store; empty: SQLite ``{home}/store.db``.
    party_ids
        Party ids this server runs (multi-site mode); empty: every party (standalone).
    routes
        Path of the route table (multi-site mode), or empty.
    server_id
        This server's id (see module docs).
    compute
        The compute backend of every party process this server runs, unless a job's own
        ``job_parameters`` ``compute`` says otherwise: ``{"backend": "ray", "address": ...}``
        (:mod:`fedloom.compute.select`); ``None``: the server's ``FEDLOOM_COMPUTE`` environment,
        else a local process pool.
    """

    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    db_url: str = ""
    party_ids: list[str] = field(default_factory=list)
    routes: str = ""
    server_id: str = ""
    compute: dict[str, Any] | None = None

    @property
    def jobs_dir(self) -> Path:
        """``{home}/jobs``."""
        return self.home / "jobs"

    @property
    def data_dir(self) -> Path:
        """``{home}/data``: the server's table store."""
        return self.home / "data"

    @property
    def token_path(self) -> Path:
        """``{home}/token``."""
        return self.home / "token"

    @property
    def database_url(self) -> str:
        """``db_url``, or the SQLite file ``{home}/store.db``."""
        return self.db_url or f"sqlite:///{self.home / 'store.db'}"

    @classmethod
    def load(cls, home: str | Path | None = None, **overrides: Any) -> ServerSettings:
        """The settings of ``home`` (made on first use), with ``overrides`` (``None`` values
        ignored) applied for this run; a new home gets ``server.json`` with a fresh server id.

        Raises
        ------
        ConfigError
            ``server.json`` is not a JSON object.
        """
        root = Path(home).expanduser() if home is not None else default_server_home()
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)  # the token, tables and job outputs are private to this user
        path = root / "server.json"
        saved: dict[str, Any] = {}
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise ConfigError(f"{path} is not valid JSON: {e}", field="server.json") from e
            if not isinstance(saved, dict):
                raise ConfigError(f"{path} must hold a JSON object", field="server.json")
        known = {"host", "port", "db_url", "party_ids", "routes", "server_id", "compute"}
        values = {k: v for k, v in saved.items() if k in known}
        if not values.get("server_id"):
            values["server_id"] = secrets.token_hex(8)
            saved["server_id"] = values["server_id"]
            path.write_text(json.dumps(saved | {"server_id": values["server_id"]}, indent=1))
        values.update({k: v for k, v in overrides.items() if v is not None and k in known})
        settings = cls(home=root, **values)
        settings.party_ids = [str(p) for p in settings.party_ids]
        settings.port = int(settings.port)
        if settings.compute is not None:
            settings.compute = check_compute(settings.compute, "server.json compute")
        return settings

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the home as text)."""
        out = asdict(self)
        out["home"] = str(self.home)
        return out
