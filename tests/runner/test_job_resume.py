"""Rerunning a job in its folder (``run_job(resume=True)``): components every party finished are
not run again, their outputs are read back exactly, and the job ends as an uninterrupted run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from fedloom.components.base import Table
from fedloom.core.errors import ConfigError
from fedloom.data import TableStore
from fedloom.data.frame import Frame
from fedloom.runner.local import run_job
from fedloom.runner.resume import load_data_output, resume_plan, write_resume_sidecar

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONF = json.loads((EXAMPLES / "jobs" / "intersect" / "conf.json").read_text())
DSL = json.loads((EXAMPLES / "jobs" / "intersect" / "dsl.json").read_text())


def _same_frame(a: Frame, b: Frame) -> None:
    assert list(a.ids) == list(b.ids)
    assert a.feature_names == b.feature_names and a.match_id_name == b.match_id_name
    assert a.label_name == b.label_name and a.table == b.table and a.is_sparse == b.is_sparse
    np.testing.assert_array_equal(a.dense_features(), b.dense_features())
    for x, y in ((a.label, b.label), (a.weights, b.weights)):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
            assert np.asarray(x).dtype == np.asarray(y).dtype


@pytest.mark.parametrize("kind", ["dense", "sparse", "weights", "nolabel"])
def test_sidecar_round_trip_is_exact(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 3))
    x[x < 0] = 0.0
    feats = sparse.csr_matrix(x) if kind == "sparse" else x
    label = None if kind == "nolabel" else rng.integers(0, 2, 6)
    weights = rng.uniform(0.5, 2, 6) if kind == "weights" else None
    frame = Frame(
        [f"r{i}" for i in range(6)],
        feats,
        ["a", "b", "c"],
        label=label,
        label_name="y",
        table="t.x",
        weights=weights,
        match_id_name="sid",
    )
    write_resume_sidecar(tmp_path, "data", frame)
    _same_frame(frame, load_data_output(tmp_path, "data"))


def test_table_sidecar_reads_the_parquet(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": ["a", "b"], "y": [1.0, 0.0], "x": [0.5, np.nan]})
    df.to_parquet(tmp_path / "data.parquet", index=False)
    write_resume_sidecar(tmp_path, "data", Table(df, "id", "ns.t", "y"))
    back = load_data_output(tmp_path, "data")
    assert isinstance(back, Table) and (back.id_column, back.name, back.label_name) == ("id", "ns.t", "y")
    pd.testing.assert_frame_equal(back.df, df)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for side in ("guest", "host"):
        conf = json.loads((EXAMPLES / "upload" / f"breast_hetero_{side}.json").read_text())
        store.upload(conf, conf_dir=EXAMPLES / "upload")
    return path


def _interrupt(jdir: Path, component: str) -> None:
    """Make the job look killed while ``component`` ran: no job.json, its outputs gone, every
    party's status saying it was running."""
    (jdir / "job.json").unlink()
    for status in (jdir / "status").glob("*.json"):
        st = json.loads(status.read_text())
        st["components"][component] = {"state": "running"}
        st["state"] = "running"
        status.write_text(json.dumps(st))
    for out in (jdir / "outputs" / component).glob("*/*"):
        out.unlink()


def test_resume_skips_finished_components_and_matches_a_full_run(tmp_path: Path, data_dir: Path) -> None:
    first = run_job(CONF, DSL, data_dir=data_dir, job_dir=tmp_path, job_id="j1")
    assert first.ok
    jdir = first.job_dir
    want = {
        p: pd.read_parquet(jdir / "outputs" / "intersect_0" / p / "data.parquet")
        for p in ("guest-9999", "host-10000")
    }
    dt_file = jdir / "outputs" / "data_transform_0" / "guest-9999" / "data.parquet"
    before = os.stat(dt_file).st_mtime_ns
    _interrupt(jdir, "intersect_0")
    assert resume_plan(jdir, ["reader_0", "data_transform_0", "intersect_0"], first_parties(first), {}) == [
        "reader_0",
        "data_transform_0",
    ]

    again = run_job(CONF, DSL, data_dir=data_dir, job_dir=tmp_path, job_id="j1", resume=True)

    assert again.ok and again.job_dir == jdir
    assert any("reader_0, data_transform_0" in n for n in again.notes)
    assert os.stat(dt_file).st_mtime_ns == before  # read back, not written again
    for p, df in want.items():
        pd.testing.assert_frame_equal(
            pd.read_parquet(jdir / "outputs" / "intersect_0" / p / "data.parquet"), df
        )
    guest = json.loads((jdir / "status" / "guest-9999.json").read_text())
    assert guest["state"] == "done"
    assert guest["components"]["data_transform_0"]["note"] == "done in an earlier run (rerun)"
    assert guest["components"]["intersect_0"]["state"] == "done"
    assert guest["components"]["intersect_0"].get("note") != "done in an earlier run (rerun)"


def first_parties(result: object) -> list:
    from fedloom.core.roles import PartyId

    return [PartyId.parse(p) for p in result.parties]  # type: ignore[attr-defined]


def test_resume_needs_the_job_folder(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ConfigError):
        run_job(CONF, DSL, data_dir=data_dir, job_dir=tmp_path, job_id="nope", resume=True)
    with pytest.raises(ConfigError):
        run_job(CONF, DSL, data_dir=data_dir, job_dir=tmp_path, resume=True)
