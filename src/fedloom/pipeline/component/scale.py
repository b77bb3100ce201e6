"""``FeatureScale``: Min-max or standard scaling of features."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["FeatureScale"]


class FeatureScale(Component):
    """Min-max or standard scaling of features.

    DSL module ``FeatureScale``; parameters as in FATE.
    """

    module: ClassVar[str] = "FeatureScale"
