"""The stored SecureBoost model of one party: plain numbers, no ciphertexts.

Guest: the trees' structure and leaves (host nodes carry their owner and no feature, bin or
threshold), the objective, classes, initial score, its own features' bins, feature importance
(host features under anonymous names), history. Host: per tree only its own nodes, with the
feature, bin and threshold it keeps (no leaf values: it never learns them), its bins, and the
anonymous names the guest knows its features by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedloom.core.errors import DataError
from fedloom.ml.feature.bins import ColumnBins
from fedloom.ml.tree import Node, Tree


@dataclass
class SecureBoostModel:
    """One party's SecureBoost model (see the module docstring).

    Attributes
    ----------
    role
        ``"guest"`` or ``"host"``.
    trees
        Guest: whole trees. Host: per tree its own nodes only (ids are the guest's node ids).
    bins
        Own features' bins, by feature name, in the training column order.
    host_features
        Guest: per tree, ``{node id: anonymous host feature name}`` of the host nodes.
    anonymous
        Host: own feature name → the anonymous name the guest knows.
    """

    role: str
    task_type: str
    objective: str
    objective_params: list[float] | None
    learning_rate: float
    classes: list[Any] = field(default_factory=list)
    init_score: list[float] = field(default_factory=list)
    multi_output: bool = False
    use_missing: bool = False
    zero_as_missing: bool = False
    trees: list[Tree] = field(default_factory=list)
    bins: dict[str, ColumnBins] = field(default_factory=dict)
    host_features: list[dict[int, str]] = field(default_factory=list)
    anonymous: dict[str, str] = field(default_factory=dict)
    feature_importance: dict[str, dict[str, float]] = field(default_factory=dict)
    history: dict[str, list[Any]] = field(default_factory=lambda: {"loss": [], "validation": []})
    best_iteration: int | None = None
    work: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """Own features in training order."""
        return list(self.bins)

    @property
    def n_outputs(self) -> int:
        """Scores per row."""
        return max(1, len(self.init_score))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the component's ``model.json``)."""
        return {
            "role": self.role,
            "task_type": self.task_type,
            "objective": self.objective,
            "objective_params": self.objective_params,
            "learning_rate": self.learning_rate,
            "classes": list(self.classes),
            "init_score": list(self.init_score),
            "multi_output": self.multi_output,
            "use_missing": self.use_missing,
            "zero_as_missing": self.zero_as_missing,
            "trees": [t.to_dict() for t in self.trees],
            "bins": {name: b.to_dict() for name, b in self.bins.items()},
            "host_features": [{str(k): v for k, v in m.items()} for m in self.host_features],
            "anonymous": dict(self.anonymous),
            "feature_importance": self.feature_importance,
            "history": self.history,
            "best_iteration": self.best_iteration,
            "work": self.work,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SecureBoostModel:
        """Inverse of :meth:`to_dict` (DataError naming the field on a malformed model)."""
        if not isinstance(d, Mapping):
            raise DataError(f"a SecureBoost model must be a mapping. Got {type(d).__name__}.", field="model")
        try:
            role = str(d["role"])
            if role not in ("guest", "host"):
                raise DataError(f"unknown role {role!r}", field="role")
            trees: list[Tree] = []
            for t in d["trees"]:
                if role == "guest":
                    trees.append(Tree.from_dict(t))
                else:  # a host's tree holds its own nodes only: no id sequence to check
                    ci = t.get("class_index")
                    trees.append(
                        Tree([Node.from_dict(n) for n in t["nodes"]], None if ci is None else int(ci))
                    )
            return cls(
                role=role,
                task_type=str(d["task_type"]),
                objective=str(d["objective"]),
                objective_params=None
                if d.get("objective_params") is None
                else [float(v) for v in d["objective_params"]],
                learning_rate=float(d["learning_rate"]),
                classes=list(d.get("classes", [])),
                init_score=[float(v) for v in d.get("init_score", [])],
                multi_output=bool(d.get("multi_output", False)),
                use_missing=bool(d.get("use_missing", False)),
                zero_as_missing=bool(d.get("zero_as_missing", False)),
                trees=trees,
                bins={str(k): ColumnBins.from_dict(v) for k, v in d["bins"].items()},
                host_features=[{int(k): str(v) for k, v in m.items()} for m in d.get("host_features", [])],
                anonymous={str(k): str(v) for k, v in d.get("anonymous", {}).items()},
                feature_importance=dict(d.get("feature_importance", {})),
                history=dict(d.get("history", {"loss": [], "validation": []})),
                best_iteration=d.get("best_iteration"),
                work=dict(d.get("work", {})),
            )
        except KeyError as e:
            raise DataError(f"the SecureBoost model lacks {e.args[0]!r}", field=str(e.args[0])) from None
        except (TypeError, ValueError, AttributeError) as e:
            raise DataError(f"malformed SecureBoost model: {e}", field="model") from None

    def summary(self) -> dict[str, Any]:
        """Metrics of training: trees, loss history, validation, feature importance, work."""
        return {
            "role": self.role,
            "trees": len(self.trees),
            "loss": list(self.history.get("loss", [])),
            "validation": list(self.history.get("validation", [])),
            "best_iteration": self.best_iteration,
            "feature_importance": self.feature_importance,
            "work": self.work,
        }
