r"""Boosting objectives: initial score, gradient, hessian, loss and link, with FATE 1.x semantics.

Every objective works on raw scores :math:`s` of shape ``(n, n_outputs)`` and returns the first
and second derivatives of the per-row loss with respect to :math:`s` (the quantities summed into
the histograms). Labels: binary :math:`y \in \{0, 1\}`; multi-class :math:`y \in \{0, …, K-1\}`
(the caller maps class labels to codes); regression real (tweedie: :math:`y \ge 0`).

Per objective (:math:`d = s - y`): loss :math:`\ell(y, s)`; :math:`g`, :math:`h`; initial score.

* binary ``cross_entropy``: :math:`-y\log p-(1-y)\log(1-p)`, :math:`p=\sigma(s)`;
  :math:`g = p-y`, :math:`h = p(1-p)`; init 0.
* softmax ``cross_entropy``: :math:`-\log p_y`, :math:`p=\mathrm{softmax}(s)`;
  :math:`g_k = p_k-[y=k]`, :math:`h_k = 2p_k(1-p_k)`; init 0 for every class.
* ``lse``: :math:`d^2`; :math:`g = 2d`, :math:`h = 2`; init mean(y).
* ``lae``: :math:`|d|`; :math:`g = \mathrm{sign}(d)`, :math:`h = 1`; init median(y).
* ``huber`` (pseudo-Huber): :math:`\delta^2(\sqrt{1+(d/\delta)^2}-1)`;
  :math:`g = d/\sqrt{1+d^2/\delta^2}`, :math:`h = (1+d^2/\delta^2)^{-3/2}`; init mean(y).
* ``fair``: :math:`c|d|-c^2\log(|d|/c+1)`; :math:`g = cd/(|d|+c)`, :math:`h = c^2/(|d|+c)^2`;
  init mean(y).
* ``log_cosh``: :math:`\log\cosh d`; :math:`g = \tanh d`, :math:`h = 1-\tanh^2 d`; init mean(y).
* ``tweedie`` (:math:`\rho \in [1, 2)`, :math:`\mu = e^s`):
  :math:`-y\mu^{1-\rho}/(1-\rho)+\mu^{2-\rho}/(2-\rho)`;
  :math:`g = -y e^{(1-\rho)s}+e^{(2-\rho)s}`,
  :math:`h = -y(1-\rho)e^{(1-\rho)s}+(2-\rho)e^{(2-\rho)s}`; init 0 (:math:`\mu = 1`).

These are FATE 1.x's (``federatedml.ensemble…loss``) definitions, kept on purpose for model
compatibility: FATE starts both cross-entropies from a zero score (not the label log-odds),
uses :math:`g = 2d, h = 2` for least squares and :math:`h = 2p_k(1-p_k)` for softmax (as
XGBoost's ``multi:softprob``). ``lae``'s gradient is 0 where :math:`|d| \le 10^{-8}`
(FATE's ``FLOAT_ZERO``); its loss is not differentiable there. ``loss`` returns the (weighted)
mean over rows, as FATE reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from fedloom.core.errors import ConfigError, DataError

__all__ = [
    "BinaryCrossEntropy",
    "Fair",
    "Huber",
    "LeastAbsoluteError",
    "LeastSquaredError",
    "LogCosh",
    "Objective",
    "SoftmaxCrossEntropy",
    "Tweedie",
    "objective_for",
]

FLOAT_ZERO = 1e-8
"""Below this, a residual counts as zero (``lae``'s gradient) — FATE's ``consts.FLOAT_ZERO``."""

REGRESSION_OBJECTIVES = ("lse", "lae", "huber", "fair", "log_cosh", "tweedie")
CLASSIFICATION_OBJECTIVES = ("cross_entropy",)


@runtime_checkable
class Objective(Protocol):
    """What a boosting loop needs from a loss.

    Attributes
    ----------
    name
        FATE's objective name (``"cross_entropy"``, ``"lse"``, …).
    n_outputs
        Scores per row: 1 (binary, regression) or :math:`K` (softmax).
    """

    @property
    def name(self) -> str:
        """FATE's objective name."""
        ...

    @property
    def n_outputs(self) -> int:
        """Scores per row."""
        ...

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """The constant first score, shape ``(n_outputs,)``."""
        ...

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g, h` of shape ``(n, n_outputs)`` (float64) at ``score`` ``(n, n_outputs)``."""
        ...

    def loss(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
        """The (weighted) mean loss over rows."""
        ...

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Probabilities ``(n,)`` binary / ``(n, K)`` softmax, or predicted values ``(n,)``."""
        ...

    def bounds(self) -> tuple[float, float, float]:
        """``(g_min, g_max, h_max)`` per row and output; ``±inf`` where unbounded."""
        ...


def _scores(score: np.ndarray, n_outputs: int) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64)
    if s.ndim == 1 and n_outputs == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[1] != n_outputs:
        raise DataError(f"scores must have shape (n, {n_outputs}). Got {s.shape}.", field="score")
    return s


def _labels(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(-1)


def _weighted_mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    if weights is None:
        return float(np.mean(values))
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    return float(np.sum(values * w) / np.sum(w))


def _weighted_median(y: np.ndarray, weights: np.ndarray | None) -> float:
    """The median; with weights, the smallest value whose cumulative weight reaches half."""
    if weights is None:
        return float(np.median(y))
    order = np.argsort(y, kind="stable")
    cum = np.cumsum(np.asarray(weights, dtype=np.float64).reshape(-1)[order])
    return float(y[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _sigmoid(s: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow warning for large |s|.
    e = np.exp(-np.abs(s))
    return np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(s: np.ndarray) -> np.ndarray:
    z = np.exp(s - s.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class BinaryCrossEntropy:
    """Sigmoid cross-entropy: :math:`p = \\sigma(s)`, :math:`g = p - y`, :math:`h = p(1-p)`."""

    name: str = "cross_entropy"
    n_outputs: int = 1

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """FATE starts from score 0 (probability ½)."""
        return np.zeros(1)

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = \\sigma(s) - y`, :math:`h = \\sigma(s)(1 - \\sigma(s))`."""
        p = _sigmoid(_scores(score, 1))
        return p - _labels(y)[:, None], p * (1.0 - p)

    def loss(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean :math:`\\log(1 + e^{s}) - y s` (the log loss, computed stably)."""
        s = _scores(score, 1)[:, 0]
        per_row = np.logaddexp(0.0, s) - _labels(y) * s
        return _weighted_mean(per_row, weights)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """:math:`P(y = 1) = \\sigma(s)`, shape ``(n,)``."""
        return _sigmoid(_scores(score, 1)[:, 0])

    def bounds(self) -> tuple[float, float, float]:
        """:math:`g \\in [-1, 1]`, :math:`h \\le 1/4`."""
        return -1.0, 1.0, 0.25


@dataclass(frozen=True)
class SoftmaxCrossEntropy:
    """Softmax cross-entropy over :math:`K` classes: :math:`g_k = p_k - [y=k]`, :math:`h_k = 2p_k(1-p_k)`."""

    n_outputs: int
    name: str = "cross_entropy"

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """FATE starts every class from score 0 (uniform probabilities)."""
        return np.zeros(self.n_outputs)

    def _onehot(self, y: np.ndarray) -> np.ndarray:
        codes = np.asarray(y).reshape(-1).astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= self.n_outputs):
            raise DataError(f"class codes must lie in 0..{self.n_outputs - 1}.", field="label")
        return np.eye(self.n_outputs)[codes]

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g_k = p_k - [y = k]`, :math:`h_k = 2 p_k (1 - p_k)`.

        The hessian is XGBoost's ``multi:softprob`` diagonal bound (FATE 1.x's
        ``SoftmaxCrossEntropyLoss`` uses :math:`p_k(1 - p_k)`): the leaves are half as large per
        step as with the exact diagonal, as in XGBoost, which the quality tests compare with.
        """
        p = _softmax(_scores(score, self.n_outputs))
        return p - self._onehot(y), 2.0 * p * (1.0 - p)

    def loss(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean :math:`-\\log p_y = \\mathrm{logsumexp}(s) - s_y`."""
        s = _scores(score, self.n_outputs)
        m = s.max(axis=1)
        lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
        per_row = lse - np.sum(s * self._onehot(y), axis=1)
        return _weighted_mean(per_row, weights)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, K)``."""
        return _softmax(_scores(score, self.n_outputs))

    def bounds(self) -> tuple[float, float, float]:
        """:math:`g_k \\in [-1, 1]`, :math:`h_k \\le 1/2`."""
        return -1.0, 1.0, 0.5


class _Regression:
    """Shared parts of the one-output regression objectives (identity link, mean init)."""

    name: str = ""
    n_outputs: int = 1

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """The (weighted) mean label."""
        return np.array([_weighted_mean(_labels(y), weights)])

    def _d(self, y: np.ndarray, score: np.ndarray) -> np.ndarray:
        return _scores(score, 1) - _labels(y)[:, None]

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def loss(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
        """The (weighted) mean per-row loss of the residual :math:`d = s - y`."""
        return _weighted_mean(self._per_row(self._d(y, score)[:, 0]), weights)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """The score itself, shape ``(n,)``."""
        return _scores(score, 1)[:, 0].copy()


class LeastSquaredError(_Regression):
    """``lse``: :math:`\\ell = d^2`, :math:`g = 2d`, :math:`h = 2`; init mean(y)."""

    name = "lse"

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = 2(s - y)`, :math:`h = 2`."""
        d = self._d(y, score)
        return 2.0 * d, np.full_like(d, 2.0)

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        return d * d

    def bounds(self) -> tuple[float, float, float]:
        """:math:`g` unbounded, :math:`h = 2`."""
        return -np.inf, np.inf, 2.0


class LeastAbsoluteError(_Regression):
    """``lae``: :math:`\\ell = |d|`, :math:`g = \\mathrm{sign}(d)` (0 within 1e-8), :math:`h = 1`."""

    name = "lae"

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """The (weighted) median label."""
        return np.array([_weighted_median(_labels(y), weights)])

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = \\mathrm{sign}(d)` with a dead zone of :math:`10^{-8}`, :math:`h = 1`."""
        d = self._d(y, score)
        g = np.where(d > FLOAT_ZERO, 1.0, np.where(d < -FLOAT_ZERO, -1.0, 0.0))
        return g, np.ones_like(d)

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        return np.abs(d)

    def bounds(self) -> tuple[float, float, float]:
        """:math:`g \\in [-1, 1]`, :math:`h = 1`."""
        return -1.0, 1.0, 1.0


