"""Hetero NN equals the same split network trained centrally (written here in plain PyTorch):
multi-class, regression, two hosts, SelectiveBP, warm start, and federated predict.

The plain cipher (the protocol's integer arithmetic without encryption) keeps these fast;
``test_nn_exact.py`` runs the same comparison under Paillier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fedloom.core.roles import PartyId  # noqa: E402
from fedloom.data.frame import Frame  # noqa: E402
from fedloom.ml.hetero.nn import HeteroNNGuest, HeteroNNHost, HeteroNNModel, select_rows  # noqa: E402
from fedloom.ml.hetero.nn import protocol as pr  # noqa: E402
from fedloom.testing import run_parties  # noqa: E402

GUEST = PartyId.parse("guest:9999")
HOSTS = [PartyId.parse("host:10000"), PartyId.parse("host:10001")]
SEED = 5
OUT = 3


def _lin(i: int, o: int) -> dict[str, Any]:
    return {"layer": "Linear", "in_features": i, "out_features": o}


def _data(n: int, task: str, hosts: int) -> tuple[Frame, list[Frame]]:
    rng = np.random.default_rng(11)
    xg = rng.normal(size=(n, 3))
    xhs = [rng.normal(size=(n, 4)) for _ in range(hosts)]
    score = xg[:, 0] + sum(x[:, 1] for x in xhs) - 0.5 * xhs[0][:, 2]
    if task == "multi":
        y = np.digitize(score, [-0.7, 0.7]).astype(float)
    elif task == "regression":
        y = score + 0.1 * rng.normal(size=n)
    else:
        y = (score > 0).astype(float)
    ids = np.array([f"id{i}" for i in range(n)])
    guest = Frame(ids, xg, ["g0", "g1", "g2"], label=y)
    return guest, [Frame(ids, x, [f"h{j}" for j in range(4)]) for x in xhs]


def _top(task: str) -> list[dict[str, Any]]:
    if task == "multi":
        return [_lin(OUT, 3)]
    if task == "regression":
        return [_lin(OUT, 1)]
    return [_lin(OUT, 1), {"layer": "Sigmoid"}]


def _loss(task: str) -> str:
    return {"multi": "CrossEntropyLoss", "regression": "MSELoss"}.get(task, "BCELoss")


def _confs(task: str, hosts: int, optimizer: dict, **extra: Any) -> tuple[dict, dict]:
    common = {
        "epochs": 1,
        "batch_size": 40,
        "interactive_layer_lr": 0.1,
        "early_stop": "none",
        "task_type": "regression" if task == "regression" else "classification",
        "interactive_layer_define": {
            "0-0": {
                "layer": "InteractiveLayer",
                "out_dim": OUT,
                "activation": "relu",
                "guest_dim": 2,
                "host_dim": 2,
                "host_num": hosts,
            }
        },
        "optimizer": optimizer,
        "loss": {"loss_fn": _loss(task)},
        "encrypt_param": {"method": "plain", "key_length": 1024},
        "floating_point_precision": 40,
        "seed": SEED,
        **extra,
    }
    g = {
        **common,
        "bottom_nn_define": {"0-0": _lin(3, 2), "1-1": {"layer": "Tanh"}},
        "top_nn_define": {str(i): layer for i, layer in enumerate(_top(task))},
    }
    h = {**common, "bottom_nn_define": {"0-0": _lin(4, 2), "1-1": {"layer": "ReLU"}}}
    return g, h


ADAM = {"optimizer": "Adam", "lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8}
SGD = {"optimizer": "SGD", "lr": 0.1}


class Central:
    """The split network in one process: the parties' modules, initial weights and batches."""

    def __init__(self, task: str, hosts: int, optimizer: dict) -> None:
        self.task = task
        self.gb = pr.build_module([_lin(3, 2), {"layer": "Tanh"}], SEED)
        self.hbs = [pr.build_module([_lin(4, 2), {"layer": "ReLU"}], SEED + 1 + i) for i in range(hosts)]
        self.top = pr.build_module(_top(task), SEED + 100)
        wb, was, b = pr.init_interactive(SEED, 2, [2] * hosts, OUT, True)
        self.wb = torch.nn.Parameter(torch.from_numpy(wb))
        self.was = [torch.nn.Parameter(torch.from_numpy(w)) for w in was]
        self.b = torch.nn.Parameter(torch.from_numpy(b))
        self.optimizer = optimizer

    def _opt(self, params: list) -> Any:
        o = self.optimizer
        if o["optimizer"] == "Adam":
            return torch.optim.Adam(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])
        return torch.optim.SGD(params, lr=o["lr"])

    def output(self, xg: Any, xhs: list) -> Any:
        z = self.gb(xg) @ self.wb + self.b
        for hb, wa, xh in zip(self.hbs, self.was, xhs, strict=True):
            z = z + hb(xh) @ wa
        return self.top(torch.relu(z))

    def per_sample(self, out: Any, y: Any) -> Any:
        f = torch.nn.functional
        if self.task == "multi":
            return f.cross_entropy(out, y.long(), reduction="none")
        if self.task == "regression":
            return f.mse_loss(out, y.reshape(-1, 1), reduction="none").mean(dim=1)
        return f.binary_cross_entropy(out, y.reshape(-1, 1), reduction="none").mean(dim=1)

    def train(
        self, guest: Frame, hosts: list[Frame], epochs: list[int], selector: dict | None = None
    ) -> None:
        # A fresh optimiser per fit, as the parties build theirs (warm start: a second fit).
        opt_g = self._opt(list(self.top.parameters()) + list(self.gb.parameters()))
        opt_hs = [self._opt(list(hb.parameters())) for hb in self.hbs]
        opt_i = torch.optim.SGD([self.wb, *self.was, self.b], lr=0.1)
        xg = torch.from_numpy(guest.features)
        xhs = [torch.from_numpy(h.features) for h in hosts]
        y = torch.from_numpy(np.asarray(guest.label, dtype=np.float64))
        rng = np.random.default_rng(selector["random_state"]) if selector else None
        for epoch in epochs:
            for idx in pr.batches(guest.n_rows, 40, SEED, epoch):
                losses = self.per_sample(self.output(xg[idx], [x[idx] for x in xhs]), y[idx])
                sel = np.arange(len(idx))
                if selector is not None:
                    assert rng is not None
                    sel = select_rows(losses.detach().numpy(), selector["beta"], selector["min_prob"], rng)
                for o in (opt_g, *opt_hs, opt_i):
                    o.zero_grad()
                losses[torch.from_numpy(sel)].mean().backward()
                for o in (opt_g, *opt_hs, opt_i):
                    o.step()

    def weights(self) -> dict[str, np.ndarray]:
        out = {f"bottom.{k}": v.detach().numpy() for k, v in self.gb.state_dict().items()}
        out.update({f"top.{k}": v.detach().numpy() for k, v in self.top.state_dict().items()})
        for i, hb in enumerate(self.hbs):
            out.update({f"host{i}.{k}": v.detach().numpy() for k, v in hb.state_dict().items()})
            out[f"wa{i}"] = self.was[i].detach().numpy()
        out.update(wb=self.wb.detach().numpy(), b=self.b.detach().numpy())
        return out


