"""``HeteroSecureBoost``: Hetero SecureBoost (vertical gradient boosting)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["HeteroSecureBoost"]


class HeteroSecureBoost(Component):
    """Hetero SecureBoost (vertical gradient boosting).

    DSL module ``HeteroSecureBoost``; parameters as in FATE.
    """

    module: ClassVar[str] = "HeteroSecureBoost"
