"""Predictions as every algorithm hands them to Evaluation and to a job's output data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from fedloom.core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["binary", "multi", "regression"]


@dataclass
class Predictions:
    """One prediction per row, in FATE's output layout.

    Parameters
    ----------
    ids
        Row ids (text), in the order of the predicted data.
    score
        binary: P(y = positive class), shape (n,); multi: class probabilities, shape (n, k);
        regression: the predicted value, shape (n,).
    result
        The predicted class (binary: after the threshold) or value, shape (n,).
    label
        The true label when the predicted data had one (evaluation needs it), else None.
    task
        ``"binary"``, ``"multi"`` or ``"regression"``.
    classes
        Class labels in score-column order (binary: ``[negative, positive]``), None for regression.
    """

    ids: np.ndarray
    score: np.ndarray
    result: np.ndarray
    label: np.ndarray | None
    task: Task
    classes: list[int | float | str] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("score", "result") + (("label",) if self.label is not None else ()):
            arr = getattr(self, name)
            if len(arr) != n:
                raise DataError(f"predictions have {n} ids but {len(arr)} {name} values", field=name)
        if self.task == "multi" and (self.score.ndim != 2 or self.classes is None):
            raise DataError("multi-class predictions need (n, k) scores and the class list", field="score")

    def to_pandas(self) -> pd.DataFrame:
        """FATE's columns: ``id, label, predict_result, predict_score, predict_detail`` (JSON)."""
        import pandas as pd

        if self.task == "multi":
            assert self.classes is not None
            top = self.score[np.arange(len(self.ids)), np.argmax(self.score, axis=1)]
            detail = [
                json.dumps({str(c): float(p) for c, p in zip(self.classes, row, strict=True)})
                for row in self.score
            ]
        elif self.task == "binary":
            top = self.score
            neg, pos = (self.classes or [0, 1])[:2]
            detail = [json.dumps({str(neg): float(1 - p), str(pos): float(p)}) for p in self.score]
        else:
            top = self.score
            detail = [json.dumps({"value": float(v)}) for v in self.score]
        return pd.DataFrame(
            {
                "id": self.ids,
                "label": self.label if self.label is not None else np.full(len(self.ids), np.nan),
                "predict_result": self.result,
                "predict_score": top,
                "predict_detail": detail,
            }
        )
