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
from typing import Any, ClassVar

import numpy as np

from fedloom.core.errors import ConfigError


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

    def residual(self, forward: Any, part: np.ndarray, y: np.ndarray) -> Any:
        """``[d]`` from the summed host forwards ``[f]`` and the guest's part (before obfuscation)."""
        raise NotImplementedError

    def link(self, wx: np.ndarray) -> np.ndarray:
        """The prediction from the full linear score (offset included)."""
        raise NotImplementedError

    def residual_plain(self, wx: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The residual ``d`` computed in the clear from the full score (for references and tests)."""
        raise NotImplementedError

    def loss_plain(self, wx: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """Per-row loss in the clear (the same approximation the protocol uses)."""
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
BINARY_METRICS = ("auc", "ks", "accuracy", "precision", "recall", "f1_score", "lift", "gain")
MULTI_METRICS = ("accuracy", "precision", "recall")
REGRESSION_METRICS = (
    "rmse",
    "mse",
    "mae",
    "r2_score",
    "explained_variance",
    "median_absolute_error",
    "root_mean_squared_error",
    "mean_squared_error",
    "mean_absolute_error",
)
LOWER_IS_BETTER = frozenset(
    {
        "rmse",
        "mse",
        "mae",
        "median_absolute_error",
        "root_mean_squared_error",
        "mean_squared_error",
        "mean_absolute_error",
    }
)
DEFAULT_METRICS = {"binary": ["auc", "ks"], "multi": ["accuracy"], "regression": ["rmse", "mae"]}


def check_metrics(metrics: Sequence[str] | None, task: str, algorithm: str) -> list[str]:
    """The validation metrics to compute (defaults per task); ConfigError for unknown ones."""
    if not metrics:
        return list(DEFAULT_METRICS[task])
    allowed = {"binary": BINARY_METRICS, "multi": MULTI_METRICS, "regression": REGRESSION_METRICS}[task]
    for m in metrics:
        if m not in allowed:
            raise ConfigError(
                f"The 'metrics' parameter of {algorithm} must list {task} metrics among "
                f"{', '.join(allowed)}. Got {m!r}.",
                field="metrics",
            )
    return [m for m in metrics if m not in ("lift", "gain")] or list(DEFAULT_METRICS[task])


def compute_metrics(
    names: Sequence[str], task: str, y: np.ndarray, score: np.ndarray, pred: np.ndarray
) -> dict[str, float]:
    """Metric values (scikit-learn) for a validation pass."""
    from sklearn import metrics as skm

    out: dict[str, float] = {}
    for name in names:
        if task == "binary":
            if name == "auc":
                out[name] = float(skm.roc_auc_score(y, score)) if len(np.unique(y)) == 2 else float("nan")
            elif name == "ks":
                if len(np.unique(y)) == 2:
                    fpr, tpr, _ = skm.roc_curve(y, score)
                    out[name] = float(np.max(tpr - fpr))
                else:
                    out[name] = float("nan")
            elif name == "accuracy":
                out[name] = float(skm.accuracy_score(y, pred))
            elif name == "precision":
                out[name] = float(skm.precision_score(y, pred, zero_division=0))
            elif name == "recall":
                out[name] = float(skm.recall_score(y, pred, zero_division=0))
            elif name == "f1_score":
                out[name] = float(skm.f1_score(y, pred, zero_division=0))
        elif task == "multi":
            if name == "accuracy":
                out[name] = float(skm.accuracy_score(y, pred))
            elif name == "precision":
                out[name] = float(skm.precision_score(y, pred, average="macro", zero_division=0))
            elif name == "recall":
                out[name] = float(skm.recall_score(y, pred, average="macro", zero_division=0))
        else:
            yf = y.astype(np.float64)
            if name in ("rmse", "root_mean_squared_error"):
                out[name] = float(np.sqrt(skm.mean_squared_error(yf, score)))
            elif name in ("mse", "mean_squared_error"):
                out[name] = float(skm.mean_squared_error(yf, score))
            elif name in ("mae", "mean_absolute_error"):
                out[name] = float(skm.mean_absolute_error(yf, score))
            elif name == "r2_score":
                out[name] = float(skm.r2_score(yf, score))
            elif name == "explained_variance":
                out[name] = float(skm.explained_variance_score(yf, score))
            elif name == "median_absolute_error":
                out[name] = float(skm.median_absolute_error(yf, score))
    return out


class EarlyStopping:
    """Stop when the watched metric(s) have not improved for ``rounds`` validations."""

    def __init__(self, rounds: int | None, names: Sequence[str], first_only: bool) -> None:
        self.rounds = rounds
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
            better = best is None or (v < best if name in LOWER_IS_BETTER else v > best)
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
