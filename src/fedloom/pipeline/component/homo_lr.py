"""``HomoLR``: Homo logistic regression with FedAvg (guests/hosts train, arbiter aggregates)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HomoLR"]


class HomoLR(Component):
    """Homo logistic regression with FedAvg (guests/hosts train, arbiter aggregates).

    DSL module ``HomoLR``; parameters as in FATE.
    """

    module: ClassVar[str] = "HomoLR"
