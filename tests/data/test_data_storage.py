"""Table store: FATE upload conf, round trip, catalog, atomic writes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import fedloom.data.storage as storage
from fedloom.core import ConfigError, DataError
from fedloom.data import TableStore, frame_from_table, read_csv
from fedloom.data.storage import info, load, upload

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)


@pytest.fixture
def fate_upload(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """FATE's upload conf, copied next to the breast data with ``file`` made relative to it."""
    if not FATE.is_dir():
        pytest.skip("FATE examples not present")
    conf = json.loads((FATE / "dsl_v2" / "upload" / "upload_conf.json").read_text())
    (tmp_path / "data").mkdir()
    shutil.copy(FATE / "data" / "breast_hetero_guest.csv", tmp_path / "data")
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    conf["file"] = "../data/breast_hetero_guest.csv"
    (conf_dir / "upload_conf.json").write_text(json.dumps(conf))
    return conf, conf_dir


def catalog_rows(data_dir: Path) -> list[tuple[Any, ...]]:
    path = data_dir / "catalog.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT namespace, name, rows, columns FROM tables").fetchall()


def test_fate_upload_conf_round_trips(fate_upload: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    # Prepare
    conf, conf_dir = fate_upload
    data_dir = tmp_path / "store"
    # Execute
    meta = upload(conf, conf_dir, data_dir)
    # Assert: catalog, file, content
    assert (meta.namespace, meta.name, meta.rows, meta.n_columns) == (
        "experiment",
        "breast_hetero_guest",
        569,
        12,
    )
    assert meta.columns == ["id", "y"] + [f"x{i}" for i in range(10)]
    assert meta.partitions == 8 and meta.id_column == "id" and len(meta.sha256) == 64
    assert meta.source_file == str((tmp_path / "data" / "breast_hetero_guest.csv").resolve())
    assert meta.path == data_dir / "experiment" / "breast_hetero_guest.parquet" and meta.path.is_file()
    assert catalog_rows(data_dir) == [("experiment", "breast_hetero_guest", 569, 12)]
    assert info("breast_hetero_guest", "experiment", data_dir) == meta
    df = load("breast_hetero_guest", "experiment", data_dir)
    assert df.shape == (569, 12) and df["id"].tolist()[:2] == ["133", "273"]
    frame = frame_from_table(df, with_label=True, label_name="y")
    direct = read_csv(tmp_path / "data" / "breast_hetero_guest.csv", with_label=True)
    np.testing.assert_array_equal(frame.features, direct.features)
    np.testing.assert_array_equal(frame.label, direct.label)
    assert frame.ids.tolist() == direct.ids.tolist()
    assert TableStore(data_dir).load("breast_hetero_guest", "experiment", verify=True).shape == (569, 12)


def test_data_dir_from_environment(
    fate_upload: tuple[dict[str, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDLOOM_DATA_DIR", str(tmp_path / "env_store"))
    conf, conf_dir = fate_upload
    upload(conf, conf_dir)
    assert (tmp_path / "env_store" / "catalog.sqlite").is_file()
    assert TableStore().exists("breast_hetero_guest", "experiment")


def test_existing_table_needs_drop(fate_upload: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    conf, conf_dir = fate_upload
    store = TableStore(tmp_path / "store")
    first = store.upload(conf, conf_dir)
    with pytest.raises(DataError, match="already exists"):
        store.upload(conf, conf_dir)
    second = store.upload({**conf, "drop": 1}, conf_dir)
    assert second.rows == 569 and second.created >= first.created
    assert len(store.list()) == 1 and len(store.list("experiment")) == 1 and store.list("other") == []


def test_upload_options_id_and_label(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x,uid,label\n1.5,a,0\n2.5,b,1\n")
    meta = upload(
        {
            "file": "t.csv",
            "table_name": "t",
            "namespace": "ns",
            "id_column": "uid",
            "label_name": "label",
            "work_mode": 0,
            "backend": 0,
        },
        tmp_path,
        tmp_path / "store",
    )
    assert meta.columns == ["uid", "x", "label"] and meta.label_name == "label"
    assert meta.schema["columns"][1] == {"name": "x", "dtype": "float64", "missing": 0}


def test_delete(fate_upload: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    conf, conf_dir = fate_upload
    store = TableStore(tmp_path / "store")
    meta = store.upload(conf, conf_dir)
    store.delete("breast_hetero_guest", "experiment")
    assert not meta.path.exists() and catalog_rows(store.data_dir) == []
    with pytest.raises(DataError, match=r"no table experiment\.breast_hetero_guest"):
        store.info("breast_hetero_guest", "experiment")
    with pytest.raises(DataError):
        store.delete("breast_hetero_guest", "experiment")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,x\na,1\na,2\n", "more than once: 'a'"),
        ("uid,x\na,1\n", None),
        ("id,x\na,1\nb,oops\n", "not finite numbers"),
        ("", "is empty"),
        ("id,x\n", "no data rows"),
    ],
)
def test_refused_files_leave_nothing(tmp_path: Path, text: str, match: str | None) -> None:
    (tmp_path / "t.csv").write_text(text)
    conf = {"file": "t.csv", "table_name": "t", "namespace": "ns", "id_column": "id"}
    with pytest.raises(DataError, match=match or "no id column 'id'"):
        upload(conf, tmp_path, tmp_path / "store")
    assert catalog_rows(tmp_path / "store") == []
    assert not (tmp_path / "store" / "ns" / "t.parquet").exists()


def test_missing_values_are_stored_for_data_transform(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id,x\na,1\nb,\n")
    meta = upload({"file": "t.csv", "table_name": "t", "namespace": "ns"}, tmp_path, tmp_path / "store")
    assert meta.schema["columns"][1]["missing"] == 1
    df = load("t", "ns", tmp_path / "store")
    with pytest.raises(DataError, match="missing feature value"):
        frame_from_table(df, table="ns.t")
    assert frame_from_table(df, missing_fill=True).features[:, 0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"table_name": "t", "namespace": "ns"}, "file"),
        ({"file": "t.csv", "namespace": "ns"}, "table_name"),
        ({"file": "t.csv", "table_name": "../etc", "namespace": "ns"}, "table_name"),
        ({"file": "t.csv", "table_name": "t", "namespace": ".hidden"}, "namespace"),
        ({"file": "t.csv", "table_name": "t", "namespace": "ns", "head": 2}, "head"),
        ({"file": "t.csv", "table_name": "t", "namespace": "ns", "partition": 0}, "partition"),
    ],
)
def test_bad_upload_conf(tmp_path: Path, conf: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info_:
        upload(conf, tmp_path, tmp_path / "store")
    assert info_.value.field == field


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        upload({"file": "nope.csv", "table_name": "t", "namespace": "ns"}, tmp_path, tmp_path / "store")


def test_failure_mid_write_leaves_nothing(
    fate_upload: tuple[dict[str, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: the writer puts half the bytes on disk, then the disk "fills up".
    conf, conf_dir = fate_upload
    data_dir = tmp_path / "store"

    def half_write(df: pd.DataFrame, path: Path) -> None:
        path.write_bytes(b"PAR1" + b"\0" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "_write_parquet", half_write)
    # Execute
    with pytest.raises(OSError, match="No space left"):
        upload(conf, conf_dir, data_dir)
    # Assert: no catalog row, no final file, no temporary file
    assert catalog_rows(data_dir) == []
    assert list((data_dir / "experiment").iterdir()) == []
    assert not TableStore(data_dir).exists("breast_hetero_guest", "experiment")


def test_failure_at_catalog_write_leaves_nothing(
    fate_upload: tuple[dict[str, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf, conf_dir = fate_upload
    data_dir = tmp_path / "store"

    def broken_insert(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(storage, "_insert_row", broken_insert)
    with pytest.raises(sqlite3.OperationalError):
        upload(conf, conf_dir, data_dir)
    assert catalog_rows(data_dir) == [] and list((data_dir / "experiment").iterdir()) == []


def test_failed_replace_keeps_the_old_table(
    fate_upload: tuple[dict[str, Any], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf, conf_dir = fate_upload
    store = TableStore(tmp_path / "store")
    old = store.upload(conf, conf_dir)
    real_replace = storage.os.replace

    def replace_then_crash(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        if str(dst).endswith("breast_hetero_guest.parquet") and ".bak" not in str(src):
            raise KeyboardInterrupt  # killed between the rename and the commit

    monkeypatch.setattr(storage.os, "replace", replace_then_crash)
    (tmp_path / "data" / "breast_hetero_guest.csv").write_text("id,y,x0\na,1,0.5\n")
    with pytest.raises(KeyboardInterrupt):
        store.upload(conf, conf_dir, drop=True)
    monkeypatch.setattr(storage.os, "replace", real_replace)
    assert store.info("breast_hetero_guest", "experiment") == old
    assert store.load("breast_hetero_guest", "experiment", verify=True).shape == (569, 12)
    assert sorted(p.name for p in (store.data_dir / "experiment").iterdir()) == [
        "breast_hetero_guest.parquet"
    ]


def test_save_from_memory(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    df = pd.DataFrame({"id": [3, 1, 2], "x": [0.1, 0.2, 0.3]})
    meta = store.save(df, "mem", "ns")
    assert meta.source_file is None and meta.sha256 == meta.data_sha256
    assert store.load("mem", "ns")["id"].tolist() == ["3", "1", "2"]
    with pytest.raises(DataError, match="empty table"):
        store.save(df.iloc[:0], "e", "ns")
