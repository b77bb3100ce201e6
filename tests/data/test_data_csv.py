"""Dense CSV reading: FATE's files, and every refusal naming table, row and column."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedloom.core import DataError
from fedloom.data import frame_from_table, missing_fill_values, read_csv, read_csv_table

FATE_DATA = (
    Path(
        os.environ.get(
            "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
        )
    )
    / "data"
)


@pytest.fixture
def fate_data() -> Path:
    if not FATE_DATA.is_dir():
        pytest.skip("FATE example data not present")
    return FATE_DATA


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_breast_guest_with_label(fate_data: Path) -> None:
    f = read_csv(fate_data / "breast_hetero_guest.csv", with_label=True, label_name="y")
    assert (f.n_rows, f.n_features) == (569, 10)
    assert f.feature_names == tuple(f"x{i}" for i in range(10))
    assert f.label is not None and f.label.dtype == np.int64 and set(f.label.tolist()) == {0, 1}
    assert f.ids[0] == "133" and f.features.dtype == np.float64
    assert f.features[0, 0] == pytest.approx(0.254879)


def test_breast_host_without_label(fate_data: Path) -> None:
    f = read_csv(fate_data / "breast_hetero_host.csv")
    assert (f.n_rows, f.n_features, f.label) == (569, 20, None)


def test_without_with_label_the_label_is_a_feature(fate_data: Path) -> None:
    # FATE's intersect examples read the guest table with with_label=false: y is then a column.
    f = read_csv(fate_data / "breast_hetero_guest.csv")
    assert f.feature_names[0] == "y" and f.n_features == 11


def test_regression_label_is_float(fate_data: Path) -> None:
    f = read_csv(
        fate_data / "motor_hetero_guest.csv", with_label=True, label_name="motor_speed", label_type="float"
    )
    assert f.label is not None and f.label.dtype == np.float64


def test_missing_id_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no id column 'uid'") as info:
        read_csv(write(tmp_path, "id,x\n1,2\n"), id_column="uid")
    assert info.value.field == "uid"


def test_duplicate_ids_list_the_first_few(tmp_path: Path) -> None:
    rows = "".join(f"{i % 7},1.0\n" for i in range(20))
    with pytest.raises(DataError) as info:
        read_csv(write(tmp_path, "id,x\n" + rows))
    msg = info.value.message
    assert "7 id(s) in column 'id' occur more than once: '0', '1', '2', '3', '4' and 2 more" in msg
    assert "t.csv" in msg and info.value.field == "id"


def test_empty_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty or hold control characters \(row 1: ''\)"):
        read_csv(write(tmp_path, "id,x\na,1\n,2\n"))


def test_missing_value_names_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "id,x0,x1\na,1,2\nb,,4\nc,5,NA\n")
    with pytest.raises(DataError) as info:
        read_csv(path)
    msg = info.value.message
    assert "2 missing feature value(s): row 1 (id 'b') column 'x0', row 2 (id 'c') column 'x1'" in msg
    assert info.value.field == "x0"


def test_missing_fill(tmp_path: Path) -> None:
    path = write(tmp_path, "id,x0,x1\na,1,2\nb,,4\nc,5,?\n")
    assert read_csv(path, missing_fill=True, default_value=-1).features.tolist() == [[1, 2], [-1, 4], [5, -1]]
    assert read_csv(path, missing_fill=True, missing_fill_method="mean").features[:, 0].tolist() == [1, 3, 5]
    df = read_csv_table(path)
    assert missing_fill_values(df, ["x0", "x1"], "max") == {"x0": 5.0, "x1": 4.0}
    # predict time: the training fill values are reused as they are
    f = frame_from_table(df, fill_values={"x0": 100.0, "x1": 200.0})
    assert f.features.tolist() == [[1, 2], [100, 4], [5, 200]]


def test_extra_missing_tokens(tmp_path: Path) -> None:
    path = write(tmp_path, "id,x\na,1\nb,-999\n")
    assert np.isnan(read_csv_table(path, missing_impute=["-999"])["x"].iloc[1])


def test_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_csv(write(tmp_path, "id,x0,x1\na,1,2\nb,3,abc\nc,inf,1\n"))
    assert "column 'x0'" in info.value.message and "line 4 (id 'c'): 'inf'" in info.value.message
    with pytest.raises(DataError, match=r"column 'x1' .* line 3 \(id 'b'\): 'abc'"):
        read_csv(write(tmp_path, "id,x0,x1\na,1,2\nb,3,abc\n"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("id,x0\n", "no data rows"),
        ("id,x,x\n1,2,3\n", "appear more than once"),
        ("id,x\n1,2,3\n", "malformed CSV"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        read_csv(write(tmp_path, text))


def test_label_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no label column 'label'"):
        read_csv(write(tmp_path, "id,y,x\na,1,2\n"), with_label=True, label_name="label")
    with pytest.raises(DataError, match=r"holds non-integers: row 1 \(id 'b'\): 0.5"):
        read_csv(write(tmp_path, "id,y,x\na,1,2\nb,0.5,3\n"), with_label=True)
    with pytest.raises(DataError, match=r"label column 'y' has 1 missing"):
        read_csv(write(tmp_path, "id,y,x\na,1,2\nb,,3\n"), with_label=True, missing_fill=True)
    assert read_csv(
        write(tmp_path, "id,y,x\na,1,2\nb,0.5,3\n"), with_label=True, label_type="float"
    ).label.tolist() == [1.0, 0.5]  # type: ignore[union-attr]


def test_no_header_and_other_delimiter(tmp_path: Path) -> None:
    f = read_csv(write(tmp_path, "a;1;2\nb;3;4\n"), head=False, delimiter=";")
    assert f.ids.tolist() == ["a", "b"] and f.feature_names == ("x0", "x1")


def test_id_column_need_not_be_first(tmp_path: Path) -> None:
    df = read_csv_table(write(tmp_path, "x,uid\n1,a\n2,b\n"), id_column="uid")
    assert list(df.columns) == ["uid", "x"] and df["uid"].tolist() == ["a", "b"]


def test_frame_from_table_refuses_text_features() -> None:
    df = pd.DataFrame({"id": ["a", "b"], "x": ["1", "oops"]})
    with pytest.raises(
        DataError, match=r"column 'x' holds 1 value\(s\) that are not numbers: row 1 \(id 'b'\)"
    ):
        frame_from_table(df, table="ns.t")
    with pytest.raises(DataError, match="the table is empty"):
        frame_from_table(pd.DataFrame({"id": []}))
