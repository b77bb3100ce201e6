"""``HomoNN``: horizontal neural networks by FedAvg with secure aggregation, on tabular Frames.

A registration of :mod:`fedloom.ml.homo.nn_tabular` on the model-component base
(:mod:`fedloom.components.model`). Guest and hosts are the clients, the arbiter aggregates. The
network comes from FATE's conf, as ``nn_define`` of ``torch.nn`` layers, a keras ``Sequential``
(``config_type: keras``) or a model of :mod:`fedloom.models.recipe` (fedloom's ``model``); the
parameters are checked by :class:`fedloom.ml.homo.nn_conf.HomoNNConf`, which says what is accepted.

Labels: class indices ``0..K-1`` for ``CrossEntropyLoss`` / ``NLLLoss`` (K = the output width);
0/1 for ``BCELoss`` / ``BCEWithLogitsLoss`` (one output); numbers for regression losses.

Outputs as :mod:`fedloom.components.homo_lr`: predictions in FATE's layout on guest and hosts, a
model everywhere (a client's: architecture and loss in ``model.json``, the weights in
``weights.safetensors`` next to it; the arbiter's: the rounds it aggregated), the round history
as metrics. torch is imported when a job trains or predicts, not when this module registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedloom.components.model import Algorithm, register_model_component

if TYPE_CHECKING:
    from fedloom.ml.homo.nn_conf import HomoNNConf
    from fedloom.ml.homo.nn_tabular import HomoNNModel

__all__ = ["HOMO_NN", "MODULE", "SPEC", "HomoNNComponentParams"]

MODULE = "HomoNN"


def _homo_nn() -> Algorithm[HomoNNConf, HomoNNModel]:
    from fedloom.ml.homo.nn_conf import HomoNNConf
    from fedloom.ml.homo.nn_tabular import HomoNNFrameArbiter, HomoNNFrameClient, HomoNNModel

    return Algorithm(HomoNNConf, HomoNNFrameClient, HomoNNFrameClient, HomoNNFrameArbiter, HomoNNModel)


HOMO_NN = register_model_component(
    MODULE,
    _homo_nn,
    "Horizontal neural network: FedAvg of a torch model over guest and hosts, secure aggregation.",
)
#: The DSL's module spec (as every component module names it).
SPEC = HOMO_NN.spec
#: The DSL's parameter model of ``HomoNN`` (the conf as written, checked by HomoNNConf).
HomoNNComponentParams = HOMO_NN.params_model
