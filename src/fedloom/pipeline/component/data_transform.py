"""``DataTransform``: Parse a table into ids, label and features (FATE's DataTransform)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["DataTransform"]


class DataTransform(Component):
    """Parse a table into ids, label and features (FATE's DataTransform).

    DSL module ``DataTransform``; parameters as in FATE.
    """

    module: ClassVar[str] = "DataTransform"
