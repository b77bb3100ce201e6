"""Hetero NN benchmark (issue 12): guest and host as two OS processes over loopback gRPC, with the
centralised PyTorch network of the same architecture in the same run.

The data is the SecureBoost benchmark's (:func:`fedloom.bench.secureboost.load`):
``make_classification(rows, 30, n_informative=15, n_redundant=5, random_state=0)`` (``rows =
50,000`` for ``synth50k``, or ``--rows N``), split 70/30 stratified with seed 42, standardised
with the training part's mean and standard deviation. The guest holds the label and columns
``x0..x9``, the host ``x10..x29``; every party builds the table itself from the seed before its
clock starts and keeps only its own columns; the ids are ``r0, r1, ...`` (train) and ``t0, t1,
...`` (test) on both sides (the intersection is done).

The network (FATE's ``hetero_nn_train_binary`` shape)::

    guest bottom  Linear(10, 4) + ReLU      host bottom  Linear(20, 4) + ReLU
                        \\                        /
             interactive layer: z = W_B·α_B + W_A·α_A + b   (8 → 4), ReLU
                                      |
                        top  Linear(4, 1) + Sigmoid,  BCELoss

``epochs`` epochs of mini-batches of ``batch_size`` rows, Adam (learning rate ``lr``) for the
bottom and top models, ``interactive_layer_lr`` for the interactive layer, the interactive layer's
dropout off (so the two runs differ only by the protocol), Paillier with ``key_size`` bits or the
``plain`` cipher (``--cipher plain``: the same protocol without encryption, to measure the cost of
the cryptography).

What is measured, inside each party's process (start-up and building the data excluded):

- ``fit_seconds``: the guest's wall time of ``HeteroNNGuest(params).fit(ctx, train, None)`` (key
  generation, every epoch); ``epoch_seconds``: the model's per-epoch wall seconds where its
  summary records them, else ``fit_seconds / epochs`` (``epoch_seconds_source`` says which);
  ``seconds_per_epoch``: their mean;
- ``test_auc``: the guest's predictions of the test part (the host's bottom model and the
  interactive layer over the network), ``predict_seconds`` their time;
- ``bytes``: both parties' bytes sent during fit and predict (``ctx.stats``);
- ``parties``: per party its fit seconds, CPU seconds, bytes sent and peak resident set (MiB, the
  process's maximum since it started: the generated table and torch included);
- ``centralised``: the same architecture as one PyTorch network on the joined table, same
  epochs, batch size, optimisers and loss (batches in row order), trained in the launcher's process after
  the parties have finished (so they do not share the cores): fit seconds and test AUC;
- ``machine``: cores, ``OMP_NUM_THREADS``, torch threads; ``wall_seconds`` (launch to exit),
  ``load_average`` after the run.

``OMP_NUM_THREADS=1 fedloom bench hetero-nn --dataset synth50k --epochs 3 [--rows N]
[--key-size 1024] [--cipher paillier|plain] [--batch-size B] --json``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.bench.common import PaillierKeySize, fit_and_score, party_rows, run_command_line
from fedloom.bench.secureboost import FEATURES, GUEST_COLUMNS, SYNTH_ROWS, frames, load
from fedloom.context import Context
from fedloom.core import PartyId
from fedloom.core.validation import validate
from fedloom.runner.launcher import PartySpec, launch

if TYPE_CHECKING:
    from fedloom.ml.hetero.nn import HeteroNNParams

__all__ = ["DATASETS", "centralised_reference", "conf", "frames", "main", "params", "run"]

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
DATASETS = ("synth50k",)
#: Width of each bottom model's output and of the interactive layer's output.
BOTTOM_OUT, INTERACTIVE_OUT = 4, 4


class _Args(BaseModel):
    """Arguments of :func:`run`, checked before any party starts."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dataset: Literal["synth50k"]
    rows: int | None = Field(default=None, ge=100, le=20_000_000)
    epochs: int = Field(ge=1, le=1000)
    key_size: PaillierKeySize
    cipher: Literal["paillier", "plain"]
    batch_size: int = Field(ge=1, le=10_000_000)
    lr: float = Field(gt=0.0, le=10.0)
    interactive_layer_lr: float = Field(gt=0.0, le=10.0)
    timeout: float = Field(gt=0.0)


