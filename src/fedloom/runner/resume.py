"""Resuming a job in its own folder: which components are done for every party, and their outputs
read back exactly as they were in memory.

A rerun (``run_job(resume=True)``, the server's ``job rerun``) continues a failed or stopped job
from its first unfinished component, under the same job id and folder. The plan is the longest
prefix of the run order whose components every party reports ``done`` or ``skipped`` in its status
file and whose stored outputs can be read back; every party gets the same plan (the launcher
hands it to all), so no party waits on a peer that skipped a protocol step.

Reading outputs back: ``data.parquet`` is what users see, but it is not the whole in-memory value
(a Frame's label column, sample weights and sparse features are not distinguishable there). So
each data output also gets a sidecar written next to it, ``.{name}.resume.npz`` — ids, features
(dense, or CSR's data/indices/indptr), label, weights, and the names — with ``numpy.savez``
(never pickle: object arrays are refused and such an output is simply not resumable, so its
component runs again). A raw Table (Reader's output) is read back from its Parquet file with a
``.{name}.resume.json`` naming the id and label columns.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import sparse

from fedloom.core.roles import PartyId
from fedloom.data.frame import Frame

__all__ = ["load_data_output", "resume_plan", "write_resume_sidecar"]

log = logging.getLogger(__name__)


def _npz(out_dir: Path, name: str) -> Path:
    return out_dir / f".{name}.resume.npz"


def _meta(out_dir: Path, name: str) -> Path:
    return out_dir / f".{name}.resume.json"


def write_resume_sidecar(out_dir: Path, name: str, data: Any) -> None:
    """Write what :func:`load_data_output` needs to rebuild ``data`` (a Frame or a Table) exactly.

    An output that cannot be written without pickle (object-typed labels) gets no sidecar: its
    component is not resumable and runs again on a rerun.
    """
    from fedloom.components.base import Table

    meta: dict[str, Any]
    try:
        if isinstance(data, Frame):
            arrays: dict[str, np.ndarray] = {"ids": np.asarray(data.ids, dtype=str)}
            if data.is_sparse:
                x = data.sparse_features()
                arrays |= {"x_data": x.data, "x_indices": x.indices, "x_indptr": x.indptr}
                arrays["x_shape"] = np.asarray(x.shape, dtype=np.int64)
            else:
                arrays["x"] = data.dense_features()
            if data.label is not None:
                arrays["label"] = np.asarray(data.label)
            if data.weights is not None:
                arrays["weights"] = data.weights
            meta = {
                "kind": "frame",
                "feature_names": list(data.feature_names),
                "match_id_name": data.match_id_name,
                "label_name": data.label_name,
                "table": data.table,
            }
            for key, arr in arrays.items():
                if arr.dtype == object:
                    raise ValueError(f"{key} is an object array")
            tmp = out_dir / f".{name}.resume.tmp.npz"
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
            tmp.replace(_npz(out_dir, name))
        elif isinstance(data, Table):
            meta = {
                "kind": "table",
                "id_column": data.id_column,
                "name": data.name,
                "label_name": data.label_name,
            }
        else:
            return
    except (ValueError, TypeError) as exc:
        log.info("output %s of %s is not resumable: %s", name, out_dir, exc)
        return
    tmp_meta = out_dir / f".{name}.resume.json.tmp"
    tmp_meta.write_text(json.dumps(meta), encoding="utf-8")
    tmp_meta.replace(_meta(out_dir, name))


def load_data_output(out_dir: Path, name: str) -> Any:
    """The data output ``name`` stored in ``out_dir``, as the component produced it.

    Raises
    ------
    FileNotFoundError
        It has no sidecar (see module docs).
    """
    from fedloom.components.base import Table

    meta = json.loads(_meta(out_dir, name).read_text(encoding="utf-8"))
    if meta["kind"] == "table":
        df = pq.read_table(out_dir / f"{name}.parquet").to_pandas()
        return Table(pd.DataFrame(df), meta["id_column"], meta["name"], meta["label_name"])
    with np.load(_npz(out_dir, name), allow_pickle=False) as z:
        if "x" in z:
            x: Any = z["x"]
        else:
            x = sparse.csr_matrix((z["x_data"], z["x_indices"], z["x_indptr"]), shape=tuple(z["x_shape"]))
        return Frame(
            z["ids"].astype(object),
            x,
            meta["feature_names"],
            label=z.get("label"),
            match_id_name=meta["match_id_name"],
            label_name=meta["label_name"],
            table=meta["table"],
            weights=z.get("weights"),
        )


def _resumable(job_dir: Path, component: str, party: PartyId, data_names: list[str]) -> bool:
    out_dir = job_dir / "outputs" / component / f"{party.role.value}-{party.id}"
    if not (out_dir / "metrics.json").exists():
        return False
    return all(_meta(out_dir, n).exists() for n in data_names if (out_dir / f"{n}.parquet").exists())


def resume_plan(
    job_dir: Path, order: list[str], parties: list[PartyId], data_outputs: dict[str, list[str]]
) -> list[str]:
    """The components a rerun of the job in ``job_dir`` skips: the longest prefix of ``order``
    that every party reports ``done`` or ``skipped``, each ``done`` one with resumable outputs.
    Returned are the ``done``-somewhere components of that prefix (``skipped`` ones cost nothing:
    they are decided again)."""
    status: dict[PartyId, dict[str, Any]] = {}
    for p in parties:
        path = job_dir / "status" / f"{p.role.value}-{p.id}.json"
        try:
            status[p] = json.loads(path.read_text(encoding="utf-8")).get("components") or {}
        except (OSError, ValueError):
            return []
    plan: list[str] = []
    for name in order:
        states = {p: (status[p].get(name) or {}).get("state") for p in parties}
        if any(s not in ("done", "skipped") for s in states.values()):
            break
        done = [p for p, s in states.items() if s == "done"]
        if not all(_resumable(job_dir, name, p, data_outputs.get(name, [])) for p in done):
            break
        if done:
            plan.append(name)
    return plan
