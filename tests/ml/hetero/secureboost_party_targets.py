"""Launcher targets for the SecureBoost process test: FATE's breast data, FATE's binary conf."""

from __future__ import annotations

from typing import Any

from binning_party_targets import breast

from fedloom.context import Context
from fedloom.ml.hetero.secureboost import HeteroSecureBoostGuest, HeteroSecureBoostHost

#: FATE's test_secureboost_train_binary_conf (hetero_secure_boost_0), three trees.
PARAMS: dict[str, Any] = {
    "task_type": "classification",
    "objective_param": {"objective": "cross_entropy"},
    "num_trees": 3,
    "validation_freqs": 1,
    "encrypt_param": {"method": "Paillier", "key_length": 1024},
    "tree_param": {"max_depth": 3},
}


def secureboost_guest(ctx: Context) -> dict[str, Any]:
    guest, _ = breast()
    c = ctx.sub("hetero_secure_boost_0")
    model = HeteroSecureBoostGuest(PARAMS).fit(c, guest, guest)
    pred = HeteroSecureBoostGuest(PARAMS).predict(c.sub("predict"), model, guest)
    return {"model": model.to_dict(), "score": pred.score.tolist(), "label": guest.label.tolist()}


def secureboost_host(ctx: Context) -> dict[str, Any]:
    _, host = breast()
    c = ctx.sub("hetero_secure_boost_0")
    model = HeteroSecureBoostHost(PARAMS).fit(c, host, host)
    HeteroSecureBoostHost(PARAMS).predict(c.sub("predict"), model, host)
    return {"model": model.to_dict()}
