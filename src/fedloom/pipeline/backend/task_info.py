"""``TaskInfo``: one component of a pipeline's job, as the initiator sees it (FATE's ``get_component``).

``pipeline.get_component("hetero_lr_0").get_summary()`` reads that party's results: from the job's
folder (``outputs/<component>/<role>-<party id>/``: ``metrics.json``, ``model.json``,
``data.parquet``) for a job run on this machine, or through the job server's tracking endpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedloom.core.errors import ConfigError, DataError
from fedloom.pipeline.backend.executor import LOCAL, JobRef, configured_client
from fedloom.pipeline.component.component_base import Component
from fedloom.server.client import FlowClient

__all__ = ["SERVER_ROWS", "TaskInfo"]

#: Most rows the job server returns for one output-data request.
SERVER_ROWS = 100_000


class TaskInfo:
    """One component of one job, for one party (the initiator by default).

    Parameters
    ----------
    job
        The job (``None`` before the pipeline ran: every read raises).
    component
        The pipeline component.
    role, party_id
        Whose results are read.
    client
        The server client for server jobs (default: the configured one).
    """

    def __init__(
        self,
        job: JobRef | None,
        component: Component,
        role: str,
        party_id: int | str,
        client: FlowClient | None = None,
    ) -> None:
        self.job = job
        self.component = component
        self.role = role
        self.party_id = party_id
        self._client = client

    @property
    def jobid(self) -> str | None:
        return None if self.job is None else self.job.job_id

    def _need_job(self) -> JobRef:
        if self.job is None:
            raise ConfigError(
                f"component {self.component.name} has no results yet: fit (or predict) the pipeline first.",
                component=self.component.name,
            )
        return self.job

    def _folder(self, job: JobRef) -> Path:
        return Path(str(job.job_dir)) / "outputs" / self.component.name / f"{self.role}-{self.party_id}"

    def _read_json(self, name: str) -> dict[str, Any]:
        job = self._need_job()
        path = self._folder(job) / f"{name}.json"
        try:
            doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                f"job {job.job_id}: component {self.component.name} wrote no {name} for "
                f"{self.role}:{self.party_id} (no {path}).",
                component=self.component.name,
                party=f"{self.role}:{self.party_id}",
            ) from None
        return doc

    def _server(self, job: JobRef) -> FlowClient:
        client = configured_client(self._client)
        if client is None:
            raise ConfigError(
                f"job {job.job_id} ran on the job server {job.url}; configure it (fedloom init) to read "
                "its results.",
                component=self.component.name,
            )
        return client

    def _tracked(self, call: str) -> Any:
        job = self._need_job()
        client = self._server(job)
        answer = getattr(client, call)(job.job_id, self.role, self.party_id, self.component.name)
        return answer.get("data")

    def get_metric(self) -> dict[str, Any]:
        """Every metric the component recorded for this party."""
        job = self._need_job()
        return self._read_json("metrics") if job.backend == LOCAL else self._tracked("tracking_metrics")

    def get_summary(self) -> dict[str, Any]:
        """The component's summary (a learner: weights, iterations, convergence, validation scores;
        ``Evaluation``: the metrics; ``Intersection``: counts)."""
        job = self._need_job()
        return self._read_json("metrics") if job.backend == LOCAL else self._tracked("tracking_summary")

    def get_model_param(self) -> dict[str, Any]:
        """The component's model for this party (``module``, ``params``, ``schema``, ``model``)."""
        job = self._need_job()
        return self._read_json("model") if job.backend == LOCAL else self._tracked("tracking_output_model")

    def get_output_data(self, limits: int | None = None, to_pandas: bool = True) -> Any:
        """The component's output data for this party.

        Parameters
        ----------
        limits
            At most this many rows (``None``: all).
        to_pandas
            A ``pandas.DataFrame`` (default), else ``{"header": [...], "rows": [[...]], "total": n}``.
        """
        job = self._need_job()
        if job.backend == LOCAL:
            import pandas as pd

            path = self._folder(job) / "data.parquet"
            if not path.is_file():
                raise DataError(
                    f"job {job.job_id}: component {self.component.name} has no output data for "
                    f"{self.role}:{self.party_id} (no {path}).",
                    component=self.component.name,
                    party=f"{self.role}:{self.party_id}",
                )
            frame = pd.read_parquet(path)
            total = len(frame)
            if limits is not None:
                frame = frame.head(limits)
            if to_pandas:
                return frame
            return {"header": [str(c) for c in frame.columns], "rows": frame.values.tolist(), "total": total}
        client = self._server(job)
        # The server answers at most SERVER_ROWS rows per request (and takes no offset).
        limit = min(limits if limits is not None else SERVER_ROWS, SERVER_ROWS)
        data = client.tracking_output_data(
            job.job_id, self.role, self.party_id, self.component.name, limit=limit
        )
        body = data.get("data") or {}
        if not to_pandas:
            return body
        import pandas as pd

        return pd.DataFrame(body.get("rows") or [], columns=body.get("header") or None)

    def __repr__(self) -> str:
        party = f"{self.role}:{self.party_id}"
        return f"TaskInfo(job={self.jobid!r}, component={self.component.name!r}, party={party})"
