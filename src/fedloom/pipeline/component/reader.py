"""``Reader``: read a table of the party's store.

``component_param(table={"name": ..., "namespace": ...})`` per party.
"""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["Reader"]


class Reader(Component):
    """Read a table of the party's store (``component_param(table=...)`` per party).

    DSL module ``Reader``; parameters as in FATE.
    """

    module: ClassVar[str] = "Reader"
