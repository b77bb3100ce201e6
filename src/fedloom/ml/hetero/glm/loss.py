r"""What differs between LR, LinR and Poisson (the :class:`Family`), convergence and metrics.

Each family says what the host sends forward, how the guest turns that into the residual
:math:`[d]`, how the batch loss is assembled from encrypted pieces and how a score becomes a
prediction. The skeleton (:mod:`.guest`, :mod:`.host`, :mod:`.arbiter`) does the rest.

Loss assembly (``S`` = batch size × batch loss, decrypted by the arbiter):

* quadratic families (LR, LinR), with :math:`d = U + g`, :math:`U = \sum_h u_h` the hosts'
  forwards and :math:`g` the guest's plaintext part:
  :math:`\sum d^2 = \sum U^2 + 2\sum d\,g - \sum g^2` with one host (the host sends
  :math:`[\sum u_h^2]`), :math:`\sum d^2 = \sum_h [\sum d\,u_h] + [\sum d\,g]` with several (each
  host adds its forward as one more column of its ``[d]·X``). LR (labels ±1):
  :math:`\ell = \log 2 - \tfrac12 y\,w^Tx + \tfrac18 (w^Tx)^2 = \log 2 - \tfrac12 + 2 d^2` with
  :math:`d = \tfrac14 w^Tx - \tfrac12 y`; LinR: :math:`\ell = \tfrac12 d^2` with :math:`d = w^Tx - y`.
* Poisson: :math:`\ell = \mu - y\,(w^Tx + \log e)` with :math:`\mu = e \cdot \exp(w^Tx)`, so
  :math:`\sum \ell = [\sum d] + \sum y - \sum y(w_g^Tx_g + \log e) - \sum_h [\sum y\,w_h^Tx_h]`, the
  last term from each host's ``[y]·(w_hᵀx_h)`` with ``[y]`` encrypted once by the guest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from fedloom.ml.evaluation.registry import lower_is_better, resolve_metrics, score_metrics
from fedloom.ml.hetero.glm.ciphers import Vector


class Family:
    """Base of the per-model functions; subclasses live in ``ml/hetero/{lr,linr,poisson}``."""

    #: Algorithm name used in messages (``HeteroLR``).
    algorithm: ClassVar[str] = "HeteroGLM"
    #: ``binary`` (LR) or ``regression``.
    task: ClassVar[str] = "regression"
    #: Loss assembled from ``Σd²`` (LR, LinR) rather than the Poisson form.
    quadratic: ClassVar[bool] = True
    #: ``S = loss_scale·Σd² + loss_constant·n_b`` for quadratic families.
    loss_scale: ClassVar[float] = 0.5
    loss_constant: ClassVar[float] = 0.0
    #: Several hosts allowed.
    multi_host: ClassVar[bool] = True

    def host_forward(self, wx: np.ndarray) -> np.ndarray:
        """What a host encrypts and sends per row, from its ``w_hᵀx_h``."""
        raise NotImplementedError

    def guest_part(self, wx: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """The guest's plaintext contribution per row (added, or a multiplier for Poisson)."""
        raise NotImplementedError

    def residual(self, forward: Vector, part: np.ndarray, y: np.ndarray) -> Vector:
        """``[d]`` from the summed host forwards ``[f]`` and the guest's part (before obfuscation)."""
        raise NotImplementedError

    def link(self, wx: np.ndarray) -> np.ndarray:
        """The prediction from the full linear score (offset included)."""
        raise NotImplementedError


# -- convergence ---------------------------------------------------------------------------------
class Convergence:
    """FATE's ``early_stop`` rules, judged by the arbiter after each epoch.

    ``diff``: ``|loss_t − loss_{t−1}| < tol``; ``abs``: ``loss_t < tol``; ``weight_diff``:
    ``sqrt(Σ_parties ‖w_t − w_{t−1}‖²) < tol``.
    """

    def __init__(self, rule: str, tol: float) -> None:
        self.rule = rule
        self.tol = tol
        self.previous: float | None = None

    def check(self, loss: float, weight_diff_sq: float | None) -> bool:
        """Whether training has converged after an epoch with ``loss`` (and ``‖Δw‖²``)."""
        if self.rule == "abs":
            return loss < self.tol
        if self.rule == "weight_diff":
            return weight_diff_sq is not None and math.sqrt(weight_diff_sq) < self.tol
        prev, self.previous = self.previous, loss
        return prev is not None and abs(prev - loss) < self.tol


# -- validation metrics ----------------------------------------------------------------------------
#: Validation metrics when the conf names none.
DEFAULT_METRICS = {"binary": ["auc", "ks"], "regression": ["rmse", "mae"]}


def check_metrics(metrics: Sequence[str] | None, task: str, algorithm: str) -> list[str]:
    """The validation metrics to compute (defaults per task), as the conf spells them.

    Raises
    ------
    ConfigError
        A name the metric registry does not compute for ``task`` (naming ``metrics``).
    """
    if not metrics:
        return list(DEFAULT_METRICS[task])
    resolve_metrics(task, metrics, owner=algorithm, scores_only=True)
    return list(metrics)


def compute_metrics(
    names: Sequence[str], task: str, y: np.ndarray, score: np.ndarray, pred: np.ndarray
) -> dict[str, float]:
    """Metric values of a validation pass, keyed as the conf spells them (``nan`` if undefined)."""
    return score_metrics(task, names, y, score, pred)


class EarlyStopping:
    """Stop when the watched metric(s) have not improved for ``rounds`` validations."""

    def __init__(self, rounds: int | None, names: Sequence[str], first_only: bool, task: str) -> None:
        self.rounds = rounds
        self.task = task
        self.names = list(names[:1]) if first_only else list(names)
        self.best: dict[str, float] = {}
        self.stale: dict[str, int] = {n: 0 for n in self.names}
        self.best_epoch: int | None = None

    def update(self, epoch: int, values: dict[str, float]) -> bool:
        """Record a validation; True when training should stop."""
        improved_first = False
        for name in self.names:
            v = values.get(name, float("nan"))
            if math.isnan(v):
                continue
            best = self.best.get(name)
            better = best is None or (v < best if lower_is_better(self.task, name) else v > best)
            if better:
                self.best[name] = v
                self.stale[name] = 0
                if name == self.names[0]:
                    improved_first = True
            else:
                self.stale[name] += 1
        if improved_first or self.best_epoch is None:
            self.best_epoch = epoch
        if self.rounds is None:
            return False
        return all(self.stale[n] >= self.rounds for n in self.names)
