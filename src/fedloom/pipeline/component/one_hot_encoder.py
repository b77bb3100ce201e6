"""``OneHotEncoder``: One-hot encoding of categorical columns."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["OneHotEncoder"]


class OneHotEncoder(Component):
    """One-hot encoding of categorical columns.

    DSL module ``OneHotEncoder``; parameters as in FATE.
    """

    module: ClassVar[str] = "OneHotEncoder"
