"""``HeteroSecureBoost``: vertical gradient boosting (:mod:`fedloom.ml.hetero.secureboost`) as a
model component.

A registration of the algorithm package on the model-component base
(:mod:`fedloom.components.model`, which says what a component reads, stores and outputs). Two
roles, no arbiter: the guest holds the label, its features and the Paillier key; each host holds
features only and keeps its split thresholds. FATE 1.x's parameter names and defaults, checked by
``HeteroSecureBoostParams.from_dict``. The base does train / validate / predict / cross-validation
and warm start (``fit(ctx, train, validate, init=model)``: further trees on a stored model).

The guest's data output is, per row, in FATE's layout: the probability of the positive class
(binary), the class probabilities (multi-class) or the predicted value (regression). Every party
stores its own part of the model (``SecureBoostModel.to_dict()``): the guest's trees name a host's
split only by its owner, never by a host feature or threshold.

Importing this module registers the component with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedloom.components.model import Algorithm, register_model_component
from fedloom.core.roles import GUEST, HOST

if TYPE_CHECKING:
    from fedloom.ml.hetero.secureboost import HeteroSecureBoostParams, SecureBoostModel

__all__ = ["HETERO_SECUREBOOST"]


# The algorithm loads when a job first needs it: importing it loads the crypto stack.
def _hetero_secureboost() -> Algorithm[HeteroSecureBoostParams, SecureBoostModel]:
    from fedloom.ml.hetero import secureboost as sb

    return Algorithm(
        sb.HeteroSecureBoostParams,
        sb.HeteroSecureBoostGuest,
        sb.HeteroSecureBoostHost,
        None,
        sb.SecureBoostModel,
    )


HETERO_SECUREBOOST = register_model_component(
    "HeteroSecureBoost",
    _hetero_secureboost,
    "Hetero SecureBoost (vertical gradient boosting): guest and host(s); train, validate and predict.",
    roles=(GUEST, HOST),
)
