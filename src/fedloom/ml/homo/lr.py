"""Homo LR: horizontal (FedAvg) logistic regression in numpy, FATE 1.x ``HomoLR`` semantics.

Every client (guest and hosts) holds labelled rows with the same feature columns. Each round a
client runs ``local_epochs`` (FATE's ``aggregate_iters``) epochs of mini-batch gradient descent
(``batch_size: -1``: one full-batch step per epoch) on the mean logistic loss plus the penalty
(``L2``: ``½·alpha·‖w‖²``, ``L1``: ``alpha·‖w‖₁``, intercept never penalised), with the
learning rate decayed per epoch ``t`` as ``lr / sqrt(1 + decay·t)`` (``decay_sqrt``) or
``lr / (1 + decay·t)``, then sends ``(n_i·[w, b], n_i·loss_i, n_i)`` through secure aggregation;
the arbiter returns ``Σ n_i·[w, b] / Σ n_i`` and stops early by ``early_stop`` / ``tol`` on the
global loss (``diff``: |Δloss| < tol). No torch is imported.

Binary labels only (0/1); use HomoNN for multi-class. What each party learns is stated in
:mod:`fedloom.ml.homo.nn` (the same protocol): the arbiter learns the global model, the global
weighted loss and the sample total; clients learn the global model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError
from fedloom.data import Frame
from fedloom.ml.homo.arbiter import FedAvgArbiter, FedAvgResult, fedavg_summary
from fedloom.ml.homo.client import FedAvgClient, feature_digest, finite_loss
from fedloom.ml.homo.params import HomoLRParams
from fedloom.ml.predictions import Predictions

__all__ = ["HomoLRArbiter", "HomoLRClient", "HomoLRModel"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # stable for large |z|


@dataclass
class HomoLRModel:
    """A trained homo LR model: plain numbers only.

    Attributes
    ----------
    weights
        One coefficient per feature, in ``feature_names`` order.
    intercept
        The bias (0 without ``fit_intercept``).
    feature_names
        The training columns (empty on the arbiter, which never sees data).
    threshold
        P(y=1) above which the class is 1.
    history
        Per round: the global loss (and, on clients, local loss and validation metrics).
    converged
        Whether the early-stop rule ended training.
    """

    weights: np.ndarray
    intercept: float
    feature_names: list[str] = field(default_factory=list)
    threshold: float = 0.5
    history: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1) per row of ``x`` ``(n, d)``."""
        return _sigmoid(np.asarray(x, dtype=np.float64) @ self.weights + self.intercept)

    def predict(self, frame: Frame) -> Predictions:
        """Predictions in FATE's layout (binary; classes ``[0, 1]``)."""
        if self.feature_names and list(frame.feature_names) != self.feature_names:
            frame = frame.select_features(self.feature_names)
        score = self.predict_proba(frame.features)
        result = (score > self.threshold).astype(np.int64)
        return Predictions(frame.ids, score, result, frame.label, "binary", [0, 1])

    def summary(self) -> dict[str, object]:
        """JSON-able metrics: rounds, convergence, the global loss per round."""
        return fedavg_summary(self.history, self.converged)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {
            "weights": [float(w) for w in self.weights],
            "intercept": float(self.intercept),
            "feature_names": list(self.feature_names),
            "threshold": self.threshold,
            "history": self.history,
            "converged": self.converged,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> HomoLRModel:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        DataError
            ``d`` is not a homo LR model (a field missing or of another type).
        """
        weights, intercept, names = d.get("weights"), d.get("intercept"), d.get("feature_names", [])
        threshold, history = d.get("threshold", 0.5), d.get("history", [])
        if not (
            isinstance(weights, list)
            and isinstance(intercept, int | float)
            and isinstance(names, list)
            and isinstance(threshold, int | float)
            and isinstance(history, list)
        ):
            raise DataError("the stored model is not a HomoLR model (weights, intercept...)", field="model")
        return cls(
            np.asarray(weights, dtype=np.float64),
            float(intercept),
            [str(n) for n in names],
            float(threshold),
            [dict(h) for h in history],
            bool(d.get("converged", False)),
        )


class _Optimizer:
    """FATE's homo LR optimisers on a flat numpy vector (state kept across rounds)."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def step(self, w: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
        self.t += 1
        if self.name == "sgd":
            return w - lr * g
        if self.name == "nesterov_momentum_sgd":
            mu = 0.9
            prev = self.m.copy()
            self.m = mu * self.m - lr * g
            return w - mu * prev + (1 + mu) * self.m
        if self.name == "rmsprop":
            self.v = 0.99 * self.v + 0.01 * g * g
            return w - lr * g / (np.sqrt(self.v) + 1e-6)
        if self.name == "adagrad":
            self.v += g * g
            return w - lr * g / (np.sqrt(self.v) + 1e-7)
        b1, b2 = 0.9, 0.999  # adam
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        return w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)


