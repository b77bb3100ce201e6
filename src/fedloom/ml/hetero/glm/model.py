"""One party's trained GLM: plain numbers only, JSON in and out.

The guest's model holds its coefficients (and intercept), the classes and the training history;
a host's holds its own coefficients only; the arbiter's holds the history (loss, convergence)
and no weights. One-vs-rest keeps one row of coefficients per class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar, Self, TypeAlias

from fedloom.core.errors import DataError

FORMAT_VERSION = 1

#: A class label as the guest's data holds it (JSON-able).
ClassLabel: TypeAlias = str | int | float


def _clean(v: object) -> object:
    """NaN / inf → None so the dict is strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


@dataclass
class GLMModel:
    """A party's part of a hetero LR / LinR / Poisson model.

    Attributes
    ----------
    role
        ``guest``, ``host`` or ``arbiter``.
    feature_names
        This party's feature columns, in model order (empty on the arbiter).
    coef
        One list of coefficients per model (one model, or one per class with one-vs-rest).
    intercept
        One intercept per model (guest with ``fit_intercept``; else zeros).
    fit_intercept
        Whether the guest fitted an intercept.
    classes
        Guest of LR: the class labels (binary: ``[negative, positive]``); None elsewhere.
    loss_history
        Per model, the loss of each epoch (guest and arbiter).
    n_iter
        Per model, epochs run.
    converged
        Per model, whether ``early_stop`` was met (rather than ``max_iter`` or validation).
    validation
        Per model, ``[{"epoch": e, "metrics": {...}}, ...]`` (guest).
    best_iteration
        Per model, the epoch with the best first validation metric (None without validation).
    epoch_seconds
        Per model, the wall time of each epoch on this party (seconds).
    exposure_colname
        Poisson: the guest column used as exposure (None when none).
    threshold
        LR: the decision threshold for binary predictions.
    optimizer_state
        Guest and hosts: per model, the optimiser's state after the last epoch
        (:meth:`~fedloom.ml.hetero.glm.optimizer.Optimizer.state`), what a warm start continues
        from; empty in models stored before warm starts (they continue with fresh moments).
    """

    algorithm: ClassVar[str] = "HeteroGLM"

    role: str
    feature_names: list[str] = field(default_factory=list)
    coef: list[list[float]] = field(default_factory=list)
    intercept: list[float] = field(default_factory=list)
    fit_intercept: bool = False
    classes: list[ClassLabel] | None = None
    loss_history: list[list[float]] = field(default_factory=list)
    n_iter: list[int] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    validation: list[list[dict[str, object]]] = field(default_factory=list)
    best_iteration: list[int | None] = field(default_factory=list)
    epoch_seconds: list[list[float]] = field(default_factory=list)
    exposure_colname: str | None = None
    threshold: float = 0.5
    optimizer_state: list[dict[str, object]] = field(default_factory=list)

    @property
    def n_models(self) -> int:
        """Number of binary / regression models (classes with one-vs-rest)."""
        return max(len(self.coef), len(self.n_iter))

    def to_dict(self) -> dict[str, object]:
        """JSON-able dict (NaN becomes null)."""
        d = {k: _clean(v) for k, v in asdict(self).items()}
        d["algorithm"] = self.algorithm
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Self:
        """Rebuild from :meth:`to_dict` output (DataError for another algorithm's model)."""
        if not isinstance(d, Mapping):
            raise DataError(f"a {cls.algorithm} model must be a dict. Got {type(d).__name__}.", field="model")
        algo = d.get("algorithm", cls.algorithm)
        if algo != cls.algorithm:
            raise DataError(f"this is a {algo} model, not a {cls.algorithm} model", field="algorithm")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"algorithm", "format_version"})
        if unknown:
            raise DataError(f"unknown field(s) {unknown} in a {cls.algorithm} model", field=unknown[0])
        values = {k: v for k, v in d.items() if k in names}
        try:
            # The stored JSON's values, as to_dict wrote them (NaN as null): not re-checked here.
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:
            raise DataError(f"malformed {cls.algorithm} model: {exc}", field="model") from None

    def summary(self) -> dict[str, object]:
        """Loss history, epochs run, convergence and per-epoch validation metrics."""
        one = self.n_models == 1
        out: dict[str, object] = {
            "algorithm": self.algorithm,
            "role": self.role,
            "n_models": self.n_models,
            "loss_history": self.loss_history[0] if one and self.loss_history else self.loss_history,
            "n_iter": self.n_iter[0] if one and self.n_iter else self.n_iter,
            "converged": self.converged[0] if one and self.converged else self.converged,
            "validation": self.validation[0] if one and self.validation else self.validation,
            "best_iteration": self.best_iteration[0] if one and self.best_iteration else self.best_iteration,
        }
        if self.classes is not None:
            out["classes"] = self.classes
        if self.coef:
            out["weights"] = [dict(zip(self.feature_names, c, strict=True)) for c in self.coef]
            if self.fit_intercept:
                out["intercept"] = self.intercept
        return {k: _clean(v) for k, v in out.items()}

    def weights(self, k: int, has_intercept: bool) -> list[float]:
        """Model ``k``'s weights as the optimiser steps them (the intercept last, if fitted)."""
        return [*self.coef[k], *([self.intercept[k]] if has_intercept else [])]

    def state_of(self, k: int) -> dict[str, object]:
        """Model ``k``'s optimiser state (empty where none was stored)."""
        return self.optimizer_state[k] if k < len(self.optimizer_state) else {}

    def check_warm_start(
        self, role: str, n_models: int | None, feature_names: list[str], fit_intercept: bool, party: str
    ) -> None:
        """Refuse to continue this model on another role, features, class count or intercept.

        Raises
        ------
        DataError
            The stored model does not fit the training run (names what differs).
        """
        what = f"the warm-start model ({self.role}'s part)"
        if self.role != role:
            raise DataError(f"{what} is not the {role}'s part of a model", party=party, field="input.model")
        if list(self.feature_names) != list(feature_names):
            raise DataError(
                f"{what} has features {list(self.feature_names)}; "
                f"the training data has {list(feature_names)}",
                party=party,
                field="input.model",
            )
        if n_models is not None and self.n_models != n_models:
            raise DataError(
                f"{what} has {self.n_models} model(s); the training data needs {n_models}",
                party=party,
                field="input.model",
            )
        if role == "guest" and self.fit_intercept != fit_intercept:
            raise DataError(
                f"{what} was trained with fit_intercept={self.fit_intercept}; the job has {fit_intercept}",
                party=party,
                field="init_param.fit_intercept",
            )

    def epochs_of(self, k: int) -> int:
        """Epochs model ``k`` has run (0 for a model without history)."""
        return int(self.n_iter[k]) if k < len(self.n_iter) else 0
