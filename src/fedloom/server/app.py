"""The REST API: FATE-Flow v1's endpoints over the job store, scheduler and table store.

``create_app(settings)`` builds the FastAPI app (OpenAPI pages at ``/docs``). Every ``/v1/...``
request needs ``Authorization: Bearer <token>`` (:mod:`fedloom.server.auth`), else HTTP 401.
Every answer is FATE-Flow's shape ``{"retcode", "retmsg", "data"}`` (submit adds ``jobId``);
``retcode`` is 0 on success, else:

===  ==========================================================================================
100  bad request: invalid body, job, name or parameter (the message names the field)
101  not found: no such job *of this server*, table, task or output
102  wrong state: stop/rerun of a job that cannot be stopped/rerun now
401  no or wrong token (HTTP 401 too)
500  the server failed (logged with its traceback)
===  ==========================================================================================

Times are FATE-Flow's: milliseconds since the epoch (``elapsed`` in milliseconds). Request
bodies are validated with pydantic (job ids, table names, namespaces, roles, party ids and
component names are restricted to safe characters, so no request names a path outside the
server home; job ids must also be this server's jobs).
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from fedloom.core.errors import ConfigError, FedloomError, ServerError
from fedloom.server.auth import check_token, ensure_token
from fedloom.server.scheduler import Scheduler
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JobRow, JobStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)

JOB_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
COMPONENT = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$"
#: Bytes of each party's log returned by /v1/job/log (its tail).
LOG_TAIL = 1_000_000


# ---------------------------------------------------------------------- request bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SubmitBody(_Body):
    job_runtime_conf: dict[str, Any]
    job_dsl: dict[str, Any]


class JobBody(_Body):
    job_id: str = Field(pattern=JOB_ID)


class ListBody(_Body):
    limit: int = Field(10, ge=1, le=10000)
    status: Literal["waiting", "running", "success", "failed", "canceled"] | None = None


class DslBody(JobBody):
    cpn_list: list[str] | str | None = None


class TableBody(_Body):
    table_name: str = Field(pattern=NAME, alias="name")
    namespace: str = Field(pattern=NAME)


class TaskBody(JobBody):
    role: Literal["guest", "host", "arbiter"]
    party_id: str = Field(pattern=r"^[0-9]{1,18}$")
    component_name: str = Field(pattern=COMPONENT)


class OutputDataBody(TaskBody):
    limit: int = Field(100, ge=0, le=100000)


class ModelBody(_Body):
    model_id: str = ""
    model_version: str = Field(pattern=JOB_ID)
    cpn_list: list[str] | str | None = None


def _ok(data: Any = None, **extra: Any) -> dict[str, Any]:
    return {"retcode": 0, "retmsg": "success", "data": data, **extra}


def _safe_name(value: str, what: str) -> str:
    if not re.match(NAME, value) or ".." in value:
        raise ConfigError(
            f"{what} must be 1-128 letters, digits, '_', '.' or '-'. Got {value!r}.", field=what
        )
    return value


def _cpn_list(value: list[str] | str | None) -> list[str] | None:
    if value is None or value == "":
        return None
    items = [c.strip() for c in value.split(",")] if isinstance(value, str) else list(value)
    for c in items:
        if not re.match(COMPONENT, c):
            raise ConfigError(f"component name {c!r} is not valid.", field="cpn_list")
    return items


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


class Api:
    """The handlers, over one server's store, scheduler and table store."""

    def __init__(self, settings: ServerSettings, store: JobStore, scheduler: Scheduler) -> None:
        self.settings = settings
        self.store = store
        self.scheduler = scheduler

    # -------------------------------------------------------------- helpers
    def job(self, job_id: str) -> JobRow:
        row = self.store.get_job(job_id, self.settings.server_id)
        if row is None:
            raise ServerError(101, f"no job {job_id!r} on this server")
        return row

    def job_dict(self, row: JobRow, full: bool = True) -> dict[str, Any]:
        end = row.end_time if row.end_time is not None else (time.time() if row.start_time else None)
        out: dict[str, Any] = {
            "job_id": row.job_id,
            "status": row.status,
            "progress": round(100 * (row.progress or 0.0), 1),
            "create_time": _ms(row.create_time),
            "start_time": _ms(row.start_time),
            "end_time": _ms(row.end_time),
            "elapsed": None if row.start_time is None or end is None else int((end - row.start_time) * 1000),
            "initiator": row.initiator,
            "roles": row.roles,
            "error": row.error,
            "reruns": row.reruns,
            "model_info": {"model_id": row.model_id, "model_version": row.model_version},
            "job_dir": row.job_dir,
        }
        if full:
            out["conf"], out["dsl"] = row.conf, row.dsl
            out["tasks"] = [
                {
                    "component": t.component,
                    "module": t.module,
                    "role": t.role,
                    "party_id": t.party_id,
                    "status": t.status,
                    "start_time": _ms(t.start_time),
                    "end_time": _ms(t.end_time),
                    "error": t.error,
                }
                for t in self.store.tasks(row.job_id)
            ]
        return out

    def task_dir(self, body: TaskBody) -> Path:
        row = self.job(body.job_id)
        if body.component_name not in (row.dsl.get("components") or {}):
            raise ServerError(101, f"job {row.job_id} has no component {body.component_name!r}")
        if str(body.party_id) not in [str(p) for p in (row.roles.get(body.role) or [])]:
            raise ServerError(101, f"job {row.job_id} has no party {body.role}:{body.party_id}")
        return Path(row.job_dir) / "outputs" / body.component_name / f"{body.role}-{body.party_id}"

    @staticmethod
    def read_json_file(path: Path, what: str) -> Any:
        if not path.is_file():
            raise ServerError(101, f"no {what} at {path.parent.name}/{path.name} (did the task finish?)")
        return json.loads(path.read_text(encoding="utf-8"))

    def table_store(self) -> Any:
        from fedloom.data import TableStore

        return TableStore(self.settings.data_dir)


