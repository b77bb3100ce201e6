"""``Data``: the data inputs of a component, FATE's ``pipeline.interface.Data``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Data"]

#: The DSL's data slots, in the order they are written to ``input.data``.
DATA_SLOTS = ("data", "train_data", "validate_data", "test_data")


def _refs(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """One reference or several, as a list (FATE accepts both)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


class Data:
    """Data inputs of a component (references such as ``reader_0.output.data``).

    Parameters
    ----------
    data, train_data, validate_data, test_data
        One reference or a list of them, for the DSL slot of the same name:
        ``Data(train_data=intersection_0.output.data, validate_data=intersection_1.output.data)``
        becomes ``"input": {"data": {"train_data": ["intersection_0.data"], "validate_data": [...]}}``.
    predict_input
        Only when a trained pipeline is added to a predict pipeline: which input of a deployed
        component reads which new data,
        ``{pipeline.data_transform_0.input.data: reader_0.output.data}``.
    """

    def __init__(
        self,
        data: str | list[str] | None = None,
        train_data: str | list[str] | None = None,
        validate_data: str | list[str] | None = None,
        test_data: str | list[str] | None = None,
        predict_input: Mapping[str, Any] | None = None,
    ) -> None:
        self.data = data
        self.train_data = train_data
        self.validate_data = validate_data
        self.test_data = test_data
        self.predict_input = dict(predict_input) if predict_input is not None else None

    def slots(self) -> dict[str, list[str]]:
        """``{slot: [references]}`` of the slots that are set, in DSL order."""
        return {slot: _refs(getattr(self, slot)) for slot in DATA_SLOTS if getattr(self, slot) is not None}

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.slots().items()]
        if self.predict_input is not None:
            parts.append(f"predict_input={self.predict_input!r}")
        return f"Data({', '.join(parts)})"
