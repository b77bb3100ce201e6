"""``HomoLR``: horizontal logistic regression by FedAvg with secure aggregation.

A registration of :mod:`fedloom.ml.homo.lr` on the model-component base
(:mod:`fedloom.components.model`). Guest and hosts are the clients (each with labelled rows of
the same columns), the arbiter aggregates. FATE's parameter names are checked by
:meth:`fedloom.ml.homo.params.HomoLRParams.from_dict` (an unknown name, or
``encrypt_param.method: Paillier``, is a :class:`~fedloom.core.ConfigError` naming the field);
fedloom adds ``secure_aggregate`` (default true) and ``scale_bits``.

**Multi-class** (labels other than 0 / 1 on any client): FATE's one-vs-rest, one binary FedAvg per
class after the clients agree the class list by secure aggregation (the arbiter learns the union
of the label values only: :mod:`fedloom.ml.homo.classes`); predictions are the argmax of the
per-class scores, each class's score in ``predict_detail``.

**Train**: every client fits, then predicts its own rows. **Predict**: each client predicts its
rows with its stored model; no message is exchanged. Guest and hosts output predictions in FATE's
layout; every party stores the global model (the arbiter's holds no schema); metrics are the rounds,
convergence and loss history.

Importing this module registers ``HomoLR`` with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

from fedloom.components.model import Algorithm, register_model_component
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import HomoLRParams

__all__ = ["HOMO_LR", "MODULE", "SPEC", "HomoLRComponentParams"]

MODULE = "HomoLR"


def _homo_lr() -> Algorithm[HomoLRParams, HomoLRModel]:
    return Algorithm(HomoLRParams, HomoLRClient, HomoLRClient, HomoLRArbiter, HomoLRModel)


HOMO_LR = register_model_component(
    MODULE, _homo_lr, "Horizontal logistic regression: FedAvg over guest and hosts with secure aggregation."
)
#: The DSL's module spec (as every component module names it).
SPEC = HOMO_LR.spec
#: The DSL's parameter model of ``HomoLR`` (the conf as written, checked by HomoLRParams).
HomoLRComponentParams = HOMO_LR.params_model
