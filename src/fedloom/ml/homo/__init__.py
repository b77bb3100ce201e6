"""Horizontal (homo) federated learning: FedAvg with secure aggregation.

- :mod:`.nn` — :class:`HomoNNClient` / :class:`HomoNNArbiter`: FedAvg of any torch model (torch is
  imported only when this submodule is);
- :mod:`.lr` — :class:`HomoLRClient` / :class:`HomoLRArbiter`: logistic regression in numpy with
  FATE's HomoLR parameters (multi-class one-vs-rest, the class list agreed by :mod:`.classes`);
- :mod:`.client` / :mod:`.arbiter` — the round loop both share; :mod:`.messages` — its channels;
  :mod:`.params` — parameters (pydantic, FATE's names, one message shape);
- :mod:`.nn_conf` — FATE's ``HomoNN`` conf (the network and its training); :mod:`.nn_tabular` —
  HomoNN on tabular Frames: the roles the ``HomoNN`` component binds, predictions, weights as
  safetensors.

The clients are the guest and every host; the arbiter aggregates ``Σ n_i·w_i / Σ n_i`` through
:mod:`fedloom.protocols.secure_aggregation`, so it learns only sums.

::

    HomoNNClient(params, model_factory).fit(ctx, (x, y))     # guest and each host
    HomoNNArbiter(params).fit(ctx)                            # arbiter
"""

from __future__ import annotations

from fedloom.ml.homo.arbiter import FedAvgArbiter, FedAvgResult
from fedloom.ml.homo.client import FedAvgClient, FedAvgHistory
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import FedAvgParams, HomoLRParams, HomoNNParams

__all__ = [
    "FedAvgArbiter",
    "FedAvgClient",
    "FedAvgHistory",
    "FedAvgParams",
    "FedAvgResult",
    "HomoLRArbiter",
    "HomoLRClient",
    "HomoLRModel",
    "HomoLRParams",
    "HomoNNArbiter",
    "HomoNNClient",
    "HomoNNParams",
]


def __getattr__(name: str) -> type:
    # HomoNN* live in .nn, which imports torch: load it only when asked for.
    if name in ("HomoNNClient", "HomoNNArbiter"):
        from fedloom.ml.homo import nn

        return getattr(nn, name)
    raise AttributeError(name)
