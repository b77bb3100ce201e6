"""``SampleWeight``: Per-row weights (class balance or a weight column)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["SampleWeight"]


class SampleWeight(Component):
    """Per-row weights (class balance or a weight column).

    DSL module ``SampleWeight``; parameters as in FATE.
    """

    module: ClassVar[str] = "SampleWeight"
