"""Data, a centralised NumPy reference and launcher targets for the hetero GLM tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedloom.context import Context
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm.batch import BatchPlan
from fedloom.ml.hetero.glm.optimizer import Optimizer, init_weights
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams

DATA = Path(__file__).resolve().parents[4] / "shared" / "fate_examples" / "data"


# -- data ------------------------------------------------------------------------------------------
def breast() -> tuple[Frame, Frame]:
    """FATE's breast_hetero data: guest (label + 10 columns) and host (20 columns), aligned."""
    g = pd.read_csv(DATA / "breast_hetero_guest.csv")
    h = pd.read_csv(DATA / "breast_hetero_host.csv").set_index("id").loc[g["id"]].reset_index()
    gcols = [c for c in g.columns if c not in ("id", "y")]
    hcols = [c for c in h.columns if c != "id"]
    guest = Frame(g["id"].to_numpy(), g[gcols].to_numpy(), gcols, label=g["y"].to_numpy(), table="breast_g")
    host = Frame(h["id"].to_numpy(), h[hcols].to_numpy(), [f"h_{c}" for c in hcols], table="breast_h")
    return guest, host


def split(frame: Frame, train_pos: np.ndarray, test_pos: np.ndarray) -> tuple[Frame, Frame]:
    return frame.take(train_pos), frame.take(test_pos)


def regression_data(
    kind: str, n: int = 240, m_g: int = 3, m_h: tuple[int, ...] = (4,), seed: int = 0
) -> tuple[Frame, list[Frame], np.ndarray]:
    """Synthetic aligned frames for LinR / Poisson; returns guest, hosts and the exposure."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i}" for i in range(n)]
    xg = rng.normal(size=(n, m_g)) * 0.5
    xh = [rng.normal(size=(n, k)) * 0.5 for k in m_h]
    w = rng.normal(size=m_g + sum(m_h)) * 0.3
    z = np.hstack([xg, *xh]) @ w
    exposure = rng.uniform(0.5, 2.0, size=n)
    if kind == "linr":
        y = z + 0.1 * rng.normal(size=n) + 1.0
        guest = Frame(ids, xg, [f"g{i}" for i in range(m_g)], label=y)
    else:
        y = rng.poisson(np.exp(z) * exposure).astype(np.float64)
        guest = Frame(
            ids, np.hstack([xg, exposure[:, None]]), [*(f"g{i}" for i in range(m_g)), "exposure"], label=y
        )
    hosts = [Frame(ids, x, [f"h{j}_{i}" for i in range(x.shape[1])]) for j, x in enumerate(xh)]
    return guest, hosts, exposure


# -- centralised reference -------------------------------------------------------------------------
def central_fit(
    kind: str,
    p: GLMParams,
    xg: np.ndarray,
    xhs: list[np.ndarray],
    y: np.ndarray,
    offset: np.ndarray | None = None,
    k: int = 0,
) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
    """The same Taylor-approximated (LR) / exact (LinR, Poisson) mini-batch descent on joined data.

    Each party's block of weights is stepped by its own optimiser, as in the protocol (every
    optimiser is element-wise, so this equals one optimiser over the joined vector). ``y`` is
    ±1 for LR. Returns the guest's weights (intercept last), the hosts' and the loss per epoch.
    """
    n = len(y)
    off = np.zeros(n) if offset is None else offset
    has_b = p.init_param.fit_intercept
    m = xg.shape[1]
    wg = init_weights(p, m + (1 if has_b else 0), seed_offset=k)
    whs = [init_weights(p, x.shape[1], seed_offset=k) for x in xhs]
    og = Optimizer(p, len(wg), has_b)
    ohs = [Optimizer(p, x.shape[1], False) for x in xhs]
    plan = BatchPlan.make(n, p.batch_size, p.shuffle, p.init_param.random_seed)
    losses = []
    for e in range(p.max_iter):
        total = 0.0
        for b in range(plan.n_batches):
            r = plan.rows(b)
            wx = xg[r] @ wg[:m] + (wg[m] if has_b else 0.0) + off[r]
            for x, wh in zip(xhs, whs, strict=True):
                wx = wx + x[r] @ wh
            if kind == "lr":
                d = 0.25 * wx - 0.5 * y[r]
                loss = np.log(2) - 0.5 * y[r] * wx + 0.125 * wx**2
            elif kind == "linr":
                d = wx - y[r]
                loss = 0.5 * d**2
            else:
                d = np.exp(wx) - y[r]
                loss = np.exp(wx) - y[r] * wx
            pen = og.penalty(wg) + sum(o.penalty(wh) for o, wh in zip(ohs, whs, strict=True))
            total += float(loss.sum()) + len(r) * pen
            gg = xg[r].T @ d / len(r)
            if has_b:
                gg = np.append(gg, d.mean())
            wg = og.step(wg, gg, e)
            whs = [o.step(wh, x[r].T @ d / len(r), e) for o, wh, x in zip(ohs, whs, xhs, strict=True)]
        losses.append(total / n)
    return wg, whs, losses


# -- launcher targets ----------------------------------------------------------------------------
PROCESS_PARAMS: dict[str, Any] = {
    "penalty": "L2",
    "alpha": 0.01,
    "optimizer": "rmsprop",
    "batch_size": 320,
    "learning_rate": 0.15,
    "max_iter": 2,
    "init_param": {"init_method": "zeros", "random_seed": 7},
    "encrypt_param": {"key_length": 1024},
}


def lr_guest(ctx: Context) -> dict[str, Any]:
    guest, _ = breast()
    p = HeteroLRParams.from_dict(PROCESS_PARAMS)
    algo = HeteroLRGuest(p)
    model = algo.fit(ctx.sub("fit"), guest)
    pred = algo.predict(ctx.sub("predict"), HeteroLRGuest.model_class.from_dict(model.to_dict()), guest)
    from sklearn.metrics import roc_auc_score

    return {"model": model.to_dict(), "auc": float(roc_auc_score(guest.label, pred.score))}


def lr_host(ctx: Context) -> dict[str, Any]:
    _, host = breast()
    p = HeteroLRParams.from_dict(PROCESS_PARAMS)
    model = HeteroLRHost(p).fit(ctx.sub("fit"), host)
    HeteroLRHost(p).predict(ctx.sub("predict"), model, host)
    return {"model": model.to_dict()}


def lr_arbiter(ctx: Context) -> dict[str, Any]:
    p = HeteroLRParams.from_dict(PROCESS_PARAMS)
    model = HeteroLRArbiter(p).fit(ctx.sub("fit"))
    HeteroLRArbiter(p).predict(ctx.sub("predict"), model)
    return {"model": model.to_dict()}
