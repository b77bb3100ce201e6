"""Typed records of the hetero GLM's plain (non-ciphertext) messages, validated at the boundary.

Everything a party receives from a peer is untrusted: it is checked here, once, and turned
into a typed record before the algorithm uses it. Any problem is a
:class:`~fedloom.core.errors.MessageError` naming the sender (``party``) and the message field
(``field``); nothing received raises ``ValueError`` / ``TypeError`` further in. Ciphertext
vectors are checked by :func:`.messages.expect_cipher`, the unmasked gradients by
:func:`.messages.residues_from_bytes`.

The records travel as plain dicts of str / int / bool / numpy arrays (the codec's types): the
sender writes :meth:`to_wire`, the receiver calls ``from_wire(value, sender)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fedloom.ml.hetero.glm.batch import BatchPlan
from fedloom.ml.hetero.records_common import (
    MAX_ROWS,
    expect_count,
    expect_digest,
    expect_fields,
    message_error,
)

#: Most models (classes with one-vs-rest) a fit may train.
MAX_MODELS = 1000
#: Most weights one party may announce (features + intercept).
MAX_WEIGHTS = 1 << 20


def expect_flag(value: object, sender: str, field: str) -> bool:
    """A boolean (``True`` / ``False`` or a numpy bool)."""
    if not isinstance(value, bool | np.bool_):
        raise message_error(f"expected a boolean. Got {type(value).__name__}.", sender, field)
    return bool(value)


def expect_square_norm(value: object, sender: str, field: str) -> float:
    """A finite float ``≥ 0`` (a squared norm such as ``‖Δw‖²``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise message_error(f"expected a number. Got {type(value).__name__}.", sender, field)
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise message_error(f"expected a finite number >= 0. Got {v!r}.", sender, field)
    return v


def expect_scores(value: object, sender: str, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """A finite float / int array of exactly ``shape`` (scores such as ``w_hᵀx_h``)."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        raise message_error(f"expected a numeric array. Got {type(value).__name__}.", sender, field)
    if value.shape != shape:
        raise message_error(f"array of shape {value.shape} where {shape} was expected", sender, field)
    out = value.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise message_error("NaN or infinite values", sender, field)
    return out


@dataclass(frozen=True)
class Setup:
    """The guest's ``SETUP``: training rows, batch plan, models, its weight count, validation."""

    ids: str
    n_rows: int
    plan: BatchPlan
    n_models: int
    n_weights: int
    validate: str | None
    weighted: bool = False  # the guest weighs its rows (SampleWeight): hosts send [Σ d·u_h]
    random_batches: bool = False  # batch_strategy random: plan is epoch 0's; EPOCH_PLAN each epoch

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire (``weighted`` only when true)."""
        wire: dict[str, object] = {
            "ids": self.ids,
            "n_rows": self.n_rows,
            "order": self.plan.order,
            "offsets": self.plan.offsets,
            "n_models": self.n_models,
            "n_weights": self.n_weights,
            "validate": self.validate,
        }
        if self.weighted:
            wire["weighted"] = True
        if self.random_batches:
            wire["random_batches"] = True
        return wire

    @classmethod
    def from_wire(cls, value: object, sender: str) -> Setup:
        """Validate a received setup (MessageError naming ``sender`` and the field)."""
        keys: tuple[str, ...] = ("ids", "n_rows", "order", "offsets", "n_models", "n_weights", "validate")
        keys += tuple(k for k in ("weighted", "random_batches") if isinstance(value, dict) and k in value)
        v = expect_fields(value, sender, "setup", keys)
        n = expect_count(v["n_rows"], sender, "n_rows", 1, MAX_ROWS)
        random_batches = expect_flag(v.get("random_batches", False), sender, "random_batches")
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            n_rows=n,
            plan=BatchPlan.from_wire(v["order"], v["offsets"], n, sender, sample=random_batches),
            n_models=expect_count(v["n_models"], sender, "n_models", 1, MAX_MODELS),
            n_weights=expect_count(v["n_weights"], sender, "n_weights", 1, MAX_WEIGHTS),
            validate=expect_digest(v["validate"], sender, "validate", optional=True),
            weighted=expect_flag(v.get("weighted", False), sender, "weighted"),
            random_batches=random_batches,
        )


@dataclass(frozen=True)
class HostSetup:
    """A host's ``HOST_SETUP``: its id digests and feature count."""

    ids: str
    validate: str | None
    n_features: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"ids": self.ids, "validate": self.validate, "n_features": self.n_features}

    @classmethod
    def from_wire(cls, value: object, sender: str) -> HostSetup:
        """Validate a received host setup (MessageError naming ``sender`` and the field)."""
        v = expect_fields(value, sender, "host_setup", ("ids", "validate", "n_features"))
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            validate=expect_digest(v["validate"], sender, "validate", optional=True),
            n_features=expect_count(v["n_features"], sender, "n_features", 1, MAX_WEIGHTS),
        )


@dataclass(frozen=True)
class PredictSetup:
    """The guest's ``PREDICT_SETUP``: digest and count of the rows to predict."""

    ids: str
    n_rows: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"ids": self.ids, "n_rows": self.n_rows}

    @classmethod
    def from_wire(cls, value: object, sender: str) -> PredictSetup:
        """Validate a received prediction setup."""
        v = expect_fields(value, sender, "predict_setup", ("ids", "n_rows"))
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            n_rows=expect_count(v["n_rows"], sender, "n_rows", 0, MAX_ROWS),
        )


@dataclass(frozen=True)
class PredictForward:
    """A host's ``PREDICT_FORWARD``: its id digest and ``w_hᵀx_h`` per row and model."""

    ids: str
    wx: np.ndarray

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"ids": self.ids, "wx": self.wx}

    @classmethod
    def from_wire(cls, value: object, sender: str, shape: tuple[int, int]) -> PredictForward:
        """Validate a received prediction forward of ``shape`` (rows, models)."""
        v = expect_fields(value, sender, "predict_forward", ("ids", "wx"))
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            wx=expect_scores(v["wx"], sender, "wx", shape),
        )
