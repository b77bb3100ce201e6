"""Hetero NN's test AUC on FATE's breast and default_credit is within 0.02 of the centralised
network's of the same architecture.

Each data set is FATE's guest and host tables joined on id, split 70/30 stratified with seed 42;
the guest keeps the label and its columns, the host its columns (same rows, same order). The
network, federated and centralised alike::

    guest bottom  Linear(d_guest, 4) + ReLU      host bottom  Linear(d_host, 4) + ReLU
    interactive   z = W_g·α_g + W_h·α_h + b  (4 + 4 → 4), ReLU    (one bias, no dropout)
    top           Linear(4, 1) + Sigmoid,  BCELoss (mean)

trained for ``EPOCHS`` epochs of ``BATCH`` rows with Adam (``LR``) on the bottom and top models
and plain SGD (``INTERACTIVE_LR``) on the interactive weights, as the federated layer steps them.
The centralised network is written here in plain PyTorch and trained in the same test on the
joined table. The initial weights and the batch order differ between the two (each its own
seed), hence a tolerance and not equality (the exactness claim, same start and same batches, is
the protocol's own test). Paillier 1024 on breast; the plain cipher on default_credit's 21,000
training rows to keep the test short (the protocol, noise included, is the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tests.fate_jobs import FATE_DATA, hetero_tables, stratified_split

from fedloom.core.roles import PartyId
from fedloom.data.frame import Frame
from fedloom.testing import run_parties

hnn = pytest.importorskip("fedloom.ml.hetero.nn")
torch = pytest.importorskip("torch")

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
BOTTOM, INTERACTIVE = 4, 4
LR, INTERACTIVE_LR = 0.01, 0.05
#: (epochs, batch rows) per data set: enough steps for both networks to settle.
SETTINGS = {"breast": (5, 32), "default_credit": (5, 128)}

pytestmark = [pytest.mark.skipif(not FATE_DATA.is_dir(), reason="FATE data not present"), pytest.mark.slow]


def conf(role: str, width: int, epochs: int, batch: int, cipher: str) -> dict[str, Any]:
    """A party's HeteroNN parameters as a FATE conf writes them (after the common/role merge)."""
    linear = {"layer": "Linear", "in_features": width, "out_features": BOTTOM, "bias": True}
    out: dict[str, Any] = {
        "task_type": "classification",
        "epochs": epochs,
        "batch_size": batch,
        "early_stop": "none",
        "interactive_layer_lr": INTERACTIVE_LR,
        "optimizer": {"optimizer": "Adam", "lr": LR, "betas": [0.9, 0.999], "eps": 1e-8},
        "loss": {"loss_fn": "BCELoss", "reduction": "mean"},
        "encrypt_param": {"method": cipher, "key_length": 1024},
        "bottom_nn_define": {"0-0": linear, "1-1": {"layer": "ReLU"}},
        "interactive_layer_define": {
            "0-0": {"layer": "InteractiveLayer", "out_dim": INTERACTIVE, "activation": "relu", "dropout": 0.0,
                    "guest_dim": BOTTOM, "host_dim": BOTTOM, "host_num": 1},
        },
        "seed": 7,
    }  # fmt: skip
    if role == "guest":
        out["top_nn_define"] = {
            "0-0": {"layer": "Linear", "in_features": INTERACTIVE, "out_features": 1},
            "1-1": {"layer": "Sigmoid"},
        }
    return out


def centralised(d_guest: int, d_host: int) -> Any:
    """The split network as one PyTorch module dict (module docstring)."""
    nn = torch.nn
    return nn.ModuleDict(
        {
            "bottom_guest": nn.Sequential(nn.Linear(d_guest, BOTTOM), nn.ReLU()),
            "bottom_host": nn.Sequential(nn.Linear(d_host, BOTTOM), nn.ReLU()),
            "w_guest": nn.Linear(BOTTOM, INTERACTIVE),  # carries the layer's one bias
            "w_host": nn.Linear(BOTTOM, INTERACTIVE, bias=False),
            "top": nn.Sequential(nn.Linear(INTERACTIVE, 1), nn.Sigmoid()),
        }
    )


def forward(net: Any, xg: Any, xh: Any) -> Any:
    z = net["w_guest"](net["bottom_guest"](xg)) + net["w_host"](net["bottom_host"](xh))  # (B, 4)
    return net["top"](torch.relu(z)).squeeze(-1)  # (B,)


def centralised_auc(xg: np.ndarray, xh: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray,
                    epochs: int, batch: int) -> float:  # fmt: skip
    """Test AUC of :func:`centralised` trained on the joined training rows (shuffled batches)."""
    torch.manual_seed(0)
    net = centralised(xg.shape[1], xh.shape[1])
    interactive = [*net["w_guest"].parameters(), *net["w_host"].parameters()]
    rest = [p for k in ("bottom_guest", "bottom_host", "top") for p in net[k].parameters()]
    adam, sgd = torch.optim.Adam(rest, lr=LR), torch.optim.SGD(interactive, lr=INTERACTIVE_LR)
    g, h = torch.tensor(xg, dtype=torch.float32), torch.tensor(xh, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.as_tensor(tr)[torch.randperm(len(tr), generator=gen)]
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            adam.zero_grad()
            sgd.zero_grad()
            torch.nn.functional.binary_cross_entropy(forward(net, g[rows], h[rows]), target[rows]).backward()
            adam.step()
            sgd.step()
    with torch.no_grad():
        p = forward(net, g[te], h[te]).numpy()
    return float(roc_auc_score(y[te], p))


def federated_auc(name: str, cipher: str) -> tuple[float, float]:
    """Test AUC of the hetero NN (guest and host in memory) and of the centralised network."""
    ids, gx, hx, y, gnames, hnames = hetero_tables(name)
    tr, te = stratified_split(y)
    epochs, batch = SETTINGS[name]
    gp = hnn.HeteroNNParams.from_dict(conf("guest", gx.shape[1], epochs, batch, cipher))
    hp = hnn.HeteroNNParams.from_dict(conf("host", hx.shape[1], epochs, batch, cipher))

    def guest(ctx: Any) -> Any:
        role = hnn.HeteroNNGuest(gp)
        model = role.fit(ctx.sub("fit"), Frame(ids[tr], gx[tr], gnames, label=y[tr]), None)
        return role.predict(ctx.sub("predict"), model, Frame(ids[te], gx[te], gnames, label=y[te]))

    def host(ctx: Any) -> None:
        role = hnn.HeteroNNHost(hp)
        model = role.fit(ctx.sub("fit"), Frame(ids[tr], hx[tr], hnames), None)
        role.predict(ctx.sub("predict"), model, Frame(ids[te], hx[te], hnames))

    pred = run_parties({GUEST: guest, HOST: host}, timeout=300)[GUEST]
    assert list(pred.ids) == list(ids[te])
    fed = float(roc_auc_score(y[te], np.asarray(pred.score)))
    return fed, centralised_auc(gx, hx, y, tr, te, epochs, batch)


@pytest.mark.parametrize(("name", "cipher"), [("breast", "Paillier"), ("default_credit", "plain")])
def test_test_auc_is_within_0_02_of_the_centralised_network(name: str, cipher: str) -> None:
    # Execute
    fed, central = federated_auc(name, cipher)
    # Assert
    assert abs(fed - central) <= 0.02, (fed, central)
    assert fed > {"breast": 0.95, "default_credit": 0.7}[name]  # and both learned something real