@dataclass(frozen=True)
class Huber(_Regression):
    """``huber`` (pseudo-Huber, as FATE): :math:`\\ell = \\delta^2(\\sqrt{1 + (d/\\delta)^2} - 1)`."""

    delta: float = 1.0
    name: str = "huber"

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = d / \\sqrt{1 + d^2/\\delta^2}`, :math:`h = (1 + d^2/\\delta^2)^{-3/2}`."""
        d = self._d(y, score)
        q = 1.0 + d * d / (self.delta * self.delta)
        return d / np.sqrt(q), q**-1.5

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        return self.delta**2 * (np.sqrt(1.0 + (d / self.delta) ** 2) - 1.0)

    def bounds(self) -> tuple[float, float, float]:
        """:math:`|g| < \\delta`, :math:`h \\le 1`."""
        return -abs(self.delta), abs(self.delta), 1.0


@dataclass(frozen=True)
class Fair(_Regression):
    """``fair``: :math:`\\ell = c|d| - c^2 \\log(|d|/c + 1)`."""

    c: float = 1.0
    name: str = "fair"

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = c d / (|d| + c)`, :math:`h = c^2 / (|d| + c)^2`."""
        d = self._d(y, score)
        a = np.abs(d) + self.c
        return self.c * d / a, (self.c / a) ** 2

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        return self.c * np.abs(d) - self.c**2 * np.log(np.abs(d) / self.c + 1.0)

    def bounds(self) -> tuple[float, float, float]:
        """:math:`|g| < c`, :math:`h \\le 1`."""
        return -abs(self.c), abs(self.c), 1.0


class LogCosh(_Regression):
    """``log_cosh``: :math:`\\ell = \\log\\cosh d`, :math:`g = \\tanh d`, :math:`h = 1 - \\tanh^2 d`."""

    name = "log_cosh"

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = \\tanh d`, :math:`h = 1 - \\tanh^2 d`."""
        t = np.tanh(self._d(y, score))
        return t, 1.0 - t * t

    def _per_row(self, d: np.ndarray) -> np.ndarray:
        # log cosh d = |d| + log(1 + e^{-2|d|}) - log 2, without overflow for large |d|.
        a = np.abs(d)
        return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)

    def bounds(self) -> tuple[float, float, float]:
        """:math:`g \\in (-1, 1)`, :math:`h \\le 1`."""
        return -1.0, 1.0, 1.0


