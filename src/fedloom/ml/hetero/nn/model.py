"""The stored Hetero NN model of one party: architecture, plain weights, history; no ciphertexts.

Guest: its bottom model, the interactive layer (its own weights ``W_B``, the bias, and per host the
*noised* weights ``W'_A = W_A − ε_acc`` it trained: the true host weights are never on the guest),
the top model, the classes and the training history. Host: its bottom model and its accumulated
noise ``ε_acc`` (needed to predict: the guest's ``W'_A`` plus the host's ``ε_acc`` are the layer's
true weights), no labels and no interactive weights.

Weights are one safetensors file (``weights.safetensors``, float64 numpy arrays) next to
``model.json``; :meth:`HeteroNNModel.to_dict` gives it as ``bytes`` (the model-component base
writes ``bytes`` values as files).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedloom.core.errors import DataError

__all__ = ["WEIGHTS", "HeteroNNModel"]

#: The file the weights are stored in, next to ``model.json``.
WEIGHTS = "weights.safetensors"


def _save(arrays: Mapping[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()})


def _load(data: bytes) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        return {k: np.asarray(v, dtype=np.float64) for k, v in load(data).items()}
    except SafetensorError as err:
        raise DataError(f"the stored HeteroNN weights are unreadable: {err}", field="input.model") from None


@dataclass
class HeteroNNModel:
    """One party's Hetero NN model (see the module docstring).

    Attributes
    ----------
    role
        ``"guest"`` or ``"host"``.
    task_type
        ``classification`` or ``regression``.
    loss
        The torch loss name the guest trained with (turns the top output into predictions).
    bottom, top
        Layer specs (:mod:`fedloom.ml.torch_layers`); ``top`` is empty on a host.
    interactive
        Guest: ``out_dim``, ``activation``, ``dropout``, ``need_guest``, ``guest_dim``,
        ``host_dims`` (per host, in :attr:`hosts` order), ``bias``. Host: ``host_dim``, ``out_dim``.
    weights
        ``bottom.<name>``, ``top.<name>`` (state dicts), ``interactive.guest_weight`` (guest_dim,
        out_dim), ``interactive.bias`` (out_dim,), ``interactive.host_weight.<i>`` (the noised
        weights of host ``i``); a host's ``interactive.acc_noise`` (host_dim, out_dim).
    feature_names
        This party's training columns (prediction data must have them).
    classes
        Guest, classification: label values in output order.
    hosts
        Guest: the hosts' party names in order.
    history
        ``loss`` per epoch, ``validation`` (per validated epoch: ``epoch`` and metrics),
        ``selected`` (per epoch: rows back-propagated, SelectiveBP).
    best_epoch
        The epoch whose weights are kept (early stopping on validation), else the last one.
    work
        Counters: encryptions, decryptions, encrypted multiplications, re-randomisations, bytes
        sent / received, ``seconds_per_epoch``.
    """

    role: str
    task_type: str = "classification"
    loss: str = "BCELoss"
    bottom: list[dict[str, Any]] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)
    interactive: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    classes: list[Any] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    threshold: float = 0.5
    history: dict[str, list[Any]] = field(
        default_factory=lambda: {"loss": [], "validation": [], "selected": []}
    )
    best_epoch: int | None = None
    converged: bool = False
    work: dict[str, Any] = field(default_factory=dict)

    # -- parts --------------------------------------------------------------------------------------
    def part(self, prefix: str) -> dict[str, np.ndarray]:
        """The weights under ``prefix.`` with the prefix removed (``part("bottom")``: a state dict)."""
        head = prefix + "."
        return {k[len(head) :]: v for k, v in self.weights.items() if k.startswith(head)}

    # -- storage ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``model.json``'s content, with the weights as ``weights.safetensors`` bytes."""
        return {
            "role": self.role,
            "task_type": self.task_type,
            "loss": self.loss,
            "bottom": [dict(layer) for layer in self.bottom],
            "top": [dict(layer) for layer in self.top],
            "interactive": dict(self.interactive),
            "feature_names": list(self.feature_names),
            "classes": list(self.classes),
            "hosts": list(self.hosts),
            "threshold": self.threshold,
            "history": self.history,
            "best_epoch": self.best_epoch,
            "converged": self.converged,
            "work": self.work,
            WEIGHTS: _save(self.weights),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeteroNNModel:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        DataError
            Not a HeteroNN model, or its weights were not read back (names the field).
        """
        if not isinstance(d, Mapping):
            raise DataError(f"a HeteroNN model must be a mapping. Got {type(d).__name__}.", field="model")
        weights = d.get(WEIGHTS)
        if not isinstance(weights, bytes):
            raise DataError(
                f"the HeteroNN model's {WEIGHTS} was not read back: load model.json with "
                "fedloom.components.base.join_model_files",
                field="input.model",
            )
        try:
            role = str(d["role"])
            if role not in ("guest", "host"):
                raise DataError(f"unknown role {role!r} in a HeteroNN model", field="role")
            history = dict(d.get("history") or {})
            for key in ("loss", "validation", "selected"):
                history.setdefault(key, [])
            return cls(
                role=role,
                task_type=str(d.get("task_type", "classification")),
                loss=str(d.get("loss", "BCELoss")),
                bottom=[dict(layer) for layer in d.get("bottom", [])],
                top=[dict(layer) for layer in d.get("top", [])],
                interactive=dict(d.get("interactive", {})),
                weights=_load(weights),
                feature_names=[str(c) for c in d.get("feature_names", [])],
                classes=list(d.get("classes", [])),
                hosts=[str(h) for h in d.get("hosts", [])],
                threshold=float(d.get("threshold", 0.5)),
                history=history,
                best_epoch=None if d.get("best_epoch") is None else int(d["best_epoch"]),
                converged=bool(d.get("converged", False)),
                work=dict(d.get("work", {})),
            )
        except KeyError as e:
            raise DataError(f"the HeteroNN model lacks {e.args[0]!r}", field=str(e.args[0])) from None
        except (TypeError, ValueError, AttributeError) as e:
            raise DataError(f"malformed HeteroNN model: {e}", field="model") from None

    def summary(self) -> dict[str, Any]:
        """Training summary: epochs, loss history, validation metrics, SelectiveBP counts, work
        counters, seconds per epoch and bytes."""
        losses = list(self.history.get("loss", []))
        return {
            "role": self.role,
            "task_type": self.task_type,
            "epochs": len(losses),
            "loss_history": losses,
            "validation": list(self.history.get("validation", [])),
            "selected": list(self.history.get("selected", [])),
            "best_epoch": self.best_epoch,
            "converged": self.converged,
            "seconds_per_epoch": self.work.get("seconds_per_epoch", []),
            "bytes_sent": self.work.get("bytes_sent", 0),
            "bytes_received": self.work.get("bytes_received", 0),
            "work": dict(self.work),
        }
