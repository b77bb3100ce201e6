"""Frame: id rules, selection by id in a given order, schema."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedloom.core import DataError
from fedloom.data import Frame, normalise_ids


def frame(n: int = 5, label: bool = True) -> Frame:
    return Frame(
        ids=[f"u{i}" for i in range(n)],
        features=np.arange(n * 2, dtype=float).reshape(n, 2),
        feature_names=("a", "b"),
        label=np.arange(n) % 2 if label else None,
        label_name="y" if label else None,
        table="t.frame",
    )


def test_basic_shape_and_schema() -> None:
    f = frame()
    assert (len(f), f.n_rows, f.n_features, f.has_label) == (5, 5, 2, True)
    assert f.ids.dtype == object and all(isinstance(i, str) for i in f.ids)
    assert f.schema == {"id": "id", "label": "y", "label_type": "int", "features": ["a", "b"]}
    assert frame(label=False).schema["label"] is None
    assert list(f.to_pandas().columns) == ["id", "y", "a", "b"]


def test_select_keeps_the_requested_order() -> None:
    f = frame()
    sub = f.select(["u3", "u0", "u4"])
    assert sub.ids.tolist() == ["u3", "u0", "u4"]
    assert sub.features[:, 0].tolist() == [6.0, 0.0, 8.0]
    assert sub.label is not None and sub.label.tolist() == [1, 0, 0]


def test_select_missing_ids_are_listed() -> None:
    with pytest.raises(DataError, match=r"2 requested id\(s\) are not in the frame: 'x', 'y'"):
        frame().select(["u1", "x", "y"])
    assert frame().positions(["u1", "x"], strict=False).tolist() == [1, -1]


def test_select_features_reorders() -> None:
    f = frame().select_features(["b", "a"])
    assert f.feature_names == ("b", "a") and f.features[0].tolist() == [1.0, 0.0]
    with pytest.raises(DataError, match="no feature column"):
        frame().select_features(["c"])


def test_integer_ids_become_text_and_floats_are_refused() -> None:
    assert normalise_ids(np.array([1, 22])).tolist() == ["1", "22"]
    assert normalise_ids([3, "a"]).tolist() == ["3", "a"]
    with pytest.raises(DataError, match="float ids are ambiguous"):
        normalise_ids(np.array([1.0, 2.0]))
    with pytest.raises(DataError, match=r"row 1: nan"):
        normalise_ids(["a", float("nan")], table="t")
    with pytest.raises(DataError, match="empty or hold control characters"):
        normalise_ids(["a", " ", "b\n"])


def test_duplicate_ids_are_refused_and_listed() -> None:
    with pytest.raises(DataError, match=r"2 id\(s\) .* more than once: 'a', 'b'") as info:
        Frame(ids=["a", "b", "a", "b", "c"], features=np.zeros((5, 1)), feature_names=("x",))
    assert info.value.field == "id"


def test_shape_checks() -> None:
    with pytest.raises(DataError, match="feature names"):
        Frame(ids=["a"], features=np.zeros((1, 2)), feature_names=("x",))
    with pytest.raises(DataError, match="appears twice"):
        Frame(ids=["a"], features=np.zeros((1, 2)), feature_names=("x", "x"))
    with pytest.raises(DataError, match="label must have shape"):
        Frame(ids=["a"], features=np.zeros((1, 1)), feature_names=("x",), label=np.zeros(2))
    empty = Frame(ids=["a", "b"], features=np.zeros((2, 0)), feature_names=())
    assert empty.n_features == 0


@given(
    st.lists(st.text(alphabet="abcdef0123", min_size=1, max_size=6), min_size=1, max_size=30, unique=True),
    st.randoms(use_true_random=False),
)
def test_select_is_a_permutation(ids: list[str], rnd) -> None:  # type: ignore[no-untyped-def]
    f = Frame(ids=ids, features=np.arange(len(ids), dtype=float)[:, None], feature_names=("x",))
    order = ids[:]
    rnd.shuffle(order)
    sub = f.select(order)
    assert sub.ids.tolist() == order
    assert [ids[int(v)] for v in sub.features[:, 0]] == order
