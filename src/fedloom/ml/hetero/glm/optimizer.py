"""Each party's own optimiser: FATE 1.x's update rules, penalties and learning-rate decay.

A party steps only its own weights with its own (unmasked) gradient, so nothing here is
federated. The rules, with ``lr_t = lr / (1 + decay·t)`` (or ``/ sqrt(1 + decay·t)``) at epoch ``t``::

    sgd                      δ = lr_t·g
    nesterov_momentum_sgd    v' = 0.9·v − lr_t·g ;  δ = 0.9·v − 1.9·v'
    adagrad                  m += g² ;  δ = lr_t·g / sqrt(m + 1e-6)
    rmsprop                  m = 0.99·m + 0.01·g² ;  δ = lr_t·g / sqrt(m + 1e-6)
    adam                     m, v (β = 0.9, 0.999) bias-corrected ;  δ = lr_t·m̂ / (sqrt(v̂) + 1e-8)
    w ← w − δ

Penalties: L2 adds ``alpha·w`` to the gradient before the rule; L1 soft-thresholds after it,
``w ← sign(w)·max(0, |w| − lr_t·alpha)``. The intercept (the last weight of the guest when it fits
one) is never penalised. The penalty's share of the loss is ``½·alpha·‖w‖²`` (L2) or
``alpha·‖w‖₁`` (L1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fedloom.core.errors import ConfigError, DataError
from fedloom.ml.hetero.glm.params import GLMParams

RMSPROP_RHO = 0.99
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
NESTEROV_MU = 0.9


class Optimizer:
    """One party's optimiser state.

    Parameters
    ----------
    params
        The algorithm's parameters (optimizer, penalty, alpha, learning rate and decay).
    size
        Number of weights, the intercept included.
    has_intercept
        Whether the last weight is an intercept (excluded from the penalty).
    """

    def __init__(self, params: GLMParams, size: int, has_intercept: bool) -> None:
        self.params = params
        self.size = size
        self.has_intercept = has_intercept
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.beta1_power = 1.0
        self.beta2_power = 1.0

    def state(self) -> dict[str, object]:
        """The moments and step powers (JSON-able), what a warm start continues from."""
        return {
            "optimizer": self.params.optimizer,
            "m": [float(x) for x in self.m],
            "v": [float(x) for x in self.v],
            "beta1_power": float(self.beta1_power),
            "beta2_power": float(self.beta2_power),
        }

    def load_state(self, state: Mapping[str, object]) -> None:
        """Continue from :meth:`state` (an empty dict: from scratch).

        Raises
        ------
        ConfigError
            The state of another optimiser than the job's (names ``optimizer``).
        DataError
            Moments of another length than this optimiser's weights.
        """
        if not state:
            return
        kind = state.get("optimizer")
        if kind != self.params.optimizer:
            raise ConfigError(
                f"the stored model was trained with optimizer {kind!r}; a warm start continues it "
                f"with the same optimizer, not {self.params.optimizer!r}",
                field="optimizer",
            )
        try:
            m = np.asarray(state["m"], dtype=np.float64)
            v = np.asarray(state["v"], dtype=np.float64)
            b1, b2 = float(state["beta1_power"]), float(state["beta2_power"])  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            raise DataError(
                "malformed optimizer state in the stored model", field="optimizer_state"
            ) from None
        if m.shape != (self.size,) or v.shape != (self.size,):
            raise DataError(
                f"the stored optimizer state has {m.size} weights; this party has {self.size}",
                field="optimizer_state",
            )
        self.m, self.v, self.beta1_power, self.beta2_power = m, v, b1, b2

    def _penalised(self) -> np.ndarray:
        mask = np.ones(self.size)
        if self.has_intercept and self.size:
            mask[-1] = 0.0
        return mask

    def penalty(self, w: np.ndarray) -> float:
        """The penalty's share of the loss for weights ``w`` (intercept excluded)."""
        coef = w * self._penalised()
        p = self.params
        if p.penalty == "L2":
            return float(0.5 * p.alpha * np.dot(coef, coef))
        if p.penalty == "L1":
            return float(p.alpha * np.abs(coef).sum())
        return 0.0

    def step(self, w: np.ndarray, grad: np.ndarray, epoch: int) -> np.ndarray:
        """New weights after one update with gradient ``grad`` (mean over the batch) at ``epoch``."""
        p = self.params
        lr = p.learning_rate_at(epoch)
        g = np.asarray(grad, dtype=np.float64).copy()
        mask = self._penalised()
        if p.penalty == "L2":
            g = g + p.alpha * w * mask
        if p.optimizer == "sgd":
            delta = lr * g
        elif p.optimizer == "nesterov_momentum_sgd":
            v_new = NESTEROV_MU * self.m - lr * g
            delta = NESTEROV_MU * self.m - (1 + NESTEROV_MU) * v_new
            self.m = v_new
        elif p.optimizer == "adagrad":
            self.m = self.m + g * g
            delta = lr * g / np.sqrt(self.m + 1e-6)
        elif p.optimizer == "rmsprop":
            self.m = RMSPROP_RHO * self.m + (1 - RMSPROP_RHO) * g * g
            delta = lr * g / np.sqrt(self.m + 1e-6)
        else:  # adam
            self.beta1_power *= ADAM_BETA1
            self.beta2_power *= ADAM_BETA2
            self.m = ADAM_BETA1 * self.m + (1 - ADAM_BETA1) * g
            self.v = ADAM_BETA2 * self.v + (1 - ADAM_BETA2) * g * g
            m_hat = self.m / (1 - self.beta1_power)
            v_hat = self.v / (1 - self.beta2_power)
            delta = lr * m_hat / (np.sqrt(v_hat) + 1e-8)
        new = w - delta
        if p.penalty == "L1":
            shrunk = np.sign(new) * np.maximum(0.0, np.abs(new) - lr * p.alpha)
            new = np.where(mask > 0, shrunk, new)
        return np.asarray(new, dtype=np.float64)


def init_weights(params: GLMParams, size: int, seed_offset: int = 0) -> np.ndarray:
    """Initial weights (FATE's ``init_param``); ``seed_offset`` keeps parties/classes apart."""
    ip = params.init_param
    method = ip.init_method
    if method == "zeros":
        return np.zeros(size)
    if method == "ones":
        return np.ones(size)
    if method == "const":
        return np.full(size, float(ip.init_const))
    seed = None if ip.random_seed is None else ip.random_seed + seed_offset
    rng = np.random.default_rng(seed)
    if method == "random_uniform":
        return rng.random(size)
    return rng.standard_normal(size)
