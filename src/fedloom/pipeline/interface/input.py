"""``Input``: names of a component's own input slots (what a predict pipeline feeds new data to)."""

from __future__ import annotations

__all__ = ["Input", "TrainingInputData"]


class TrainingInputData:
    """Input slots of a learner: ``hetero_lr_0.input.data.train_data`` is ``"hetero_lr_0.train_data"``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def train_data(self) -> str:
        return f"{self.prefix}.train_data"

    @property
    def validate_data(self) -> str:
        return f"{self.prefix}.validate_data"

    @property
    def test_data(self) -> str:
        return f"{self.prefix}.test_data"

    @property
    def data(self) -> str:
        return f"{self.prefix}.data"

    def __repr__(self) -> str:
        return f"TrainingInputData({self.prefix!r})"


class Input:
    """A component's input slots, as FATE names them.

    ``data_type="single"``: ``input.data`` is ``"<name>.data"`` (a transformer);
    ``"multi"``: ``input.data`` has ``train_data`` / ``validate_data`` / ``test_data`` (a learner).
    Used as the keys of ``Data(predict_input={...})``.
    """

    def __init__(self, name: str, data_type: str = "single") -> None:
        self.name = name
        self.data_type = data_type
        self.data: str | TrainingInputData = (
            TrainingInputData(name) if data_type == "multi" else f"{name}.data"
        )
        self.model = f"{name}.model"
        self.isometric_model = f"{name}.isometric_model"
        self.cache = f"{name}.cache"
