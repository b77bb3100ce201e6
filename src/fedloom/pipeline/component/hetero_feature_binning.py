"""``HeteroFeatureBinning``: Federated feature binning with WOE / IV."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroFeatureBinning"]


class HeteroFeatureBinning(Component):
    """Federated feature binning with WOE / IV.

    DSL module ``HeteroFeatureBinning``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroFeatureBinning"
