"""``Model``: the model inputs of a component, FATE's ``pipeline.interface.Model``."""

from __future__ import annotations

from fedloom.pipeline.interface.data import _refs

__all__ = ["Model"]

MODEL_SLOTS = ("model", "isometric_model")


class Model:
    """Model inputs of a component.

    Parameters
    ----------
    model
        A model output (``data_transform_0.output.model``) the component loads: the same module
        transforms new data as the trained one did, or a learner warm-starts from it.
    isometric_model
        A model of another module whose results the component uses (a ``HeteroFeatureSelection``
        reading a ``HeteroFeatureBinning``'s IVs).
    """

    def __init__(
        self, model: str | list[str] | None = None, isometric_model: str | list[str] | None = None
    ) -> None:
        self.model = model
        self.isometric_model = isometric_model

    def slots(self) -> dict[str, list[str]]:
        """``{"model": [...], "isometric_model": [...]}`` of the slots that are set."""
        return {slot: _refs(getattr(self, slot)) for slot in MODEL_SLOTS if getattr(self, slot) is not None}

    def __repr__(self) -> str:
        return f"Model({', '.join(f'{k}={v!r}' for k, v in self.slots().items())})"
