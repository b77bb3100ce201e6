"""``Intersection``: Private set intersection of the parties' ids (RSA, ECDH or DH)."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["Intersection"]


class Intersection(Component):
    """Private set intersection of the parties' ids (RSA, ECDH or DH).

    DSL module ``Intersection``; parameters as in FATE.
    """

    module: ClassVar[str] = "Intersection"
