"""``HeteroLR``: Hetero logistic regression (guest, hosts, arbiter)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroLR"]


class HeteroLR(Component):
    """Hetero logistic regression (guest, hosts, arbiter).

    DSL module ``HeteroLR``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroLR"
