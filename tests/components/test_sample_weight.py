"""``SampleWeight``: FATE's class weights, balanced weights and weight column, on a Frame."""

from __future__ import annotations

import numpy as np
import pytest

from fedloom.components import registry
from fedloom.components.sample_weight import SampleWeightParams, class_weights, weigh
from fedloom.core.errors import ConfigError, DataError
from fedloom.data import Frame


def frame() -> Frame:
    ids = [f"r{i}" for i in range(6)]
    x = np.array([[0.1, 2.0], [0.2, 1.0], [0.3, 3.0], [0.4, 2.0], [0.5, 4.0], [0.6, 0.0]])
    return Frame(ids, x, ["x0", "w"], label=np.array([0, 1, 1, 1, 0, 2]), table="t")


def test_class_weight_dict_and_missing_labels() -> None:
    # Execute
    out, used = weigh(frame(), SampleWeightParams(class_weight={"0": 1, "1": 2}))
    # Assert: label 2 is not listed: weight 1 (FATE)
    np.testing.assert_array_equal(out.weights, [1, 2, 2, 2, 1, 1])
    assert used == {"0": 1.0, "1": 2.0}
    assert out.feature_names == ("x0", "w")


def test_balanced_is_scikit_learns_formula() -> None:
    # Execute
    out, used = weigh(frame(), SampleWeightParams(class_weight="Balanced"))
    # Assert: n / (n_classes · count)
    assert used == {"0": 6 / (3 * 2), "1": 6 / (3 * 3), "2": 6 / (3 * 1)}
    np.testing.assert_allclose(out.weights, [1.0, 2 / 3, 2 / 3, 2 / 3, 1.0, 2.0])
    assert class_weights(np.array([1, 1, 0, 0]), "balanced") == {"0": 1.0, "1": 1.0}


def test_weight_column_wins_and_leaves_the_features() -> None:
    # Execute
    out, used = weigh(frame(), SampleWeightParams(sample_weight_name="w", class_weight="balanced"))
    normed, _ = weigh(frame(), SampleWeightParams(sample_weight_name="w", normalize=True))
    # Assert
    assert used is None and out.feature_names == ("x0",)
    np.testing.assert_array_equal(out.weights, [2, 1, 3, 2, 4, 0])
    np.testing.assert_allclose(normed.weights, np.array([2, 1, 3, 2, 4, 0]) / 2.0)
    assert normed.weights.sum() == pytest.approx(6.0)


def test_weights_survive_row_selection() -> None:
    out, _ = weigh(frame(), SampleWeightParams(class_weight={"1": 5}))
    picked = out.select(["r5", "r1"])
    np.testing.assert_array_equal(picked.weights, [1.0, 5.0])


def test_nothing_to_do_passes_through() -> None:
    data = frame()
    out, used = weigh(data, SampleWeightParams())
    assert out is data and used is None and out.weights is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"class_weight": "heavy"}, "class_weight"),
        ({"class_weight": {"a": 1}}, "class_weight"),
        ({"class_weight": {"1": -1}}, "class_weight"),
        ({"sample_weight_name": " "}, "sample_weight_name"),
    ],
)
def test_bad_parameters_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        SampleWeightParams.model_validate(values)
    assert err.value.field == field


def test_bad_data() -> None:
    with pytest.raises(DataError, match="no column 'v'"):
        weigh(frame(), SampleWeightParams(sample_weight_name="v"))
    host = Frame(["a", "b"], np.ones((2, 1)), ["x"])
    with pytest.raises(DataError, match="needs a label"):
        weigh(host, SampleWeightParams(class_weight={"1": 2}))
    negative = Frame(["a", "b"], np.array([[1.0], [-1.0]]), ["w"], label=np.array([0, 1]))
    with pytest.raises(DataError, match=">= 0"):
        weigh(negative, SampleWeightParams(sample_weight_name="w"))


def test_registered_for_guest_and_host() -> None:
    spec = registry().get("SampleWeight")
    assert {r.value for r in spec.roles} == {"guest", "host"}
    assert SampleWeightParams().class_weight is None  # defaults pass their own checks