class HomoLRClient(FedAvgClient):
    """A homo LR client (guest or host): labelled rows, local epochs, secure aggregation.

    Parameters
    ----------
    params
        FATE's HomoLR settings (:meth:`HomoLRParams.from_fate`) or built directly.
    """

    params: HomoLRParams

    def __init__(self, params: HomoLRParams) -> None:
        self.params = params
        self._w = np.zeros(0)
        self._x = np.zeros((0, 0))
        self._y = np.zeros(0)
        self._val: Frame | None = None
        self._opt: _Optimizer | None = None
        self._epoch = 0
        self._rng = np.random.default_rng(0)

    def fit(self, ctx: Context, train: Frame, validate: Frame | None = None) -> HomoLRModel:
        """Federated training on this client's rows; returns the global model.

        Raises
        ------
        DataError
            No label, or labels other than 0 and 1.
        """
        p = self.params
        self._x, self._y = train.features, _binary_labels(train)
        d = train.n_features
        if validate is not None:
            _binary_labels(validate)
            validate = validate.select_features(list(train.feature_names))
        self._val = validate
        self.schema_digest = feature_digest(train.feature_names)
        self._rng = np.random.default_rng(p.seed)
        self._w = self._init(d)
        self._opt = _Optimizer(p.optimizer, d + 1)
        history = self.federate(ctx)
        return HomoLRModel(
            self._w[:-1].copy(),
            float(self._w[-1]),
            list(train.feature_names),
            p.threshold,
            history.rounds,
            history.converged,
        )

    def predict(self, ctx: Context, model: HomoLRModel, frame: Frame) -> Predictions:
        """Local prediction: in the horizontal setting a client predicts its own rows alone
        (``ctx`` is unused; it keeps the role API of every algorithm)."""
        return model.predict(frame)

    def _init(self, d: int) -> np.ndarray:
        p = self.params
        m = p.init_method
        if m == "zeros":
            w = np.zeros(d + 1)
        elif m == "ones":
            w = np.ones(d + 1)
        elif m == "const":
            w = np.full(d + 1, float(p.init_const))
        elif m == "random_uniform":
            w = self._rng.random(d + 1)
        else:
            w = self._rng.standard_normal(d + 1)
        if not p.fit_intercept:
            w[-1] = 0.0
        return w

    def get_weights(self) -> np.ndarray:
        return self._w.copy()

    def set_weights(self, weights: np.ndarray) -> None:
        self._w = np.array(weights, dtype=np.float64)

    def _loss_grad(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.params
        z = x @ w[:-1] + w[-1]
        # mean log-loss: log(1 + e^z) − y·z, computed stably
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
        r = _sigmoid(z) - y  # (n,)
        g = np.empty_like(w)
        g[:-1] = x.T @ r / len(y)
        g[-1] = r.mean() if p.fit_intercept else 0.0
        coef = w[:-1]
        if p.penalty == "L2":
            loss += 0.5 * p.alpha * float(coef @ coef)
            g[:-1] += p.alpha * coef
        elif p.penalty == "L1":
            loss += p.alpha * float(np.abs(coef).sum())
            g[:-1] += p.alpha * np.sign(coef)
        return loss, g

    def local_train(self, round_index: int) -> tuple[float, int]:
        assert self._opt is not None
        p = self.params
        n = len(self._y)
        bs = n if p.batch_size == -1 else min(p.batch_size, n)
        loss_sum = 0.0
        for _ in range(p.local_epochs):
            t = self._epoch
            lr = p.learning_rate / (math.sqrt(1 + p.decay * t) if p.decay_sqrt else (1 + p.decay * t))
            order = np.arange(n) if bs == n else self._rng.permutation(n)
            loss_sum = 0.0
            for i in range(0, n, bs):
                idx = order[i : i + bs]
                loss, g = self._loss_grad(self._x[idx], self._y[idx], self._w)
                self._w = self._opt.step(self._w, g, lr)
                if not p.fit_intercept:
                    self._w[-1] = 0.0
                loss_sum += loss * len(idx)
            self._epoch += 1
        advice = f"lower learning_rate (now {p.learning_rate:g})"
        return finite_loss(loss_sum / n, round_index, advice, "learning_rate"), n

    def validate(self) -> tuple[float, float, int] | None:
        if self._val is None:
            return None
        y = _binary_labels(self._val)
        prob = _sigmoid(self._val.features @ self._w[:-1] + self._w[-1])
        eps = 1e-12
        loss = float(-np.mean(y * np.log(prob + eps) + (1 - y) * np.log(1 - prob + eps)))
        acc = float(np.mean((prob > self.params.threshold) == (y > 0.5)))
        return loss, acc, len(y)


class HomoLRArbiter:
    """The homo LR arbiter: aggregates; ends with the global model (it holds no data)."""

    def __init__(self, params: HomoLRParams) -> None:
        self.params = params

    def fit(self, ctx: Context) -> HomoLRModel:
        """Run every round; returns the global model (no feature names: the arbiter has no schema)."""
        res: FedAvgResult = FedAvgArbiter(self.params.fedavg()).fit(ctx)
        assert res.weights is not None
        return HomoLRModel(
            res.weights[:-1].copy(),
            float(res.weights[-1]),
            [],
            self.params.threshold,
            res.rounds,
            res.converged,
        )

    def predict(self, ctx: Context, model: HomoLRModel) -> None:
        """Nothing to do: in the horizontal setting each client predicts its own rows alone."""


def _binary_labels(frame: Frame) -> np.ndarray:
    if frame.label is None:
        raise DataError(
            f"HomoLR trains on labelled rows on every client; {frame.table or 'the data'} has no label "
            "(set with_label: true in DataTransform)",
            field="label",
        )
    y = np.asarray(frame.label, dtype=np.float64)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        values = sorted(set(np.unique(y[bad]).tolist()))[:5]
        raise DataError(
            f"HomoLR is binary: labels must be 0 or 1; {frame.table or 'the data'} holds {values}. "
            "Use HomoNN for multi-class data.",
            field=frame.label_name or "label",
        )
    return y
