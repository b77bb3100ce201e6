r"""Hetero Poisson regression (guest with the counts, one host, arbiter), FATE's protocol.

:math:`\mu = \text{exposure} \cdot \exp(w^Tx)`; the host sends :math:`[\exp(w_h^Tx_h)]`, the guest
forms :math:`[d] = [\exp(w_h^Tx_h)] \cdot \exp(w_g^Tx_g)\,\text{exposure} - y`; loss
:math:`\mu - y\,(w^Tx + \log \text{exposure})` (the negative log-likelihood without
:math:`\log y!`); gradients :math:`\sum [d]\,x`, masked and re-randomised before the arbiter
decrypts them. The host holds ``[y]`` (ciphertext only) and sees its gradient :math:`X_h^Td` per
batch in clear, :math:`d = \mu - y` (a batch of at most host features + 1 rows would give it
:math:`d`: refused unless ``allow_small_batches``); the guest sees :math:`\sum d` and the host's
:math:`w_h^Tx_h` of validation and predicted rows (as in FATE). The
optional ``exposure_colname`` names a guest column (> 0) used as a log offset. One host only
(the product of two hosts' encrypted factors is not computable under Paillier).
Protocol, message flow and what each party learns: :mod:`fedloom.ml.hetero.glm`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fedloom.core.errors import DataError
from fedloom.ml.hetero.glm.arbiter import GLMArbiter
from fedloom.ml.hetero.glm.ciphers import Vector
from fedloom.ml.hetero.glm.guest import GLMGuest
from fedloom.ml.hetero.glm.host import GLMHost
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.params import GLMParams, HeteroPoissonParams
from fedloom.ml.hetero.glm.role import GLMKind


class PoissonFamily(Family):
    """Poisson regression's pieces of the skeleton (log link)."""

    algorithm: ClassVar[str] = "HeteroPoisson"
    task: ClassVar[str] = "regression"
    quadratic: ClassVar[bool] = False
    multi_host: ClassVar[bool] = False

    def host_forward(self, wx: np.ndarray) -> np.ndarray:
        return np.exp(np.asarray(wx, dtype=np.float64))

    def guest_part(self, wx: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return np.exp(np.asarray(wx, dtype=np.float64))  # wx includes log(exposure)

    def residual(self, forward: Vector, part: np.ndarray, y: np.ndarray) -> Vector:
        return forward * part - y

    def link(self, wx: np.ndarray) -> np.ndarray:
        return np.exp(np.asarray(wx, dtype=np.float64))


class HeteroPoissonModel(GLMModel):
    """A party's part of a hetero Poisson model (see :class:`~fedloom.ml.hetero.glm.model.GLMModel`)."""

    algorithm: ClassVar[str] = "HeteroPoisson"


#: Hetero Poisson's parameters, model and family, bound to its three role classes.
POISSON = GLMKind(HeteroPoissonParams, HeteroPoissonModel, PoissonFamily())


class HeteroPoissonGuest(GLMGuest, kind=POISSON):
    """Guest of hetero Poisson: holds the counts; see :class:`~fedloom.ml.hetero.glm.guest.GLMGuest`."""

    def _exposure(self, p: GLMParams) -> str | None:
        return HeteroPoissonParams.coerce(p).exposure_colname

    def _check_regression_label(self, y: np.ndarray, party: str) -> np.ndarray:
        bad = np.flatnonzero(y < 0)
        if len(bad):
            raise DataError(
                f"the label of HeteroPoisson must be counts >= 0; row {int(bad[0])} "
                f"holds {float(y[bad[0]])!r}",
                party=party,
                field="label",
            )
        return y


class HeteroPoissonHost(GLMHost, kind=POISSON):
    """Host of hetero Poisson; see :class:`~fedloom.ml.hetero.glm.host.GLMHost`."""


class HeteroPoissonArbiter(GLMArbiter, kind=POISSON):
    """Arbiter of hetero Poisson; see :class:`~fedloom.ml.hetero.glm.arbiter.GLMArbiter`."""


__all__ = [
    "HeteroPoissonArbiter",
    "HeteroPoissonGuest",
    "HeteroPoissonHost",
    "HeteroPoissonModel",
    "HeteroPoissonParams",
    "PoissonFamily",
]
