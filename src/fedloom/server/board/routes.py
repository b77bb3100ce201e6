"""The board's routes: HTML page shells under ``/board``, their JSON under ``/board/api``.

**Login.** The board takes the server's API token (:mod:`fedloom.server.auth`) once, from
``/board/login?token=T`` (the link ``fedloom server start`` prints) or the login form, and keeps
a session cookie instead: ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (no other site's
form or script request carries it), path ``/board``. The cookie holds
``HMAC-SHA256(token, "fedloom-board-session")``, never the token itself, so a leaked cookie does
not give the REST API; changing the token ends every session. A request is let in with that
cookie or with ``Authorization: Bearer <token>``; without either every page redirects to the
login page and every ``/board/api/*`` answers 401.

**Pages.** Each page is a static shell rendered here (names and ids only, escaped) that draws
itself from the JSON in the browser (``static/board.js``), so the first paint never waits for
the job folder to be read. Charts use the vendored uPlot (``static/vendor/uplot``, MIT), served
from the wheel: nothing is fetched from the internet.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from fedloom.server.auth import check_token
from fedloom.server.board import views
from fedloom.server.settings import ServerSettings
from fedloom.server.store import JOB_STATES, JobRow, JobStore

__all__ = ["COOKIE", "make_board_router", "session_value"]

COOKIE = "fedloom_board"
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}$")
PARTY = re.compile(r"^(guest|host|arbiter)-[0-9]{1,18}$")
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain", "": "text/plain"}


def session_value(token: str) -> str:
    """The cookie's value for ``token`` (see module docs)."""
    return hmac.new(token.encode(), b"fedloom-board-session", hashlib.sha256).hexdigest()


def _template(name: str, **values: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text


class _BoardAccess:
    """One server's login check and job lookup, shared by every route group below."""

    def __init__(self, settings: ServerSettings, store: JobStore, token: str) -> None:
        self.settings, self.store, self.token = settings, store, token
        self.expected = session_value(token)

    def authed(self, request: Request) -> bool:
        """Whether the request has the session cookie or the API token."""
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.expected.encode()):
            return True
        return check_token(self.token, request.headers.get("authorization"))

    def page_guard(self, request: Request) -> Response | None:
        """A redirect to the login page for a page request that is not logged in, else ``None``."""
        return None if self.authed(request) else RedirectResponse("/board/login", status_code=303)

    def api_guard(self, request: Request) -> None:
        """Refuse (401) a JSON request that is not logged in."""
        if not self.authed(request):
            raise HTTPException(401, "unauthorized: log in at /board/login or send the API token")

    def job_row(self, job_id: str) -> JobRow:
        """The job's row on this server, or 404."""
        if not JOB_ID.match(job_id):
            raise HTTPException(404, f"no job {job_id!r}")
        row = self.store.get_job(job_id, self.settings.server_id)
        if row is None:
            raise HTTPException(404, f"no job {job_id!r} on this server")
        return row

    def login_response(self, request: Request, given: str) -> Response:
        """The session cookie and a redirect to the jobs for the right token, else the login form."""
        if given and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            resp = RedirectResponse("/board/jobs", status_code=303)
            resp.set_cookie(
                COOKIE,
                self.expected,
                httponly=True,
                samesite="lax",
                path="/board",
                secure=request.url.scheme == "https",
            )
            return resp
        error = "That token is not this server's token." if given else ""
        body = _template("login.html", error=error)
        return HTMLResponse(body, status_code=401 if given else 200)


def make_board_router(settings: ServerSettings, store: JobStore, token: str) -> APIRouter:
    """The board's router for one server (its store and token)."""
    router = APIRouter(prefix="/board", include_in_schema=False)
    access = _BoardAccess(settings, store, token)
    _login_routes(router, access)
    _static_routes(router)
    _page_routes(router, access)
    _api_routes(router, access)
    return router


def _login_routes(router: APIRouter, access: _BoardAccess) -> None:
    """Login and logout: the only pages open without a session."""
    login_response = access.login_response

    @router.get("/login")
    def login_page(request: Request, token: str = "") -> Response:
        """The login form, or (``?token=T``) the session cookie and a redirect to the jobs."""
        return login_response(request, token)

    @router.post("/login")
    def login_form(request: Request, token: str = Form("")) -> Response:
        """The login form's answer."""
        return login_response(request, token)

    @router.get("/logout")
    def logout() -> Response:
        resp = RedirectResponse("/board/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/board")
        return resp


def _static_routes(router: APIRouter) -> None:
    """The board's static files: scripts, styles, vendored uPlot."""

    @router.get("/static/{path:path}")
    def static(path: str) -> Response:
        """The board's scripts, styles and the vendored uPlot (no login needed: nothing secret)."""
        target = (STATIC / path).resolve()
        if not target.is_file() or STATIC not in target.parents:
            raise HTTPException(404, "no such file")
        media = _CONTENT_TYPES.get(target.suffix, "application/octet-stream")
        return FileResponse(target, media_type=media, headers={"Cache-Control": "max-age=300"})


