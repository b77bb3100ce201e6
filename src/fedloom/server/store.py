"""The job store: jobs, tasks (component × party), parties, their states and times, and where
their metrics, outputs, models and logs lie; SQLAlchemy 2.0, SQLite by default, PostgreSQL by URL.

Tables::

    jobs     job_id (key), server_id (the owning server), status, progress, conf, dsl, initiator,
             roles, job_dir, model_id, model_version, create/start/end time, error (JSON),
             supervisor pid (the job's process group), rerun count, deployed components
    tasks    (job_id, component, role, party_id) → module, status, start/end time, error, and the
             locations of the task's output folder, model file and metrics file
    parties  (job_id, role, party_id) → status, log file, status file

Writers. While a job runs, its supervisor process (:mod:`fedloom.server.supervisor`) is the only
writer of its rows: it copies the parties' status files into ``tasks`` every half second and writes
the final state. The server writes a job's rows only when no supervisor runs it: on submit, on stop
(after it killed the supervisor's process group) and at start-up, when it marks the jobs a crashed
server left running as failed. State changes from a running state are conditional updates
(``UPDATE ... WHERE status IN (...)``), so a late writer never overwrites a final state.

SQLite runs in WAL mode with a busy timeout, so the supervisors and the server (separate
processes) write without "database is locked" errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JOB_STATES",
    "JobRow",
    "JobStore",
    "PartyRow",
    "TaskRow",
]

JOB_STATES = ("waiting", "running", "success", "failed", "canceled")
ACTIVE_STATES = ("waiting", "running")
FINAL_STATES = ("success", "failed", "canceled")


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class JobRow(Base):
    """One job."""

    __tablename__ = "jobs"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    server_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    conf: Mapped[dict[str, Any]] = mapped_column(JSON)
    dsl: Mapped[dict[str, Any]] = mapped_column(JSON)
    initiator: Mapped[dict[str, Any]] = mapped_column(JSON)
    roles: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_dir: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(64), default="")
    create_time: Mapped[float] = mapped_column(Float)
    start_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reruns: Mapped[int] = mapped_column(Integer, default=0)
    deployed: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class TaskRow(Base):
    """One component on one party."""

    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True)
    component: Mapped[str] = mapped_column(String(128))
    module: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_dir: Mapped[str] = mapped_column(Text)
    model_path: Mapped[str] = mapped_column(Text)
    metrics_path: Mapped[str] = mapped_column(Text)


class PartyRow(Base):
    """One party of a job: its state and where its log and status file are."""

    __tablename__ = "parties"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    log_path: Mapped[str] = mapped_column(Text)
    status_path: Mapped[str] = mapped_column(Text)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class JobStore:
    """The job store at a SQLAlchemy URL (tables are created when missing).

    Parameters
    ----------
    url
        ``sqlite:///path/store.db`` or ``postgresql+psycopg://user@host:port/db`` (a bare
        ``postgresql://`` URL is given the psycopg 3 driver).
    """

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed at the end of the block (rolled back on error)."""
        with self._sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------------ jobs
    def add_job(self, job: JobRow, tasks: Sequence[TaskRow], parties: Sequence[PartyRow]) -> None:
        """Insert a job with its tasks and parties, in one transaction."""
        with self.session() as s:
            s.add(job)
            s.flush()
            s.add_all(list(tasks))
            s.add_all(list(parties))

    def get_job(self, job_id: str, server_id: str) -> JobRow | None:
        """The job ``job_id`` of server ``server_id`` (``None`` when there is none)."""
        with self.session() as s:
            return s.scalars(
                select(JobRow).where(JobRow.job_id == job_id, JobRow.server_id == server_id)
            ).first()

    def list_jobs(self, server_id: str, limit: int = 10, status: str | None = None) -> list[JobRow]:
        """The newest ``limit`` jobs of ``server_id`` (only those in ``status`` when given)."""
        q = select(JobRow).where(JobRow.server_id == server_id)
        if status:
            q = q.where(JobRow.status == status)
        q = q.order_by(JobRow.create_time.desc()).limit(limit)
        with self.session() as s:
            return list(s.scalars(q))

    def active_jobs(self, server_id: str) -> list[JobRow]:
        """Jobs of ``server_id`` still waiting or running."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(JobRow).where(JobRow.server_id == server_id, JobRow.status.in_(ACTIVE_STATES))
                )
            )

    def tasks(self, job_id: str) -> list[TaskRow]:
        """A job's tasks, in insertion order (the run order, parties in conf order)."""
        with self.session() as s:
            return list(s.scalars(select(TaskRow).where(TaskRow.job_id == job_id).order_by(TaskRow.id)))

    def parties(self, job_id: str) -> list[PartyRow]:
        """A job's parties."""
        with self.session() as s:
            return list(s.scalars(select(PartyRow).where(PartyRow.job_id == job_id).order_by(PartyRow.id)))

    def set_job(self, job_id: str, *, only_from: Sequence[str] | None = None, **values: Any) -> bool:
        """Update a job's columns; with ``only_from``, only while its status is one of those.
        Returns whether a row changed."""
        q = update(JobRow).where(JobRow.job_id == job_id)
        if only_from is not None:
            q = q.where(JobRow.status.in_(list(only_from)))
        with self.session() as s:
            return bool(s.execute(q.values(**values)).rowcount)  # type: ignore[attr-defined]

    def finish_active(self, job_id: str, status: str, error: dict[str, Any] | None) -> bool:
        """Move a waiting/running job, its unfinished tasks and parties to ``status`` (final)."""
        now = time.time()
        with self.session() as s:
            changed = s.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.status.in_(ACTIVE_STATES))
                .values(status=status, error=error, end_time=now, pid=None)
            ).rowcount  # type: ignore[attr-defined]
            if changed:
                s.execute(
                    update(TaskRow)
                    .where(TaskRow.job_id == job_id, TaskRow.status.in_(("waiting", "running")))
                    .values(status=status, end_time=now)
                )
                s.execute(
                    update(PartyRow)
                    .where(PartyRow.job_id == job_id, PartyRow.status.in_(("waiting", "running")))
                    .values(status=status)
                )
        return bool(changed)

    def sync_status(self, job_id: str, status: dict[str, dict[str, Any]]) -> float:
        """Copy the parties' status files (``{"guest:9999": status}``) into tasks and parties;
        returns the job's progress (fraction of tasks finished)."""
        with self.session() as s:
            tasks = list(s.scalars(select(TaskRow).where(TaskRow.job_id == job_id)))
            for t in tasks:
                st = status.get(f"{t.role}:{t.party_id}")
                if not st:
                    continue
                c = (st.get("components") or {}).get(t.component) or {}
                state = {"done": "success", "skipped": "success"}.get(c.get("state", ""), c.get("state"))
                if state and state != t.status:
                    t.status = state
                if c.get("started") and t.start_time is None:
                    t.start_time = float(c["started"])
                if state in ("success", "failed") and t.end_time is None:
                    t.end_time = time.time()
                if c.get("error"):
                    t.error = str(c["error"])[:4000]
            for p in s.scalars(select(PartyRow).where(PartyRow.job_id == job_id)):
                st = status.get(f"{p.role}:{p.party_id}")
                if st:
                    p.status = {"done": "success"}.get(st.get("state", ""), st.get("state") or p.status)
            done = sum(t.status in ("success", "failed", "canceled") for t in tasks)
            return done / len(tasks) if tasks else 1.0

    def reset_unfinished(self, job_id: str) -> None:
        """Before a rerun: tasks and parties that did not succeed go back to ``waiting``."""
        with self.session() as s:
            s.execute(
                update(TaskRow)
                .where(TaskRow.job_id == job_id, TaskRow.status != "success")
                .values(status="waiting", start_time=None, end_time=None, error=None)
            )
            s.execute(update(PartyRow).where(PartyRow.job_id == job_id).values(status="waiting"))
