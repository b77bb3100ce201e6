"""Homo LR: horizontal (FedAvg) logistic regression in numpy, FATE 1.x ``HomoLR`` semantics.

Every client (guest and hosts) holds labelled rows with the same feature columns. Each round a
client runs ``local_epochs`` (FATE's ``aggregate_iters``) epochs of mini-batch gradient descent
(``batch_size: -1``: one full-batch step per epoch) on the mean logistic loss plus the penalty
(``L2``: ``½·alpha·‖w‖²``, ``L1``: ``alpha·‖w‖₁``, intercept never penalised), with the
learning rate decayed per epoch ``t`` as ``lr / sqrt(1 + decay·t)`` (``decay_sqrt``) or
``lr / (1 + decay·t)``, then sends ``(n_i·[w, b], n_i·loss_i, n_i)`` through secure aggregation;
the arbiter returns ``Σ n_i·[w, b] / Σ n_i`` and stops early by ``early_stop`` / ``tol`` on the
global loss (``diff``: |Δloss| < tol). No torch is imported.

Multi-class as FATE trains it, one-vs-rest: the clients first agree the class list with the
arbiter (:mod:`fedloom.ml.homo.classes`: the arbiter learns the union of the label values, not
which client holds which); with labels other than 0 / 1 anywhere, one binary model per class
``c`` (labels ``y == c``) is trained by its own FedAvg with secure aggregation (namespace
``ovr_class-k``), and a row's class is the argmax of the per-class scores (``predict_detail``: every
class's score, as FATE prints it). What each party learns is stated in :mod:`fedloom.ml.homo.nn`
(the same protocol): the arbiter learns the global model(s), the global weighted loss and the
sample total; clients learn the global model(s).

Warm start (``fit(..., init=stored_model)``, a ``model`` input with ``train_data``): every party
continues its own stored model: clients from the global weights, their optimiser state and epoch
count (stored in :attr:`HomoLRModel.state`), the arbiter from the global weights and last loss (the
early-stop rule's state); the rounds continue from the stored round count, ``max_iter`` counting
them in total (a model stored at ``max_iter``, or converged, runs no more). Mini-batch shuffling is
keyed on ``(seed, absolute epoch)``, so ``k`` rounds then ``m`` more equal ``k + m`` rounds.
One-vs-rest continues each class's model; other agreed classes than the stored ones are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.data import Frame
from fedloom.ml.homo import messages as msg
from fedloom.ml.homo.arbiter import FedAvgArbiter, FedAvgResult, fedavg_summary
from fedloom.ml.homo.classes import arbiter_classes, client_classes, is_one_vs_rest, label_values
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
    classes, per_class
        One-vs-rest only: the agreed class labels and one binary model per class (then
        ``weights`` is empty); empty for a binary model.
    state
        What a warm start continues from (a binary model or one class's): on a client the
        optimiser's state (``optimizer``, ``t``, ``m``, ``v``) and the epochs run (``epoch``), on the
        arbiter ``{"rounds": n}``; empty in models stored before warm starts existed.
    """

    weights: np.ndarray
    intercept: float
    feature_names: list[str] = field(default_factory=list)
    threshold: float = 0.5
    history: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False
    classes: list[int] = field(default_factory=list)
    per_class: list[HomoLRModel] = field(default_factory=list)
    state: dict[str, object] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1) per row of ``x`` ``(n, d)``."""
        return _sigmoid(np.asarray(x, dtype=np.float64) @ self.weights + self.intercept)

    def predict(self, frame: Frame) -> Predictions:
        """Predictions in FATE's layout (binary: classes ``[0, 1]``; one-vs-rest: the class of the
        highest per-class score, every class's score in ``predict_detail``)."""
        if self.feature_names and list(frame.feature_names) != self.feature_names:
            frame = frame.select_features(self.feature_names)
        if self.per_class:
            scores = np.column_stack([m.predict_proba(frame.features) for m in self.per_class])  # (n, k)
            best = np.asarray(self.classes, dtype=np.int64)[np.argmax(scores, axis=1)]
            return Predictions(frame.ids, scores, best, frame.label, "multi", list(self.classes))
        score = self.predict_proba(frame.features)
        result = (score > self.threshold).astype(np.int64)
        return Predictions(frame.ids, score, result, frame.label, "binary", [0, 1])

    def summary(self) -> dict[str, object]:
        """JSON-able metrics: rounds, convergence, the global loss per round (one-vs-rest: the
        classes, the most rounds of any class, and each class's own summary)."""
        if self.per_class:
            per = {str(c): m.summary() for c, m in zip(self.classes, self.per_class, strict=True)}
            return {
                "classes": list(self.classes),
                "rounds": max(len(m.history) for m in self.per_class),
                "converged": all(m.converged for m in self.per_class),
                "per_class": per,
            }
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
            **(
                {"classes": list(self.classes), "per_class": [m.to_dict() for m in self.per_class]}
                if self.per_class
                else {}
            ),
            **({"state": self.state} if self.state else {}),
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
        classes, per_class = d.get("classes", []), d.get("per_class", [])
        if not (isinstance(classes, list) and isinstance(per_class, list) and len(classes) == len(per_class)):
            raise DataError("the stored HomoLR model's classes and per_class do not match", field="model")
        state = d.get("state", {})
        if not isinstance(state, Mapping):
            raise DataError("the stored HomoLR model's state is not a mapping", field="model")
        return cls(
            np.asarray(weights, dtype=np.float64),
            float(intercept),
            [str(n) for n in names],
            float(threshold),
            [dict(h) for h in history],
            bool(d.get("converged", False)),
            [int(c) for c in classes],
            [cls.from_dict(m) for m in per_class],
            dict(state),
        )

    def start_round(self) -> int:
        """The round a warm start from this (binary or one class's) model begins with: its round
        count, or never (``2**31``, past any ``max_iter``) once the early-stop rule has fired."""
        return 2**31 if self.converged else len(self.history)