@dataclass(frozen=True)
class Tweedie(_Regression):
    """``tweedie`` with power :math:`\\rho \\in [1, 2)` and log link :math:`\\mu = e^s`."""

    rho: float = 1.5
    name: str = "tweedie"

    def init_score(self, y: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """FATE starts from score 0 (:math:`\\mu = 1`, XGBoost's ``base_score = 1``)."""
        return np.zeros(1)

    def _check(self, y: np.ndarray) -> np.ndarray:
        v = _labels(y)
        if v.size and v.min() < 0:
            raise DataError("tweedie labels must be non-negative.", field="label")
        return v

    def grad_hess(self, y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:math:`g = -y e^{(1-\\rho)s} + e^{(2-\\rho)s}`,
        :math:`h = -y(1-\\rho)e^{(1-\\rho)s} + (2-\\rho)e^{(2-\\rho)s}`."""
        v = self._check(y)[:, None]
        s = _scores(score, 1)
        a, b = np.exp((1.0 - self.rho) * s), np.exp((2.0 - self.rho) * s)
        return -v * a + b, -v * (1.0 - self.rho) * a + (2.0 - self.rho) * b

    def loss(self, y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean :math:`-y\\mu^{1-\\rho}/(1-\\rho) + \\mu^{2-\\rho}/(2-\\rho)` with :math:`\\mu = e^s`."""
        v = self._check(y)
        s = _scores(score, 1)[:, 0]
        if self.rho == 1.0:
            # The ρ → 1 limit up to a constant in s (Poisson): -y s + e^s.
            per_row = -v * s + np.exp(s)
        else:
            first = -v * np.exp((1.0 - self.rho) * s) / (1.0 - self.rho)
            per_row = first + np.exp((2.0 - self.rho) * s) / (2.0 - self.rho)
        return _weighted_mean(per_row, weights)

    def predict(self, score: np.ndarray) -> np.ndarray:
        """:math:`\\mu = e^s`, shape ``(n,)``."""
        return np.exp(_scores(score, 1)[:, 0])

    def bounds(self) -> tuple[float, float, float]:
        """Unbounded (the caller measures each tree's :math:`g, h` range)."""
        return -np.inf, np.inf, np.inf


def _param(params: Sequence[float] | None, default: float, objective: str) -> float:
    if params is None or len(params) == 0:
        return default
    try:
        value = float(params[0])
    except (TypeError, ValueError):
        raise ConfigError(
            f"must be a list of numbers for objective {objective!r}. Got {params!r}.",
            field="objective_param.params",
        ) from None
    if not np.isfinite(value):
        raise ConfigError(f"must be finite. Got {params!r}.", field="objective_param.params")
    return value


def objective_for(
    task_type: str, objective: str, params: Sequence[float] | None, n_classes: int
) -> Objective:
    """The objective FATE's ``task_type`` / ``objective_param`` select.

    Parameters
    ----------
    task_type
        ``"classification"`` or ``"regression"``.
    objective
        ``"cross_entropy"`` (classification: binary sigmoid when ``n_classes <= 2``, softmax
        otherwise); ``"lse"``, ``"lae"``, ``"huber"``, ``"fair"``, ``"log_cosh"``, ``"tweedie"``
        (regression).
    params
        ``objective_param.params``: huber's :math:`\\delta` (default 1), fair's :math:`c`
        (default 1), tweedie's :math:`\\rho \\in [1, 2)` (default 1.5, as FATE); others ignore it.
    n_classes
        Number of classes (classification); ignored for regression.

    Raises
    ------
    ConfigError
        Unknown or mismatched objective, or a parameter out of range.
    """
    task = str(task_type).lower()
    name = str(objective).lower()
    if task == "classification":
        if name not in CLASSIFICATION_OBJECTIVES:
            raise ConfigError(
                f"must be one of {', '.join(CLASSIFICATION_OBJECTIVES)} for classification. "
                f"Got {objective!r}.",
                field="objective_param.objective",
            )
        if n_classes < 2:
            raise ConfigError(f"classification needs at least 2 classes. Got {n_classes}.", field="label")
        return BinaryCrossEntropy() if n_classes == 2 else SoftmaxCrossEntropy(n_outputs=int(n_classes))
    if task != "regression":
        raise ConfigError(f"must be one of classification, regression. Got {task_type!r}.", field="task_type")
    if name == "lse":
        return LeastSquaredError()
    if name == "lae":
        return LeastAbsoluteError()
    if name == "log_cosh":
        return LogCosh()
    if name == "huber":
        delta = _param(params, 1.0, name)
        if delta <= 0:
            raise ConfigError(f"huber delta must be > 0. Got {delta}.", field="objective_param.params")
        return Huber(delta=delta)
    if name == "fair":
        c = _param(params, 1.0, name)
        if c <= 0:
            raise ConfigError(f"fair c must be > 0. Got {c}.", field="objective_param.params")
        return Fair(c=c)
    if name == "tweedie":
        rho = _param(params, 1.5, name)
        if not 1.0 <= rho < 2.0:
            raise ConfigError(f"tweedie rho must be in [1, 2). Got {rho}.", field="objective_param.params")
        return Tweedie(rho=rho)
    raise ConfigError(
        f"must be one of {', '.join(REGRESSION_OBJECTIVES)} for regression. Got {objective!r}.",
        field="objective_param.objective",
    )