def _fit(
    guest: Frame,
    hosts: list[Frame],
    gp: dict,
    hp: dict,
    init: dict[PartyId, HeteroNNModel] | None = None,
) -> dict[PartyId, HeteroNNModel]:
    init = init or {}
    fns: dict[PartyId, Any] = {GUEST: lambda ctx: HeteroNNGuest(gp).fit(ctx, guest, None, init.get(GUEST))}
    for party, frame in zip(HOSTS, hosts, strict=False):
        fns[party] = (lambda f, pt: lambda ctx: HeteroNNHost(hp).fit(ctx, f, None, init.get(pt)))(
            frame, party
        )
    return run_parties(fns, timeout=120)


def _federated_weights(res: dict[PartyId, HeteroNNModel], hosts: int) -> dict[str, np.ndarray]:
    gw = res[GUEST].weights
    out = {k: v for k, v in gw.items() if k.startswith(("bottom.", "top."))}
    for i in range(hosts):
        hw = res[HOSTS[i]].weights
        out.update({f"host{i}.{k[7:]}": v for k, v in hw.items() if k.startswith("bottom.")})
        # The true host weights: the guest's noised W'_A plus that host's accumulated noise.
        out[f"wa{i}"] = gw[f"interactive.host_weight.{i}"] + hw["interactive.acc_noise"]
        assert np.abs(hw["interactive.acc_noise"]).max() > 0.01
    out.update(wb=gw["interactive.guest_weight"], b=gw["interactive.bias"])
    return out


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert set(a) == set(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# -- tests ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("task", "hosts"), [("multi", 1), ("regression", 1), ("binary", 2)])
def test_equals_central_training_and_predicts_alike(task: str, hosts: int) -> None:
    # Prepare
    guest, hframes = _data(120, task, hosts)
    gp, hp = _confs(task, hosts, ADAM)
    central = Central(task, hosts, ADAM)
    # Execute
    res = _fit(guest, hframes, gp, hp)
    central.train(guest, hframes, [0])
    preds = run_parties(
        {
            GUEST: lambda ctx: HeteroNNGuest(gp).predict(ctx, res[GUEST], guest),
            **{
                p: (lambda m, fr: lambda ctx: HeteroNNHost(hp).predict(ctx, m, fr))(res[p], frame)
                for p, frame in zip(HOSTS, hframes, strict=False)
            },
        },
        timeout=60,
    )[GUEST]
    # Assert: same parameters (fixed-point rounding at 2^-41 is far below 1e-6), same outputs
    assert _max_diff(_federated_weights(res, hosts), central.weights()) < 1e-6
    with torch.no_grad():
        out = central.output(
            torch.from_numpy(guest.features), [torch.from_numpy(h.features) for h in hframes]
        ).numpy()
    if task == "multi":
        probs = np.exp(out - out.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(preds.score, probs, atol=1e-6)
        assert res[GUEST].classes == [0.0, 1.0, 2.0]
    else:
        np.testing.assert_allclose(np.asarray(preds.score), out[:, 0], atol=1e-6)
    assert res[GUEST].summary()["epochs"] == 1


def test_selective_bp_equals_central_with_the_same_selection() -> None:
    # Prepare: FATE's selector (relative, beta 1, min_prob 0.1)
    selector = {"method": "relative", "beta": 1.0, "min_prob": 0.1, "random_state": 100, "selective_size": 64}
    guest, hframes = _data(120, "binary", 1)
    gp, hp = _confs("binary", 1, ADAM, selector_param=selector)
    central = Central("binary", 1, ADAM)
    # Execute
    res = _fit(guest, hframes, gp, hp)
    central.train(guest, hframes, [0], selector)
    # Assert: fewer rows were back-propagated, and the same ones as centrally
    selected = res[GUEST].history["selected"][0]
    assert 40 < selected < 120
    assert _max_diff(_federated_weights(res, 1), central.weights()) < 1e-6


def test_warm_start_continues_from_the_stored_models() -> None:
    # Prepare: SGD (no optimiser state to lose between fits)
    guest, hframes = _data(120, "binary", 1)
    gp, hp = _confs("binary", 1, SGD)
    central = Central("binary", 1, SGD)
    first = _fit(guest, hframes, gp, hp)
    stored = {p: HeteroNNModel.from_dict(m.to_dict()) for p, m in first.items()}
    # Execute
    second = _fit(guest, hframes, gp, hp, init=stored)
    central.train(guest, hframes, [0])
    central.train(guest, hframes, [0])
    # Assert
    assert _max_diff(_federated_weights(second, 1), central.weights()) < 1e-6
    assert _max_diff(_federated_weights(first, 1), central.weights()) > 1e-3  # it did move on
