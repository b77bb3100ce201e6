"""``HeteroFeatureSelection``: Feature selection across parties (IV threshold, top-k, ...)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroFeatureSelection"]


class HeteroFeatureSelection(Component):
    """Feature selection across parties (IV threshold, top-k, ...).

    DSL module ``HeteroFeatureSelection``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroFeatureSelection"