def _linear(i: int, o: int) -> dict[str, object]:
    return {"layer": "Linear", "in_features": i, "out_features": o, "bias": True, "initializer": {}}


def conf(
    role: str,
    epochs: int,
    key_size: int = 1024,
    cipher: str = "paillier",
    batch_size: int = 1024,
    lr: float = 0.01,
    interactive_layer_lr: float = 0.01,
    guest_features: int = GUEST_COLUMNS,
    host_features: int = FEATURES - GUEST_COLUMNS,
) -> dict[str, Any]:
    """The benchmark's HeteroNN conf for ``role`` as FATE writes it (a party's merged parameters).

    The guest's has its bottom model and the top model; the host's its bottom model only.
    """
    width = guest_features if role == "guest" else host_features
    out: dict[str, Any] = {
        "epochs": epochs,
        "early_stop": "none",  # every epoch is run and timed
        "batch_size": batch_size,
        "interactive_layer_lr": interactive_layer_lr,
        "task_type": "classification",
        "encrypt_param": {"method": "Paillier" if cipher == "paillier" else "plain", "key_length": key_size},
        "optimizer": {"optimizer": "Adam", "lr": lr, "betas": [0.9, 0.999], "eps": 1e-8,
                      "weight_decay": 0, "amsgrad": False, "config_type": "pytorch"},
        "loss": {"loss_fn": "BCELoss", "reduction": "mean"},
        "interactive_layer_define": {
            "0-0": {"layer": "InteractiveLayer", "out_dim": INTERACTIVE_OUT, "activation": "relu",
                    "dropout": 0.0, "need_guest": True, "host_num": 1, "guest_dim": BOTTOM_OUT,
                    "host_dim": BOTTOM_OUT, "guest_bias": True, "host_bias": True, "initializer": {}},
        },
        "bottom_nn_define": {"0-0": _linear(width, BOTTOM_OUT), "1-1": {"layer": "ReLU", "inplace": False}},
        "top_nn_define": None,
    }  # fmt: skip
    if role == "guest":
        out["top_nn_define"] = {"0-0": _linear(INTERACTIVE_OUT, 1), "1-1": {"layer": "Sigmoid"}}
    return out


def params(role: str, epochs: int, **kwargs: Any) -> HeteroNNParams:
    """The benchmark's parameters for ``role`` (:func:`conf`, checked by the algorithm)."""
    from fedloom.ml.hetero.nn import HeteroNNParams

    return HeteroNNParams.from_dict(conf(role, epochs, **kwargs))


def epoch_seconds(model: Any, fit_seconds: float, epochs: int) -> tuple[list[float], str]:
    """The guest's wall seconds of each epoch from the model's summary, else the fit's mean."""
    summary = model.summary()
    for key in ("epoch_seconds", "seconds_per_epoch", "round_seconds"):
        found = summary.get(key)
        if isinstance(found, Sequence) and found and all(isinstance(v, int | float) for v in found):
            return [round(float(v), 3) for v in found], f"summary.{key}"
    return [round(fit_seconds / epochs, 3)] * epochs, "fit_seconds / epochs"


def party(ctx: Context, role: str, rows: int, epochs: int, **kwargs: Any) -> dict[str, Any]:
    """One party of the benchmark (run by the launcher in its own process)."""
    from fedloom.ml.hetero.nn import HeteroNNGuest, HeteroNNHost

    train, test = frames(role, rows)
    p = params(role, epochs, **kwargs)
    algo = HeteroNNGuest(p) if role == "guest" else HeteroNNHost(p)
    model, out = fit_and_score(ctx, algo, train, test)
    per_epoch, source = epoch_seconds(model, out["fit_seconds"], epochs)
    return {**out, "epoch_seconds": per_epoch, "epoch_seconds_source": source}


