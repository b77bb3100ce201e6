"""``HeteroLinR``: Hetero linear regression (guest, hosts, arbiter)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroLinR"]


class HeteroLinR(Component):
    """Hetero linear regression (guest, hosts, arbiter).

    DSL module ``HeteroLinR``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroLinR"
