"""What the tests that run FATE's example jobs with ``fedloom run`` share.

Where FATE's examples are (:data:`FATE`: ``$FEDLOOM_FATE_EXAMPLES``, else the shared copy; the
tests that need them skip without), the ``fedloom`` command of this interpreter, uploading FATE's
tables with FATE's upload conf (only ``file`` and ``table_name`` adapted), and one
``fedloom run --json`` of a job. Imported as ``from tests.fate_jobs import ...`` (the suite runs
from the repository root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedloom.data import TableStore

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[2] / "shared" / "fate_examples")
    )
)
DSL_V2 = FATE / "dsl_v2"
#: FATE's example tables (``<name>_hetero_guest.csv`` ...).
FATE_DATA = FATE / "data"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")
#: FATE's vertically split breast tables (guest with the label, host).
BREAST_HETERO = ("breast_hetero_guest", "breast_hetero_host")


def hetero_tables(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """FATE's guest and host tables ``name`` joined on id, the host's rows in the guest's order.

    Parameters
    ----------
    name : str
        The data set (``"breast"``, ``"default_credit"``).

    Returns
    -------
    tuple
        ``(ids, guest x, host x, y, guest names, host names)``; the features as float64.
    """
    import pandas as pd

    g = pd.read_csv(FATE_DATA / f"{name}_hetero_guest.csv")
    h = pd.read_csv(FATE_DATA / f"{name}_hetero_host.csv").set_index("id").loc[g["id"]].reset_index()
    gnames, hnames = list(g.columns.drop(["id", "y"])), list(h.columns.drop("id"))
    return (
        g["id"].astype(str).to_numpy(),
        g[gnames].to_numpy(dtype=np.float64),
        h[hnames].to_numpy(dtype=np.float64),
        g["y"].to_numpy(),
        gnames,
        hnames,
    )


def stratified_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of a 70/30 split stratified on ``y`` with seed 42: ``(train, test)``."""
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=42)
    return tr, te


def data_folder(tmp_path_factory: pytest.TempPathFactory, names: Iterable[str]) -> Path:
    """A fresh data folder holding FATE's tables ``names`` (what a module's ``data_dir`` fixture returns)."""
    path = tmp_path_factory.mktemp("data")
    upload_tables(path, names)
    return path


def upload_tables(path: Path, names: Iterable[str]) -> TableStore:
    """A table store at ``path`` holding FATE's ``data/<name>.csv`` of each of ``names``."""
    store = TableStore(path)
    for name in names:
        upload_table(store, name)
    return store


def upload_table(store: TableStore, name: str, file: Path | None = None) -> None:
    """Upload ``file`` (default FATE's ``data/<name>.csv``) as table ``name`` with FATE's upload
    conf, only ``file`` and ``table_name`` changed (FATE's install path → this copy)."""
    conf = json.loads((DSL_V2 / "upload" / "upload_conf.json").read_text())
    csv = FATE / "data" / f"{name}.csv" if file is None else file
    store.upload({**conf, "file": str(csv), "table_name": name})


def run_cli(
    conf: Path,
    dsl: Path,
    data_dir: Path,
    job_dir: Path,
    *extra: str,
    timeout: int = 120,
    wait: int = 300,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``fedloom run -c conf -d dsl ... --timeout <timeout> --json extra...`` as a user runs it,
    waited for at most ``wait`` seconds; ``env`` is added to this process's environment."""
    return subprocess.run(
        [FEDLOOM, "run", "-c", str(conf), "-d", str(dsl), "--data-dir", str(data_dir),
         "--job-dir", str(job_dir), "--timeout", str(timeout), "--json", *extra],
        capture_output=True, text=True, timeout=wait, env={**os.environ, **(env or {})},
    )  # fmt: skip


def failure(res: subprocess.CompletedProcess[str]) -> str:
    """The end of what a failed run printed (for an assertion message)."""
    return res.stdout[-3000:] + res.stderr[-3000:]


def fedloom_run(
    conf: Path, dsl: Path, data_dir: Path, job_dir: Path, *extra: str, timeout: int = 120, wait: int = 300
) -> dict[str, Any]:
    """:func:`run_cli` that must succeed; the parsed JSON result."""
    res = run_cli(conf, dsl, data_dir, job_dir, *extra, timeout=timeout, wait=wait)
    assert res.returncode == 0, failure(res)
    out: dict[str, Any] = json.loads(res.stdout)
    assert out["ok"] and out["failure"] is None
    return out
