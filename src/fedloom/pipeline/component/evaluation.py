"""``Evaluation``: Binary, multi-class or regression metrics of a learner's output."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["Evaluation"]


class Evaluation(Component):
    """Binary, multi-class or regression metrics of a learner's output.

    DSL module ``Evaluation``; parameters as in FATE.
    """

    module: ClassVar[str] = "Evaluation"
