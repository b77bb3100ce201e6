"""Recorded schemas and the train/predict compatibility check."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.core import DataError
from fedloom.data import Frame, align, check_compatible, make_schema


def test_same_features_in_another_order_are_compatible() -> None:
    train = make_schema(["a", "b", "c"], label="y", label_type="int")
    check_compatible(train, make_schema(["c", "a", "b"]))
    f = Frame(
        ids=["1", "2"], features=np.array([[3.0, 1.0, 2.0], [6.0, 4.0, 5.0]]), feature_names=("c", "a", "b")
    )
    aligned = align(f, train)
    assert aligned.feature_names == ("a", "b", "c") and aligned.features[0].tolist() == [1.0, 2.0, 3.0]


def test_missing_and_extra_columns_are_listed() -> None:
    with pytest.raises(DataError) as info:
        check_compatible(make_schema(["a", "b", "c"]), make_schema(["a", "d"]), table="exp.pred")
    msg = info.value.message
    assert "table exp.pred" in msg and "missing 2 column(s)" in msg and "'b', 'c'" in msg and "'d'" in msg
    assert info.value.field == "b"


def test_bad_schema() -> None:
    with pytest.raises(DataError, match="no 'features' list"):
        check_compatible({"id": "id"}, make_schema(["a"]))
