"""``HomoNN``: Homo neural network with FedAvg."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HomoNN"]


class HomoNN(Component):
    """Homo neural network with FedAvg.

    DSL module ``HomoNN``; parameters as in FATE.
    """

    module: ClassVar[str] = "HomoNN"
