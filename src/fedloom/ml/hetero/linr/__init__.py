r"""Hetero linear regression (guest with the target, hosts, arbiter).

Residual :math:`d = w^Tx - y`, split as :math:`[w_h^Tx_h] + (w_g^Tx_g - y)`; loss
:math:`\tfrac12 d^2`; gradients :math:`\sum [d]\,x`, masked and re-randomised before the arbiter
decrypts them. In clear (as in FATE) the host sees its gradient :math:`X_h^Td` per batch (a batch
of at most host features + 1 rows would give it :math:`d` and so the targets: refused unless
``allow_small_batches``), the guest :math:`\sum d`, i.e. the batch sum of the hosts'
:math:`w_h^Tx_h`, and the hosts' :math:`w_h^Tx_h` of validation and predicted rows.
Protocol, message flow and what each party learns: :mod:`fedloom.ml.hetero.glm`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fedloom.ml.hetero.glm.arbiter import GLMArbiter
from fedloom.ml.hetero.glm.ciphers import Vector
from fedloom.ml.hetero.glm.guest import GLMGuest
from fedloom.ml.hetero.glm.host import GLMHost
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.params import HeteroLinRParams
from fedloom.ml.hetero.glm.role import GLMKind


class LinRFamily(Family):
    """Linear regression's pieces of the skeleton."""

    algorithm: ClassVar[str] = "HeteroLinR"
    task: ClassVar[str] = "regression"
    quadratic: ClassVar[bool] = True
    loss_scale: ClassVar[float] = 0.5
    loss_constant: ClassVar[float] = 0.0

    def host_forward(self, wx: np.ndarray) -> np.ndarray:
        return np.asarray(wx, dtype=np.float64)

    def guest_part(self, wx: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return wx - y

    def residual(self, forward: Vector, part: np.ndarray, y: np.ndarray) -> Vector:
        return forward + part

    def link(self, wx: np.ndarray) -> np.ndarray:
        return np.asarray(wx, dtype=np.float64)


class HeteroLinRModel(GLMModel):
    """A party's part of a hetero LinR model (see :class:`~fedloom.ml.hetero.glm.model.GLMModel`)."""

    algorithm: ClassVar[str] = "HeteroLinR"


#: Hetero LinR's parameters, model and family, bound to its three role classes.
LINR = GLMKind(HeteroLinRParams, HeteroLinRModel, LinRFamily())


class HeteroLinRGuest(GLMGuest, kind=LINR):
    """Guest of hetero LinR: holds the target; see :class:`~fedloom.ml.hetero.glm.guest.GLMGuest`."""


class HeteroLinRHost(GLMHost, kind=LINR):
    """Host of hetero LinR; see :class:`~fedloom.ml.hetero.glm.host.GLMHost`."""


class HeteroLinRArbiter(GLMArbiter, kind=LINR):
    """Arbiter of hetero LinR; see :class:`~fedloom.ml.hetero.glm.arbiter.GLMArbiter`."""


__all__ = [
    "HeteroLinRArbiter",
    "HeteroLinRGuest",
    "HeteroLinRHost",
    "HeteroLinRModel",
    "HeteroLinRParams",
    "LinRFamily",
]