def centralised_reference(
    x_guest: np.ndarray,
    x_host: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    interactive_layer_lr: float,
    seed: int = 0,
) -> Any:
    """The benchmark's architecture as one PyTorch network, trained on the joined table.

    Bottom models ``Linear(d, 4) + ReLU`` per party, the interactive layer as two ``Linear(4, 4)``
    summed (one bias, as the federated layer has one when ``guest_bias`` or ``host_bias`` is set)
    and passed through ReLU, the top ``Linear(4, 1) + Sigmoid``; BCELoss (mean), Adam
    (``lr``) for the bottom and top models and SGD (``interactive_layer_lr``) for the interactive
    layer, as the federated interactive layer steps its weights with plain gradient steps;
    mini-batches of ``batch_size`` rows in row order. Returns a function of ``(x_guest, x_host)``
    giving the probability of class 1.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    bottom_g = nn.Sequential(nn.Linear(x_guest.shape[1], BOTTOM_OUT), nn.ReLU())
    bottom_h = nn.Sequential(nn.Linear(x_host.shape[1], BOTTOM_OUT), nn.ReLU())
    # one bias for the layer (the guest's), as the federated layer keeps it
    w_g, w_h = nn.Linear(BOTTOM_OUT, INTERACTIVE_OUT), nn.Linear(BOTTOM_OUT, INTERACTIVE_OUT, bias=False)
    top = nn.Sequential(nn.Linear(INTERACTIVE_OUT, 1), nn.Sigmoid())

    def forward(xg: torch.Tensor, xh: torch.Tensor) -> torch.Tensor:
        return top(torch.relu(w_g(bottom_g(xg)) + w_h(bottom_h(xh)))).squeeze(-1)  # (B,)

    adam = torch.optim.Adam(
        [*bottom_g.parameters(), *bottom_h.parameters(), *top.parameters()], lr=lr, betas=(0.9, 0.999)
    )
    sgd = torch.optim.SGD([*w_g.parameters(), *w_h.parameters()], lr=interactive_layer_lr)
    xg, xh = torch.tensor(x_guest, dtype=torch.float32), torch.tensor(x_host, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)
    loss_fn = nn.BCELoss()
    n = len(yt)
    step = n if batch_size <= 0 else batch_size  # FATE's -1: the whole table as one batch
    for _ in range(epochs):
        for start in range(0, n, step):
            sl = slice(start, start + step)
            adam.zero_grad()
            sgd.zero_grad()
            loss_fn(forward(xg[sl], xh[sl]), yt[sl]).backward()
            adam.step()
            sgd.step()

    def predict(x_g: np.ndarray, x_h: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return forward(
                torch.tensor(x_g, dtype=torch.float32), torch.tensor(x_h, dtype=torch.float32)
            ).numpy()

    return predict


def _centralised(
    rows: int, epochs: int, batch_size: int, lr: float, interactive_layer_lr: float
) -> dict[str, Any]:
    """The centralised network's fit seconds and test AUC on the joined table (same split)."""
    import torch
    from sklearn.metrics import roc_auc_score

    x_tr, y_tr, x_te, y_te = load(rows)
    t0 = time.perf_counter()
    predict = centralised_reference(
        x_tr[:, :GUEST_COLUMNS], x_tr[:, GUEST_COLUMNS:], y_tr, epochs, batch_size, lr, interactive_layer_lr
    )
    seconds = time.perf_counter() - t0
    auc = float(roc_auc_score(y_te, predict(x_te[:, :GUEST_COLUMNS], x_te[:, GUEST_COLUMNS:])))
    return {
        "fit_seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / epochs, 4),
        "test_auc": round(auc, 4),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def run(
    dataset: str = "synth50k",
    epochs: int = 3,
    key_size: int = 1024,
    rows: int | None = None,
    cipher: str = "paillier",
    batch_size: int = 1024,
    lr: float = 0.01,
    interactive_layer_lr: float = 0.01,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Train the hetero NN between a guest and a host process on loopback, and the centralised
    network alike; time both.

    Returns
    -------
    dict
        ``{"dataset", "rows", "train_rows", "epochs", "key_size", "cipher", "batch_size", "lr",
        "interactive_layer_lr", "epoch_seconds", "epoch_seconds_source", "seconds_per_epoch",
        "fit_seconds", "predict_seconds", "test_auc", "bytes", "peak_rss_mib", "parties",
        "centralised", "machine", "wall_seconds", "load_average"}`` (see the module docs).

    Raises
    ------
    ConfigError
        An argument out of range (``dataset`` not synth50k, ``rows`` not in [100, 2·10⁷],
        ``epochs`` not in [1, 1000], ``key_size`` not an even int in [1024, 8192], ``cipher`` not
        paillier/plain, ``batch_size`` not positive, a learning rate not in (0, 10], ``timeout``
        not positive).
    """
    checked: dict[str, Any] = {
        "dataset": dataset,
        "rows": rows,
        "epochs": epochs,
        "key_size": key_size,
        "cipher": cipher,
        "batch_size": batch_size,
        "lr": float(lr),
        "interactive_layer_lr": float(interactive_layer_lr),
        "timeout": timeout,
    }
    validate(_Args, checked, owner="the hetero-nn benchmark")
    n_rows = rows or SYNTH_ROWS
    kwargs: dict[str, Any] = {
        "rows": n_rows,
        "epochs": epochs,
        "key_size": key_size,
        "cipher": cipher,
        "batch_size": batch_size,
        "lr": float(lr),
        "interactive_layer_lr": float(interactive_layer_lr),
    }
    specs = [
        PartySpec(GUEST_PARTY, f"{__name__}:party", {"role": "guest", **kwargs}),
        PartySpec(HOST_PARTY, f"{__name__}:party", {"role": "host", **kwargs}),
    ]
    t0 = time.perf_counter()
    res = launch(specs, job_id="bench-hetero-nn", timeout=timeout)
    wall = time.perf_counter() - t0
    res.raise_for_failure()
    out: dict[PartyId, dict[str, Any]] = res.results()
    central = _centralised(n_rows, epochs, batch_size, float(lr), float(interactive_layer_lr))
    return _report(out, {"dataset": dataset, **kwargs}, central, wall)


def _report(
    out: Mapping[PartyId, Mapping[str, Any]], kwargs: Mapping[str, Any], central: dict[str, Any], wall: float
) -> dict[str, Any]:
    guest = out[GUEST_PARTY]
    per_epoch = guest["epoch_seconds"]
    parties = party_rows(out, ("fit_seconds", "cpu_seconds", "predict_seconds", "bytes_sent", "peak_rss_mib"))
    return {
        **kwargs,
        "train_rows": guest["train_rows"],
        "epoch_seconds": per_epoch,
        "epoch_seconds_source": guest["epoch_seconds_source"],
        "seconds_per_epoch": round(sum(per_epoch) / len(per_epoch), 3),
        "fit_seconds": round(guest["fit_seconds"], 3),
        "predict_seconds": round(guest["predict_seconds"], 3),
        "test_auc": round(guest["test_auc"], 4),
        "bytes": sum(int(o["bytes_sent"]) for o in out.values()),
        "peak_rss_mib": {str(p): round(o["peak_rss_mib"], 1) for p, o in out.items()},
        "parties": parties,
        "centralised": central,
        "machine": {"cpu_count": os.cpu_count(), "omp_num_threads": guest["omp_num_threads"]},
        "wall_seconds": round(wall, 3),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--dataset synth50k] [--rows N] [--epochs E] [--key-size BITS]
    [--cipher paillier|plain] [--batch-size B] [--json]``."""
    parser = argparse.ArgumentParser(description="Hetero NN between two processes on loopback.")
    parser.add_argument("--dataset", choices=DATASETS, default="synth50k")
    parser.add_argument("--rows", type=int, default=None, help="rows of the generated table (50,000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--key-size", type=int, default=1024, help="Paillier key bits")
    parser.add_argument("--cipher", choices=("paillier", "plain"), default="paillier")
    parser.add_argument("--batch-size", type=int, default=1024)
    return run_command_line(parser, argv, run)


if __name__ == "__main__":
    sys.exit(main())
