"""Launcher targets for the Hetero NN process test: the data and confs of ``test_nn_tasks.py``
with 1024-bit Paillier; each party trains one epoch, then predicts its training rows."""

from __future__ import annotations

from typing import Any

from test_nn_tasks import ADAM, _confs, _data

from fedloom.context import Context
from fedloom.ml.hetero.nn import HeteroNNGuest, HeteroNNHost

PAILLIER = {"method": "paillier", "key_length": 1024}


def confs() -> tuple[dict[str, Any], dict[str, Any]]:
    g, h = _confs("binary", 1, ADAM)
    return {**g, "encrypt_param": PAILLIER}, {**h, "encrypt_param": PAILLIER}


def _weights(model: Any) -> dict[str, Any]:
    return {k: v.tolist() for k, v in model.weights.items()}


def nn_guest(ctx: Context) -> dict[str, Any]:
    guest, _ = _data(120, "binary", 1)
    algo = HeteroNNGuest(confs()[0])
    model = algo.fit(ctx.sub("hetero_nn_0"), guest)
    pred = algo.predict(ctx.sub("hetero_nn_1"), model, guest)
    return {"weights": _weights(model), "work": model.work, "score": [float(s) for s in pred.score]}


def nn_host(ctx: Context) -> dict[str, Any]:
    _, (host,) = _data(120, "binary", 1)
    algo = HeteroNNHost(confs()[1])
    model = algo.fit(ctx.sub("hetero_nn_0"), host)
    algo.predict(ctx.sub("hetero_nn_1"), model, host)
    return {"weights": _weights(model), "work": model.work}
