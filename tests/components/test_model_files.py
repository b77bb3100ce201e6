"""A model's binary parts (a network's weights) are files next to model.json, checked when read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedloom.components.base import join_model_files, split_model_files
from fedloom.core import DataError

ARTIFACT = {
    "module": "M",
    "params": {},
    "schema": None,
    "model": {"loss": "BCELoss", "weights.safetensors": b"\x00w"},
}


def store(artifact: dict[str, object], folder: Path) -> dict[str, object]:
    """What the runner does: the files first, then model.json; then read it all back."""
    written, files = split_model_files(artifact)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    (folder / "model.json").write_text(json.dumps(written))
    return json.loads((folder / "model.json").read_text())


def test_bytes_become_files_named_by_their_key_and_come_back(tmp_path: Path) -> None:
    # Execute
    on_disk = store(ARTIFACT, tmp_path)
    back = join_model_files(on_disk, tmp_path)
    # Assert: model.json names the file and its digest; reading joins the bytes back
    ref = on_disk["model"]["weights.safetensors"]  # type: ignore[index]
    assert ref["file"] == "weights.safetensors" and ref["bytes"] == 2 and len(ref["sha256"]) == 64
    assert (tmp_path / "weights.safetensors").read_bytes() == b"\x00w"
    assert back == ARTIFACT
    assert split_model_files({"module": "M", "model": {"a": 1}}) == ({"module": "M", "model": {"a": 1}}, {})


def test_a_missing_or_altered_file_is_a_data_error(tmp_path: Path) -> None:
    on_disk = store(ARTIFACT, tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"\x00x")
    with pytest.raises(DataError, match="sha256 differs"):
        join_model_files(on_disk, tmp_path)
    (tmp_path / "weights.safetensors").unlink()
    with pytest.raises(DataError, match="cannot be read"):
        join_model_files(on_disk, tmp_path)


@pytest.mark.parametrize("name", ["../escape", "model.json", ".hidden", "data.parquet", "a/b"])
def test_a_file_name_that_is_not_plain_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="may not be named"):
        split_model_files({"model": {name: b"x"}})
    forged = {"model": {name: {"file": name, "sha256": "0" * 64, "bytes": 1}}}
    with pytest.raises(DataError, match="may not be named"):
        join_model_files(forged, tmp_path)  # a model.json must not make a party read other files
