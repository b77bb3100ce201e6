"""``FlowClient``: the Python client of the job server (what the CLI and the Pipeline call).

Every method posts one JSON request to a FATE-Flow v1 endpoint (``/v1/job/submit`` ...) with
``Authorization: Bearer <token>`` and returns the server's JSON answer
``{"retcode": int, "retmsg": str, "data": ..., ["jobId": ...]}``. A nonzero ``retcode`` (or an
HTTP error without such an answer) raises :class:`fedloom.core.errors.ServerError` with the
server's code and message, so callers only ever see successful answers.

The client config (``fedloom init``) is a JSON file ``{"url": ..., "token_file": ...}`` at
``$FEDLOOM_CLIENT_CONFIG`` or ``~/.fedloom/client.json``; :meth:`FlowClient.from_config` returns
``None`` when there is none, which means "act locally, no server".
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError, ServerError

__all__ = ["CLIENT_CONFIG_ENV", "FINAL_STATES", "FlowClient", "default_client_config_path"]

CLIENT_CONFIG_ENV = "FEDLOOM_CLIENT_CONFIG"
#: Job states after which a job never changes again (until a rerun).
FINAL_STATES = frozenset({"success", "failed", "canceled"})


def default_client_config_path() -> Path:
    """``$FEDLOOM_CLIENT_CONFIG`` when set, else ``~/.fedloom/client.json``."""
    env = os.environ.get(CLIENT_CONFIG_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "client.json"


class FlowClient:
    """Client of one fedloom job server.

    Parameters
    ----------
    url
        The server's base URL, e.g. ``http://127.0.0.1:9380``.
    token
        The server's API token (the ``token`` file in the server home).
    timeout
        Seconds per HTTP request (not per job: see :meth:`wait`).
    """

    def __init__(self, url: str, token: str, timeout: float = 60.0, *, http: Any = None) -> None:
        self.url = url.rstrip("/")
        self.token = token.strip()
        self.timeout = timeout
        # an httpx.Client (tests pass FastAPI's TestClient, which is one); made on first use
        self._http = http

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.Client(timeout=self.timeout)
        return self._http

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            self._http.close()

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> FlowClient | None:
        """The client that the config file describes, or ``None`` when there is no config file.

        Raises
        ------
        ConfigError
            When the file exists but is not valid JSON or lacks ``url``, or its token file is
            unreadable.
        """
        p = Path(path).expanduser() if path is not None else default_client_config_path()
        if not p.is_file():
            return None
        try:
            conf = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"client config {p} is not valid JSON: {e}", field="client_config") from e
        if not isinstance(conf, dict) or not isinstance(conf.get("url"), str):
            raise ConfigError(f"client config {p} must hold {{'url': ..., 'token_file': ...}}", field="url")
        token = conf.get("token")
        if not isinstance(token, str):
            token_file = conf.get("token_file")
            if not isinstance(token_file, str):
                raise ConfigError(f"client config {p} names no token_file", field="token_file")
            try:
                token = Path(token_file).expanduser().read_text().strip()
            except OSError as e:
                raise ConfigError(
                    f"cannot read the server token {token_file}: {e}", field="token_file"
                ) from e
        timeout = conf.get("timeout", 60.0)
        return cls(conf["url"], token, timeout=float(timeout))

    # ------------------------------------------------------------------ transport
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _check(self, resp: Any) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "retcode" not in body:
            if resp.status_code == 401:
                raise ServerError(401, "unauthorized: missing or wrong API token")
            raise ServerError(int(resp.status_code), f"HTTP {resp.status_code}: {resp.text[:300]}")
        if int(body["retcode"]) != 0:
            raise ServerError(int(body["retcode"]), str(body.get("retmsg", "")))
        return body

    def _post(self, endpoint: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        try:
            resp = self._client().post(f"{self.url}{endpoint}", json=payload or {}, headers=self._headers())
        except httpx.HTTPError as e:
            raise ServerError(503, f"cannot reach the server at {self.url}: {e}") from e
        return self._check(resp)

    def _post_stream(self, endpoint: str, payload: dict[str, Any], output_path: str | Path) -> dict[str, Any]:
        """POST and write a binary answer to ``output_path`` (a JSON answer means an error)."""
        import httpx

        out = Path(output_path).expanduser()
        try:
            with self._client().stream(
                "POST", f"{self.url}{endpoint}", json=payload, headers=self._headers()
            ) as resp:
                ctype = resp.headers.get("content-type", "")
                if resp.status_code != 200 or ctype.startswith("application/json"):
                    resp.read()
                    return self._check(resp)
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(out.name + ".part")
                with tmp.open("wb") as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
                tmp.replace(out)
        except httpx.HTTPError as e:
            raise ServerError(503, f"cannot reach the server at {self.url}: {e}") from e
        return {"retcode": 0, "retmsg": "success", "data": {"path": str(out), "bytes": out.stat().st_size}}

    # ------------------------------------------------------------------ jobs
    def job_submit(self, conf: dict[str, Any], dsl: dict[str, Any]) -> dict[str, Any]:
        """Submit a job; ``data``: ``{"job_id", "model_info": {"model_id", "model_version"}, "job_dir"}``."""
        return self._post("/v1/job/submit", {"job_runtime_conf": conf, "job_dsl": dsl})

    def job_query(self, job_id: str) -> dict[str, Any]:
        """``data``: a one-element list with the job, its tasks (component × party) and error."""
        return self._post("/v1/job/query", {"job_id": job_id})

    def job_list(self, limit: int = 10, status: str | None = None) -> dict[str, Any]:
        """The newest ``limit`` jobs (optionally only those in ``status``), newest first."""
        return self._post("/v1/job/list/job", {"limit": limit, "status": status})

    def job_stop(self, job_id: str) -> dict[str, Any]:
        """Kill a waiting or running job's processes; its state becomes ``canceled``."""
        return self._post("/v1/job/stop", {"job_id": job_id})

    def job_rerun(self, job_id: str) -> dict[str, Any]:
        """Run a failed/canceled job again from its first unfinished component, same job id."""
        return self._post("/v1/job/rerun", {"job_id": job_id})

    def job_log(self, job_id: str) -> dict[str, Any]:
        """``data``: ``{"<role>-<party_id>": log text}`` for every party of the job."""
        return self._post("/v1/job/log", {"job_id": job_id})

    def job_config(self, job_id: str) -> dict[str, Any]:
        """``data``: ``{"conf", "dsl", "model_info"}`` as submitted."""
        return self._post("/v1/job/config", {"job_id": job_id})

    def job_dsl(self, job_id: str, cpn_list: list[str] | None = None) -> dict[str, Any]:
        """``data``: the predict DSL derived from the trained job's DSL (only ``cpn_list`` kept)."""
        return self._post("/v1/job/dsl/generate", {"job_id": job_id, "cpn_list": cpn_list})

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        poll: float = 1.0,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll :meth:`job_query` until the job is success/failed/canceled; return that job dict.

        ``on_poll`` gets the job dict after every poll (progress display). Raises
        :class:`ServerError` (retcode 408) when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.job_query(job_id)["data"][0]
            if on_poll is not None:
                on_poll(job)
            if job.get("status") in FINAL_STATES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise ServerError(408, f"job {job_id} still {job.get('status')} after {timeout:g} s")
            time.sleep(poll)

    # ------------------------------------------------------------------ data and tables
    def data_upload(
        self, conf: dict[str, Any], file: str | Path | None = None, drop: bool = False
    ) -> dict[str, Any]:
        """Upload a table with a FATE upload conf.

        Without ``file`` the server reads ``conf["file"]`` itself (standalone: same machine);
        with ``file`` the file's bytes are streamed to the server (multipart), which stores them.
        """
        import httpx

        body = dict(conf)
        if drop:
            body["drop"] = 1
        if file is None:
            return self._post("/v1/data/upload", body)
        path = Path(file).expanduser()
        try:
            with path.open("rb") as fh:
                resp = self._client().post(
                    f"{self.url}/v1/data/upload",
                    data={"conf": json.dumps(body)},
                    files={"file": (path.name, fh, "application/octet-stream")},
                    headers=self._headers(),
                )
        except OSError as e:
            raise ConfigError(f"cannot read {path}: {e}", field="file") from e
        except httpx.HTTPError as e:
            raise ServerError(503, f"cannot reach the server at {self.url}: {e}") from e
        return self._check(resp)

    def data_download(self, name: str, namespace: str, output_path: str | Path) -> dict[str, Any]:
        """Write the table as CSV to ``output_path``; ``data``: ``{"path", "bytes"}``."""
        return self._post_stream(
            "/v1/data/download", {"table_name": name, "namespace": namespace}, output_path
        )

    def table_info(self, name: str, namespace: str) -> dict[str, Any]:
        """The table's catalog entry (count, schema, partitions ...)."""
        return self._post("/v1/table/table_info", {"table_name": name, "namespace": namespace})

    def table_list(self) -> dict[str, Any]:
        """Every table of the server's store."""
        return self._post("/v1/table/list", {})

    def table_delete(self, name: str, namespace: str) -> dict[str, Any]:
        """Delete a table from the server's store."""
        return self._post("/v1/table/delete", {"table_name": name, "namespace": namespace})

    # ------------------------------------------------------------------ models
    def model_deploy(
        self, model_id: str, model_version: str, cpn_list: list[str] | None = None
    ) -> dict[str, Any]:
        """Mark a trained job's model deployable; ``data``: the predict DSL and model info."""
        return self._post(
            "/v1/model/deploy", {"model_id": model_id, "model_version": model_version, "cpn_list": cpn_list}
        )

    def model_export(self, model_id: str, model_version: str, output_path: str | Path) -> dict[str, Any]:
        """Write a zip of every party's model artifacts of the job ``model_version``."""
        return self._post_stream(
            "/v1/model/export", {"model_id": model_id, "model_version": model_version}, output_path
        )

    def model_import(self, path: str | Path) -> dict[str, Any]:
        """Import a zip written by :meth:`model_export` (a job usable as ``model_version``)."""
        import httpx

        p = Path(path).expanduser()
        try:
            with p.open("rb") as fh:
                resp = self._client().post(
                    f"{self.url}/v1/model/import",
                    files={"file": (p.name, fh, "application/zip")},
                    headers=self._headers(),
                )
        except OSError as e:
            raise ConfigError(f"cannot read {p}: {e}", field="path") from e
        except httpx.HTTPError as e:
            raise ServerError(503, f"cannot reach the server at {self.url}: {e}") from e
        return self._check(resp)

    # ------------------------------------------------------------------ tracking
    @staticmethod
    def _task(job_id: str, role: str, party_id: int | str, component: str) -> dict[str, Any]:
        return {"job_id": job_id, "role": role, "party_id": str(party_id), "component_name": component}

    def tracking_metrics(self, job_id: str, role: str, party_id: int | str, component: str) -> dict[str, Any]:
        """``data``: the component's metrics (``metrics.json`` of that party)."""
        return self._post("/v1/tracking/component/metric/all", self._task(job_id, role, party_id, component))

    def tracking_output_data(
        self, job_id: str, role: str, party_id: int | str, component: str, limit: int = 100
    ) -> dict[str, Any]:
        """``data``: ``{"header": [...], "rows": [[...]], "total": n}`` (first ``limit`` rows)."""
        body = self._task(job_id, role, party_id, component) | {"limit": limit}
        return self._post("/v1/tracking/component/output/data", body)

    def tracking_output_model(
        self, job_id: str, role: str, party_id: int | str, component: str
    ) -> dict[str, Any]:
        """``data``: the component's model (``model.json`` of that party)."""
        return self._post(
            "/v1/tracking/component/output/model", self._task(job_id, role, party_id, component)
        )

    def tracking_summary(self, job_id: str, role: str, party_id: int | str, component: str) -> dict[str, Any]:
        """``data``: the component's summary (its metrics' summary section, FATE's summary)."""
        return self._post(
            "/v1/tracking/component/summary/download", self._task(job_id, role, party_id, component)
        )
