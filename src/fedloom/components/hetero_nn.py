"""``HeteroNN``: split neural networks with an encrypted interactive layer (:mod:`fedloom.ml.hetero.nn`)
as a model component.

A registration of the algorithm package on the model-component base
(:mod:`fedloom.components.model`, which says what a component reads, stores and outputs). Two
roles, no arbiter: the guest holds the label, its bottom model, the interactive layer and the top
model; each host holds its features and its bottom model only. FATE 1.x's parameter names
(``bottom_nn_define`` per party, ``interactive_layer_define``, ``top_nn_define`` on the guest,
``optimizer`` / ``loss`` as PyTorch-style configs, ``interactive_layer_lr``, ``epochs``,
``batch_size``, ``encrypt_param``, ``selector_param``...), checked by
``HeteroNNParams.from_dict``. FATE's examples write ``"bottom_nn_define": null`` and
``"top_nn_define": null`` in ``common`` and the real defines per role; the job loader merges
``common`` ← ``role`` before the algorithm checks them, so each party sees its own network.

The forward pass of each batch, in one line (the algorithm's docstring has the whole protocol
and what each party learns): the host sends its encrypted bottom output [α_A]; the guest forms
[α_A]·W_A plus a noise ε_B; the host decrypts, adds α_A·ε_acc and returns it; the guest removes
ε_B and adds its own z_B, then the activation and the top model. The backward pass returns a
noised gradient of W_A to the host to decrypt and the host's input gradient through
[δ·(W_A + ε_acc)ᵀ].

The guest's data output is, per row, in FATE's layout: the probability of the positive class
(binary), the class probabilities (multi-class) or the predicted value (regression). Every party
stores its own part of the model (``HeteroNNModel.to_dict()``): the guest its bottom model, its
interactive weights and bias, each host's *noised* interactive weights ``W_A − ε_acc`` (never the
true ones) and the top model; a host its bottom model and its accumulated noise ``ε_acc`` (so a
prediction needs both parties, as training did). The weights are one ``weights.safetensors`` file
next to ``model.json`` (a ``bytes`` value of the model, written as a file by the base).

Importing this module registers the component with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedloom.components.model import Algorithm, register_model_component
from fedloom.core.roles import GUEST, HOST

if TYPE_CHECKING:
    from fedloom.ml.hetero.nn import HeteroNNModel, HeteroNNParams

__all__ = ["HETERO_NN"]


# The algorithm loads when a job first needs it: importing it loads torch and the crypto stack.
def _hetero_nn() -> Algorithm[HeteroNNParams, HeteroNNModel]:
    from fedloom.ml.hetero import nn

    return Algorithm(nn.HeteroNNParams, nn.HeteroNNGuest, nn.HeteroNNHost, None, nn.HeteroNNModel)


HETERO_NN = register_model_component(
    "HeteroNN",
    _hetero_nn,
    "Hetero NN (split neural network, encrypted interactive layer): guest and host(s); "
    "train, validate and predict.",
    roles=(GUEST, HOST),
)
