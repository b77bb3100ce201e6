"""HomoNN on Frames (fedloom.ml.homo.nn_tabular): weights as safetensors bytes, models read back."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from fedloom.core import DataError  # noqa: E402
from fedloom.ml.homo.nn_conf import HomoNNConf  # noqa: E402
from fedloom.ml.homo.nn_tabular import WEIGHTS, HomoNNModel, build_network, load_weights, save_weights  # noqa: E402

LAYERS = [
    {"layer": "Linear", "in_features": 4, "out_features": 3},
    {"layer": "ReLU"},
    {"layer": "Linear", "in_features": 3, "out_features": 1},
    {"layer": "Sigmoid"},
]
CONF = {"nn_define": {f"{i}-{i}": layer for i, layer in enumerate(LAYERS)}, "loss": "BCELoss"}


def test_weights_round_trip_exactly_through_safetensors_bytes() -> None:
    # Prepare
    spec = HomoNNConf.from_dict(CONF).spec()
    torch.manual_seed(1)
    trained = build_network(spec)
    # Execute
    data = save_weights(trained)
    again = build_network(spec)
    load_weights(again, data)
    # Assert: every tensor equal, and a model dict carries the bytes under the file name
    for (k, a), b in zip(trained.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    d = HomoNNModel(spec, trained).to_dict()
    assert d[WEIGHTS] == data and d["loss"] == "BCELoss"
    assert torch.equal(
        HomoNNModel.from_dict(d).module.state_dict()["0.weight"], trained.state_dict()["0.weight"]
    )


def test_weights_of_another_network_or_not_read_back_are_data_errors() -> None:
    spec = HomoNNConf.from_dict(CONF).spec()
    wider = HomoNNConf.from_dict(
        {**CONF, "nn_define": {"0-0": {"layer": "Linear", "in_features": 5, "out_features": 1}}}
    )
    with pytest.raises(DataError, match="do not fit the stored architecture"):
        load_weights(build_network(spec), save_weights(build_network(wider.spec())))
    with pytest.raises(DataError, match="unreadable"):
        load_weights(build_network(spec), b"not safetensors")
    d = HomoNNModel(spec, build_network(spec)).to_dict()
    d[WEIGHTS] = {"file": WEIGHTS, "sha256": "0" * 64, "bytes": 1}  # model.json as written, files not joined
    with pytest.raises(DataError, match="was not read back"):
        HomoNNModel.from_dict(d)
