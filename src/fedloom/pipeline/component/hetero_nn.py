"""``HeteroNN``: Hetero (split) neural network with an encrypted interactive layer."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroNN"]


class HeteroNN(Component):
    """Hetero (split) neural network with an encrypted interactive layer.

    DSL module ``HeteroNN``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroNN"
