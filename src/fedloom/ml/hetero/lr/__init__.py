r"""Hetero logistic regression (guest with the label, hosts, arbiter), Taylor-approximated.

Loss :math:`\ell \approx \log 2 - \tfrac12 y\,w^Tx + \tfrac18 (w^Tx)^2` with :math:`y \in \{-1, 1\}`,
residual :math:`d = \tfrac14 w^Tx - \tfrac12 y`, split as
:math:`[\tfrac14 w_h^Tx_h] + (\tfrac14 w_g^Tx_g - \tfrac12 y)`; gradients :math:`\sum [d]\,x`,
masked and re-randomised before the arbiter decrypts them. What the parties learn in clear (as in
FATE): each its own gradient per batch — the host :math:`X_h^Td`, from which a batch of at most
(host features + 1) rows would give it :math:`d` and so the labels (such batch plans are refused
unless ``allow_small_batches``); the guest :math:`\sum d`, which reveals the batch sum of the
hosts' :math:`\tfrac14 w_h^Tx_h` — and the guest the hosts' :math:`w_h^Tx_h` of validation and
predicted rows. Binary labels (two classes, the larger one positive);
more classes train one binary model per class (one-vs-rest) unless ``multi_class: binary``.
Protocol, message flow and what each party learns: :mod:`fedloom.ml.hetero.glm`.

>>> model = HeteroLRGuest(HeteroLRParams(max_iter=5)).fit(ctx, train)   # doctest: +SKIP
>>> HeteroLRGuest(params).predict(ctx, model, test).to_pandas()          # doctest: +SKIP
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm.arbiter import GLMArbiter
from fedloom.ml.hetero.glm.ciphers import Vector
from fedloom.ml.hetero.glm.guest import GLMGuest
from fedloom.ml.hetero.glm.host import GLMHost
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import ClassLabel, GLMModel
from fedloom.ml.hetero.glm.params import GLMParams, HeteroLRParams
from fedloom.ml.hetero.glm.role import GLMKind
from fedloom.ml.predictions import Predictions

LOG2 = float(np.log(2.0))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


class LRFamily(Family):
    """Logistic regression's pieces of the skeleton (labels ±1)."""

    algorithm: ClassVar[str] = "HeteroLR"
    task: ClassVar[str] = "binary"
    quadratic: ClassVar[bool] = True
    loss_scale: ClassVar[float] = 2.0  # ℓ = log 2 − ½ + 2·d²
    loss_constant: ClassVar[float] = LOG2 - 0.5

    def host_forward(self, wx: np.ndarray) -> np.ndarray:
        return 0.25 * wx

    def guest_part(self, wx: np.ndarray, y: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return 0.25 * wx - 0.5 * y

    def residual(self, forward: Vector, part: np.ndarray, y: np.ndarray) -> Vector:
        return forward + part

    def link(self, wx: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(wx, dtype=np.float64))


class HeteroLRModel(GLMModel):
    """A party's part of a hetero LR model (see :class:`~fedloom.ml.hetero.glm.model.GLMModel`)."""

    algorithm: ClassVar[str] = "HeteroLR"


def _as_label(v: ClassLabel | np.generic) -> ClassLabel:
    """A class label as a plain Python value (JSON-able)."""
    return v.item() if isinstance(v, np.generic) else v


#: Hetero LR's parameters, model and family, bound to its three role classes.
LR = GLMKind(HeteroLRParams, HeteroLRModel, LRFamily())


class HeteroLRGuest(GLMGuest, kind=LR):
    """Guest of hetero LR: holds the label; see :class:`~fedloom.ml.hetero.glm.guest.GLMGuest`."""

    def _threshold(self, p: GLMParams) -> float:
        return HeteroLRParams.coerce(p).predict_param.threshold

    def _class_labels(
        self, label: np.ndarray, party: str
    ) -> tuple[list[ClassLabel] | None, list[np.ndarray]]:
        if label.dtype.kind == "f":
            frac = np.flatnonzero(label != np.rint(label))
            if len(frac):
                raise DataError(
                    f"the label of HeteroLR must hold class labels (integers or text); row {int(frac[0])} "
                    f"holds {float(label[frac[0]])!r}. Use HeteroLinR for a continuous target.",
                    party=party,
                    field="label",
                )
            label = label.astype(np.int64)
        classes = [_as_label(c) for c in np.unique(label).tolist()]
        if len(classes) < 2:
            raise DataError(
                f"the label of HeteroLR has a single class ({classes[0]!r} if any); it needs two",
                party=party,
                field="label",
            )
        if len(classes) == 2:
            return classes, [np.where(label == classes[1], 1.0, -1.0)]
        if HeteroLRParams.coerce(self.params).multi_class == "binary":
            raise DataError(
                f"the label of binary HeteroLR has {len(classes)} classes ({', '.join(map(str, classes[:5]))}"
                f"{' …' if len(classes) > 5 else ''}); it must have exactly two (or set multi_class: ovr)",
                party=party,
                field="label",
            )
        return classes, [np.where(label == c, 1.0, -1.0) for c in classes]

    def _validation_target(
        self, label: np.ndarray, wx: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        score = sigmoid(wx)
        threshold = self._threshold(HeteroLRParams.coerce(self.params))
        y = self._positive(label, k)
        return y, score, (score > threshold).astype(np.int64)

    def _positive(self, label: np.ndarray, k: int) -> np.ndarray:
        classes = np.unique(label.astype(np.int64) if label.dtype.kind == "f" else label)
        target = classes[k] if len(classes) > 2 else classes[-1]
        return (label == target).astype(np.int64)

    def _predictions(self, frame: Frame, wx: np.ndarray, model: GLMModel) -> Predictions:
        classes = model.classes or [0, 1]
        if wx.shape[1] == 1:
            score = sigmoid(wx[:, 0])
            result = np.where(score > model.threshold, classes[1], classes[0])
            return Predictions(frame.ids, score, result, frame.label, "binary", list(classes))
        probs = sigmoid(wx)
        probs = probs / probs.sum(axis=1, keepdims=True)
        result = np.asarray(classes, dtype=object)[np.argmax(probs, axis=1)]
        if all(isinstance(c, int) for c in classes):
            result = result.astype(np.int64)
        return Predictions(frame.ids, probs, result, frame.label, "multi", list(classes))


class HeteroLRHost(GLMHost, kind=LR):
    """Host of hetero LR; see :class:`~fedloom.ml.hetero.glm.host.GLMHost`."""


class HeteroLRArbiter(GLMArbiter, kind=LR):
    """Arbiter of hetero LR; see :class:`~fedloom.ml.hetero.glm.arbiter.GLMArbiter`."""


__all__ = [
    "HeteroLRArbiter",
    "HeteroLRGuest",
    "HeteroLRHost",
    "HeteroLRModel",
    "HeteroLRParams",
    "LRFamily",
    "sigmoid",
]