def create_app(settings: ServerSettings) -> FastAPI:
    """The server's FastAPI app: store opened, token made if missing, crashed jobs settled."""
    token = ensure_token(settings.token_path)
    store = JobStore(settings.database_url)
    scheduler = Scheduler(settings, store)
    api = Api(settings, store, scheduler)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        scheduler.shutdown()

    app = FastAPI(
        title="fedloom job server",
        version="1",
        lifespan=lifespan,
        description="FATE-Flow v1 compatible job server of fedloom.",
    )
    app.state.settings, app.state.store, app.state.scheduler = settings, store, scheduler
    scheduler.start()

    @app.middleware("http")
    async def require_token(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/v1/") and not check_token(
            token, request.headers.get("authorization")
        ):
            return JSONResponse(
                {"retcode": 401, "retmsg": "unauthorized: missing or wrong API token", "data": None},
                status_code=401,
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        first = errs[0] if errs else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse(
            {"retcode": 100, "retmsg": f"field '{where}': {first.get('msg', 'invalid')}", "data": None}
        )

    @app.exception_handler(ServerError)
    async def on_server_error(_r: Request, exc: ServerError) -> JSONResponse:
        return JSONResponse({"retcode": exc.retcode, "retmsg": exc.retmsg, "data": None})

    @app.exception_handler(FedloomError)
    async def on_fedloom_error(_r: Request, exc: FedloomError) -> JSONResponse:
        return JSONResponse({"retcode": 100, "retmsg": f"{type(exc).__name__}: {exc}", "data": None})

    @app.exception_handler(Exception)
    async def on_error(_r: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse({"retcode": 500, "retmsg": f"{type(exc).__name__}: {exc}", "data": None})

    from fedloom.server.board import make_board_router

    app.include_router(make_board_router(settings, store, token))  # the web pages (/board)
    _job_routes(app, api)
    _data_routes(app, api)
    _model_routes(app, api)
    _tracking_routes(app, api)
    return app


def _job_routes(app: FastAPI, api: Api) -> None:
    @app.post("/v1/job/submit")
    def job_submit(body: SubmitBody) -> dict[str, Any]:
        """Validate and start a job; ``data``: job id, model info and job folder."""
        row = api.scheduler.submit(body.job_runtime_conf, body.job_dsl)
        info = {"model_id": row.model_id, "model_version": row.model_version}
        return _ok({"job_id": row.job_id, "model_info": info, "job_dir": row.job_dir}, jobId=row.job_id)

    @app.post("/v1/job/query")
    def job_query(body: JobBody) -> dict[str, Any]:
        """The job with its tasks (component × party)."""
        return _ok([api.job_dict(api.job(body.job_id))])

    @app.post("/v1/job/list/job")
    def job_list(body: ListBody) -> dict[str, Any]:
        """The newest jobs of this server, newest first (without conf, dsl and tasks)."""
        rows = api.store.list_jobs(api.settings.server_id, body.limit, body.status)
        return _ok([api.job_dict(r, full=False) for r in rows])

    @app.post("/v1/job/stop")
    def job_stop(body: JobBody) -> dict[str, Any]:
        """Kill a waiting/running job's processes; it becomes ``canceled``."""
        row = api.job(body.job_id)
        if not api.scheduler.stop(row.job_id):
            raise ServerError(102, f"job {row.job_id} is {api.job(row.job_id).status}; nothing to stop")
        return _ok({"job_id": row.job_id, "status": "canceled"}, jobId=row.job_id)

    @app.post("/v1/job/rerun")
    def job_rerun(body: JobBody) -> dict[str, Any]:
        """Continue a failed/canceled job from its first unfinished component (same id)."""
        row = api.job(body.job_id)
        if row.status not in ("failed", "canceled"):
            raise ServerError(102, f"job {row.job_id} is {row.status}: only a failed or canceled job reruns")
        api.scheduler.rerun(row.job_id)
        return _ok({"job_id": row.job_id, "status": "running"}, jobId=row.job_id)

    @app.post("/v1/job/log")
    def job_log(body: JobBody) -> dict[str, Any]:
        """Every party's log (its last megabyte), keyed ``role-party_id``."""
        api.job(body.job_id)
        logs: dict[str, str] = {}
        for p in api.store.parties(body.job_id):
            path = Path(p.log_path)
            text = ""
            if path.is_file():
                with path.open("rb") as fh:
                    size = path.stat().st_size
                    fh.seek(max(0, size - LOG_TAIL))
                    text = fh.read().decode("utf-8", errors="replace")
            logs[f"{p.role}-{p.party_id}"] = text
        return _ok(logs)

    @app.post("/v1/job/config")
    def job_config(body: JobBody) -> dict[str, Any]:
        """The job's conf and dsl as submitted, and its model info."""
        row = api.job(body.job_id)
        info = {"model_id": row.model_id, "model_version": row.model_version}
        return _ok({"job_id": row.job_id, "conf": row.conf, "dsl": row.dsl, "model_info": info})

    @app.post("/v1/job/dsl/generate")
    def job_dsl(body: DslBody) -> dict[str, Any]:
        """The predict DSL of a trained job (only ``cpn_list`` deployed, when given)."""
        from fedloom.dsl.predict import derive_predict_dsl

        row = api.job(body.job_id)
        return _ok(derive_predict_dsl(row.dsl, _cpn_list(body.cpn_list)))


def _data_routes(app: FastAPI, api: Api) -> None:
    @app.post("/v1/data/upload")
    async def data_upload(request: Request) -> dict[str, Any]:
        """Store a table: a JSON upload conf whose ``file`` the server reads (an absolute path on
        the server's machine), or multipart ``conf`` (JSON text) + ``file`` (the file's bytes)."""
        ctype = request.headers.get("content-type", "")
        store = api.table_store()
        if ctype.startswith("multipart/"):
            form = await request.form()
            try:
                conf = json.loads(str(form.get("conf") or "{}"))
            except ValueError as e:
                raise ConfigError(f"conf is not JSON: {e}", field="conf") from e
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ConfigError("multipart upload needs a 'file' part", field="file")
            with tempfile.TemporaryDirectory(dir=api.settings.home) as tmp:
                dest = Path(tmp) / "upload.csv"
                with dest.open("wb") as fh:
                    shutil.copyfileobj(upload.file, fh)
                conf = {**conf, "file": str(dest)}
                info = store.upload(conf, drop=bool(conf.get("drop")) or None)
        else:
            try:
                conf = await request.json()
            except ValueError as e:
                raise ConfigError(f"the body is not JSON: {e}", field="body") from e
            if not isinstance(conf, dict):
                raise ConfigError("the upload conf must be a JSON object", field="body")
            file = conf.get("file")
            if not isinstance(file, str) or not Path(file).is_absolute():
                raise ConfigError(
                    "'file' must be an absolute path on the server's machine (or stream "
                    "the file: multipart upload)",
                    field="file",
                )
            info = store.upload(conf, drop=bool(conf.get("drop")) or None)
        d = info.to_dict()
        return _ok({"table_name": info.name, "namespace": info.namespace, "count": info.rows, **d})

    @app.post("/v1/data/download")
    def data_download(body: TableBody) -> Response:
        """The table as CSV (id column first)."""
        store = api.table_store()
        if not store.exists(body.table_name, body.namespace):
            raise ServerError(101, f"no table {body.namespace}.{body.table_name}")
        df = store.load(body.table_name, body.namespace)
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv")

    @app.post("/v1/table/table_info")
    def table_info(body: TableBody) -> dict[str, Any]:
        """A table's catalog entry."""
        store = api.table_store()
        if not store.exists(body.table_name, body.namespace):
            raise ServerError(101, f"no table {body.namespace}.{body.table_name}")
        info = store.info(body.table_name, body.namespace)
        return _ok(
            {"table_name": info.name, "namespace": info.namespace, "count": info.rows, **info.to_dict()}
        )

    @app.post("/v1/table/list")
    def table_list() -> dict[str, Any]:
        """Every table of the server's store."""
        return _ok([t.to_dict() for t in api.table_store().list()])

    @app.post("/v1/table/delete")
    def table_delete(body: TableBody) -> dict[str, Any]:
        """Delete a table."""
        store = api.table_store()
        if not store.exists(body.table_name, body.namespace):
            raise ServerError(101, f"no table {body.namespace}.{body.table_name}")
        info = store.delete(body.table_name, body.namespace)
        return _ok({"table_name": info.name, "namespace": info.namespace, "count": info.rows})


def _model_routes(app: FastAPI, api: Api) -> None:
    """Register the model routes, one group per step: deploy, export, import."""
    _model_deploy_route(app, api)
    _model_export_route(app, api)
    _model_import_route(app, api)


def _trained_job(api: Api, body: ModelBody) -> JobRow:
    """The successful job named by ``body``: only such a job has a model to deploy or export."""
    row = api.job(body.model_version)
    if row.status != "success":
        raise ServerError(102, f"job {row.job_id} is {row.status}: only a successful job has a model")
    if body.model_id and body.model_id != row.model_id:
        raise ServerError(100, f"model_id {body.model_id!r} is not job {row.job_id}'s ({row.model_id!r})")
    return row


def _model_deploy_route(app: FastAPI, api: Api) -> None:
    """``/v1/model/deploy``: derive the predict DSL and conf of a trained job."""

    @app.post("/v1/model/deploy")
    def model_deploy(body: ModelBody) -> dict[str, Any]:
        """Deploy components of a trained job: ``data`` has the predict DSL and conf template."""
        from fedloom.dsl.predict import derive_predict_conf, derive_predict_dsl

        row = _trained_job(api, body)
        dsl = derive_predict_dsl(row.dsl, _cpn_list(body.cpn_list))
        conf = derive_predict_conf(row.conf, dsl, row.model_id, row.model_version)
        api.store.set_job(row.job_id, deployed=list(dsl.get("components", {})))
        return _ok(
            {
                "model_id": row.model_id,
                "model_version": row.model_version,
                "predict_dsl": dsl,
                "predict_conf": conf,
            }
        )


def _model_export_route(app: FastAPI, api: Api) -> None:
    """``/v1/model/export``: zip a trained job so another server can import it."""

    @app.post("/v1/model/export")
    def model_export(body: ModelBody) -> Response:
        """A zip of the trained job: conf, dsl, job.json and every party's model and metrics files."""
        row = _trained_job(api, body)
        jdir = Path(row.job_dir)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in ("conf.json", "dsl.json", "job.json"):
                if (jdir / name).is_file():
                    zf.write(jdir / name, name)
            for path in sorted((jdir / "outputs").rglob("*")):
                if path.is_file() and path.suffix != ".parquet" and not path.name.startswith("."):
                    zf.write(path, path.relative_to(jdir).as_posix())
            zf.writestr(
                "model_info.json", json.dumps({"model_id": row.model_id, "model_version": row.model_version})
            )
        return Response(buf.getvalue(), media_type="application/zip")


def _add_imported_job(api: Api, version: str, model_id: str, jdir: Path, conf: Any, dsl: Any) -> None:
    """Record an imported model's extracted folder as a successful job (its model_version is the id)."""
    job = api.scheduler.validate_shape(conf, dsl)
    now = time.time()
    api.store.add_job(
        JobRow(
            job_id=version,
            server_id=api.settings.server_id,
            status="success",
            progress=1.0,
            conf=conf,
            dsl=dsl,
            initiator=dict(conf.get("initiator") or {}),
            roles={k: list(v) for k, v in job.conf.role.items()},
            job_dir=str(jdir),
            model_id=model_id,
            model_version=version,
            create_time=now,
            start_time=now,
            end_time=now,
            reruns=0,
        ),
        [],
        [],
    )


def _model_import_route(app: FastAPI, api: Api) -> None:
    """``/v1/model/import``: unpack a zip from ``/v1/model/export`` into a new job."""

    @app.post("/v1/model/import")
    async def model_import(request: Request) -> dict[str, Any]:
        """Import a zip from /v1/model/export as a successful job (its model_version is the id)."""
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ConfigError("model import needs a 'file' part (the zip)", field="file")
        data = await upload.read()
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            info = json.loads(zf.read("model_info.json"))
            conf, dsl = json.loads(zf.read("conf.json")), json.loads(zf.read("dsl.json"))
        except (zipfile.BadZipFile, KeyError, ValueError) as e:
            raise ConfigError(f"not a model export: {e}", field="file") from e
        version = str(info.get("model_version", ""))
        if not re.match(JOB_ID, version):
            raise ConfigError(f"bad model_version {version!r} in the zip", field="model_version")
        if api.store.get_job(version, api.settings.server_id) is not None:
            raise ServerError(102, f"job {version} already exists on this server")
        jdir = api.settings.jobs_dir / version
        for member in zf.namelist():
            parts = Path(member).parts
            if member.startswith("/") or ".." in parts or not parts:
                raise ConfigError(f"unsafe path {member!r} in the zip", field="file")
        jdir.mkdir(parents=True, exist_ok=False)
        zf.extractall(jdir)
        _add_imported_job(api, version, str(info.get("model_id", "")), jdir, conf, dsl)
        return _ok({"model_id": info.get("model_id"), "model_version": version, "job_dir": str(jdir)})


def _tracking_routes(app: FastAPI, api: Api) -> None:
    @app.post("/v1/tracking/component/metric/all")
    def tracking_metrics(body: TaskBody) -> dict[str, Any]:
        """The task's metrics (``metrics.json``)."""
        return _ok(api.read_json_file(api.task_dir(body) / "metrics.json", "metrics"))

    @app.post("/v1/tracking/component/output/data")
    def tracking_output_data(body: OutputDataBody) -> dict[str, Any]:
        """The first ``limit`` rows of the task's output data."""
        import pyarrow.parquet as pq

        out = api.task_dir(body)
        files = sorted(out.glob("*.parquet"))
        if not files:
            raise ServerError(101, f"{body.component_name} has no output data on {body.role}:{body.party_id}")
        table = pq.read_table(files[0])
        head = table.slice(0, body.limit).to_pandas()
        rows = json.loads(head.to_json(orient="values", double_precision=15))
        return _ok(
            {
                "header": [str(c) for c in head.columns],
                "rows": rows,
                "total": table.num_rows,
                "name": files[0].stem,
            }
        )

    @app.post("/v1/tracking/component/output/model")
    def tracking_output_model(body: TaskBody) -> dict[str, Any]:
        """The task's model (``model.json``)."""
        return _ok(api.read_json_file(api.task_dir(body) / "model.json", "model"))

    @app.post("/v1/tracking/component/summary/download")
    def tracking_summary(body: TaskBody) -> dict[str, Any]:
        """The task's summary: its metrics and its state in the store."""
        metrics = api.read_json_file(api.task_dir(body) / "metrics.json", "metrics")
        return _ok(metrics)