def _page_routes(router: APIRouter, access: _BoardAccess) -> None:
    """The HTML page shells, each behind the login redirect."""
    page_guard, job_row = access.page_guard, access.job_row

    @router.get("")
    @router.get("/")
    def index(request: Request) -> Response:
        return page_guard(request) or RedirectResponse("/board/jobs", status_code=303)

    @router.get("/jobs")
    def jobs_page(request: Request) -> Response:
        """The jobs list (rows drawn from ``/board/api/jobs``)."""
        return page_guard(request) or HTMLResponse(_template("jobs.html"))

    @router.get("/jobs/{job_id}")
    def job_page(request: Request, job_id: str) -> Response:
        """One job: failure, DAG, tasks, privacy (drawn from ``/board/api/jobs/<id>``)."""
        guard = page_guard(request)
        if guard:
            return guard
        job_row(job_id)
        return HTMLResponse(_template("job.html", job_id=job_id))

    @router.get("/jobs/{job_id}/components/{component}")
    def component_page(request: Request, job_id: str, component: str, party: str = "") -> Response:
        """One component on one party: parameters, metrics, charts, output rows, model."""
        guard = page_guard(request)
        if guard:
            return guard
        row = job_row(job_id)
        if not COMPONENT.match(component) or component not in (row.dsl.get("components") or {}):
            raise HTTPException(404, f"job {job_id} has no component {component!r}")
        if party and not PARTY.match(party):
            raise HTTPException(404, f"no party {party!r}")
        return HTMLResponse(_template("component.html", job_id=job_id, component=component, party=party))

    @router.get("/jobs/{job_id}/logs")
    def logs_page(request: Request, job_id: str) -> Response:
        """Every party's log, interleaved by time; a failed job opens on the failing party's error."""
        guard = page_guard(request)
        if guard:
            return guard
        job_row(job_id)
        return HTMLResponse(_template("logs.html", job_id=job_id))


def _api_routes(router: APIRouter, access: _BoardAccess) -> None:
    """The JSON the pages draw from, each behind the 401 guard."""
    api_guard, job_row = access.api_guard, access.job_row
    settings, store = access.settings, access.store

    @router.get("/api/jobs")
    def api_jobs(
        request: Request,
        limit: int = Query(200, ge=1, le=10000),
        state: str = "",
        q: str = "",
    ) -> dict[str, Any]:
        """Newest jobs first: ``{"jobs": [...]}`` (``state`` filters, ``q`` matches the id)."""
        api_guard(request)
        status = state if state in JOB_STATES else None
        rows = store.list_jobs(settings.server_id, limit, status)
        jobs = [views.job_summary(r) for r in rows]
        if q:
            needle = q.lower()
            jobs = [j for j in jobs if needle in j["job_id"].lower() or needle in j["initiator"].lower()]
        return {"jobs": jobs, "states": list(JOB_STATES)}

    @router.get("/api/jobs/{job_id}")
    def api_job(request: Request, job_id: str) -> dict[str, Any]:
        """The job page's JSON (see :func:`fedloom.server.board.views.job_detail`)."""
        api_guard(request)
        return views.job_detail(job_row(job_id), store)

    @router.get("/api/jobs/{job_id}/components/{component}")
    def api_component(request: Request, job_id: str, component: str, party: str = "") -> dict[str, Any]:
        """The component page's JSON for ``party`` (``role-id``; default its first party)."""
        api_guard(request)
        row = job_row(job_id)
        if not COMPONENT.match(component) or component not in (row.dsl.get("components") or {}):
            raise HTTPException(404, f"job {job_id} has no component {component!r}")
        tasks = [t for t in store.tasks(job_id) if t.component == component]
        keys = [views.party_key(t.role, t.party_id) for t in tasks]
        if not party:
            party = next((k for k in keys if k.startswith("guest-")), keys[0] if keys else "")
        if party not in keys or not PARTY.match(party):
            raise HTTPException(404, f"{component} has no party {party!r} (parties: {', '.join(keys)})")
        return views.component_detail(row, store, component, party)

    @router.get("/api/jobs/{job_id}/logs")
    def api_logs(request: Request, job_id: str, level: str = "DEBUG") -> dict[str, Any]:
        """Every party's log records, interleaved by time (``level``: the lowest shown)."""
        api_guard(request)
        return views.job_logs(job_row(job_id), store, level)

    @router.get("/api/{rest:path}")
    def api_unknown(request: Request, rest: str) -> JSONResponse:
        api_guard(request)
        raise HTTPException(404, f"no board endpoint /board/api/{rest}")
