"""``HeteroPoisson``: Hetero Poisson regression (guest, hosts, arbiter)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroPoisson"]


class HeteroPoisson(Component):
    """Hetero Poisson regression (guest, hosts, arbiter).

    DSL module ``HeteroPoisson``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroPoisson"