class _Optimizer:
    """FATE's homo LR optimisers on a flat numpy vector (state kept across rounds)."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0

    def state(self) -> dict[str, object]:
        """JSON-able state (a warm start restores it with :meth:`load`)."""
        return {
            "optimizer": self.name,
            "t": self.t,
            "m": [float(x) for x in self.m],
            "v": [float(x) for x in self.v],
        }

    def load(self, state: Mapping[str, object]) -> None:
        """Restore :meth:`state`.

        Raises
        ------
        ConfigError
            The state is of another optimiser or size, or malformed (names ``input.model``).
        """
        name, t, m, v = state.get("optimizer"), state.get("t"), state.get("m"), state.get("v")
        if name != self.name:
            raise ConfigError(
                f"the stored HomoLR model was trained with optimizer {name!r}, this job uses "
                f"{self.name!r}; a warm start continues with the same optimizer",
                field="input.model",
            )
        size = len(self.m)
        if not (
            isinstance(t, int) and isinstance(m, list) and isinstance(v, list) and len(m) == len(v) == size
        ):
            raise ConfigError(
                f"the stored HomoLR model's optimizer state does not fit {size} weights", field="input.model"
            )
        self.t = t
        self.m = np.asarray(m, dtype=np.float64)
        self.v = np.asarray(v, dtype=np.float64)

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
    #: The model of one class of a one-vs-rest fit (the classes are agreed already).
    _one_class: bool = False

    def __init__(self, params: HomoLRParams) -> None:
        self.params = params
        self._w = np.zeros(0)
        self._x = np.zeros((0, 0))
        self._y = np.zeros(0)
        self._val: Frame | None = None
        self._opt: _Optimizer | None = None
        self._epoch = 0
        self._rng = np.random.default_rng(0)

    def fit(
        self, ctx: Context, train: Frame, validate: Frame | None = None, *, init: HomoLRModel | None = None
    ) -> HomoLRModel:
        """Federated training on this client's rows; returns the global model.

        ``init`` (a warm start): this client's stored model of an earlier HomoLR job; training
        continues from its weights, optimiser state and round count (``max_iter`` counts rounds in
        total; one-vs-rest: each class's model continues its own).

        Raises
        ------
        DataError
            No label, or labels that are not integers in ``[0, MAX_CLASSES)``.
        ConfigError
            ``init`` does not fit (other classes or features, no optimiser state: names
            ``input.model``).
        """
        if not self._one_class:
            classes = client_classes(ctx, train, self.params)
            check_warm_classes(init, classes)
            if is_one_vs_rest(classes):
                return self._fit_one_vs_rest(ctx, train, validate, classes, init)
        p = self.params
        self._x, self._y = train.features, _binary_labels(train)
        d = train.n_features
        if validate is not None:
            _binary_labels(validate)
            validate = validate.select_features(list(train.feature_names))
        self._val = validate
        self.schema_digest = feature_digest(train.feature_names)
        self._rng = np.random.default_rng(p.seed)
        self._opt = _Optimizer(p.optimizer, d + 1)
        if init is None:
            self._w, self._epoch, prior, start = self._init(d), 0, [], 0
        else:
            state = warm_state(init)
            if len(init.weights) != d:
                raise ConfigError(
                    f"the stored HomoLR model has {len(init.weights)} weights and the training data "
                    f"{d} features",
                    field="input.model",
                )
            self._opt.load(state)
            epoch = state.get("epoch")
            if not isinstance(epoch, int):
                raise ConfigError("the stored HomoLR model's epoch count is missing", field="input.model")
            self._w = np.append(np.asarray(init.weights, dtype=np.float64), float(init.intercept))
            self._epoch, prior, start = epoch, list(init.history), init.start_round()
        history = self.federate(ctx, start)
        return HomoLRModel(
            self._w[:-1].copy(),
            float(self._w[-1]),
            list(train.feature_names),
            p.threshold,
            prior + history.rounds,
            history.converged or (init is not None and init.converged),
            state={**self._opt.state(), "epoch": self._epoch},
        )

    def _fit_one_vs_rest(
        self, ctx: Context, train: Frame, validate: Frame | None, classes: list[int], init: HomoLRModel | None
    ) -> HomoLRModel:
        """One binary FedAvg per class ``c`` on the labels ``y == c``, in namespace ``ovr_class-k``."""
        if validate is not None:
            label_values(validate)  # labelled, class numbers
        models = []
        for k, c in enumerate(classes):
            client = HomoLRClient(self.params)
            client._one_class = True
            val = None if validate is None else _one_class_frame(validate, c)
            one = None if init is None else init.per_class[k]
            models.append(client.fit(msg.OVR_CLASS.at(ctx, k), _one_class_frame(train, c), val, init=one))
        return _one_vs_rest_model(models, classes, list(train.feature_names), self.params.threshold)

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
            # keyed on the absolute epoch: a warm start shuffles as the uninterrupted run would
            order = np.arange(n) if bs == n else np.random.default_rng([p.seed, t]).permutation(n)
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

    def fit(self, ctx: Context, *, init: HomoLRModel | None = None) -> HomoLRModel:
        """Run every round; returns the global model (no feature names: the arbiter has no schema).
        With more than two classes (or labels other than 0 / 1), one FedAvg per class.

        ``init`` (a warm start): the arbiter's stored model of an earlier HomoLR job; the rounds
        and the early-stop rule continue from its round count, weights and last loss.

        Raises
        ------
        ConfigError
            ``init`` does not fit (other classes, an old model without warm-start state: names
            ``input.model``).
        """
        classes = arbiter_classes(ctx, self.params)
        check_warm_classes(init, classes)
        if is_one_vs_rest(classes):
            models = [
                self._fit_one(msg.OVR_CLASS.at(ctx, k), None if init is None else init.per_class[k])
                for k in range(len(classes))
            ]
            return _one_vs_rest_model(models, classes, [], self.params.threshold)
        return self._fit_one(ctx, init)

    def _fit_one(self, ctx: Context, init: HomoLRModel | None = None) -> HomoLRModel:
        arbiter = FedAvgArbiter(self.params.fedavg())
        if init is None:
            res: FedAvgResult = arbiter.fit(ctx)
            prior: list[dict[str, float]] = []
        else:
            warm_state(init)
            prev = np.append(np.asarray(init.weights, dtype=np.float64), float(init.intercept))
            last = init.history[-1].get("loss") if init.history else None
            res = arbiter.fit(ctx, init.start_round(), prev, None if last is None else float(last))
            prior = list(init.history)
        assert res.weights is not None
        rounds = prior + res.rounds
        return HomoLRModel(
            res.weights[:-1].copy(),
            float(res.weights[-1]),
            [],
            self.params.threshold,
            rounds,
            res.converged or (init is not None and init.converged),
            state={"rounds": len(rounds)},
        )

    def predict(self, ctx: Context, model: HomoLRModel) -> None:
        """Nothing to do: in the horizontal setting each client predicts its own rows alone."""


def check_warm_classes(init: HomoLRModel | None, classes: list[int]) -> None:
    """Refuse a warm start whose stored model is of other classes than the agreed ``classes``.

    Raises
    ------
    ConfigError
        Binary against one-vs-rest, or other classes (names ``input.model``).
    """
    if init is None:
        return
    ovr = is_one_vs_rest(classes)
    if ovr != bool(init.per_class) or (ovr and list(init.classes) != list(classes)):
        stored = init.classes if init.per_class else "binary (0 / 1)"
        agreed = classes if ovr else "binary (0 / 1)"
        raise ConfigError(
            f"the stored HomoLR model's classes are {stored}, the clients' labels now give {agreed}; "
            "a warm start continues the same classes",
            field="input.model",
        )


def warm_state(init: HomoLRModel) -> dict[str, object]:
    """The warm-start state of a stored binary (or one class's) model.

    Raises
    ------
    ConfigError
        The model was stored before HomoLR warm-started (no state; names ``input.model``).
    """
    if not init.state:
        raise ConfigError(
            "the stored HomoLR model holds no optimiser state (stored by an older fedloom); train it "
            "again to continue from it",
            field="input.model",
        )
    return dict(init.state)


def _one_class_frame(frame: Frame, c: int) -> Frame:
    """``frame`` with the label ``1.0`` where it is ``c``, else ``0.0`` (one-vs-rest)."""
    assert frame.label is not None  # checked by client_classes
    y = (np.asarray(frame.label, dtype=np.float64) == c).astype(np.float64)
    return Frame(
        frame.ids, frame.features, frame.feature_names, y, frame.match_id_name, frame.label_name,
        frame.table, frame.weights,
    )  # fmt: skip


def _one_vs_rest_model(
    models: list[HomoLRModel], classes: list[int], names: list[str], threshold: float
) -> HomoLRModel:
    return HomoLRModel(
        np.zeros(0),
        0.0,
        names,
        threshold,
        [],
        all(m.converged for m in models),
        list(classes),
        models,
    )


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
            f"the clients' training labels are 0 / 1 (a binary HomoLR); {frame.table or 'the data'} "
            f"holds {values}",
            field=frame.label_name or "label",
        )
    return y
