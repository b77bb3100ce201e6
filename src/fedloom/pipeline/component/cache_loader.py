"""``CacheLoader``: Load an Intersection cache of an earlier job."""

from __future__ import annotations

from typing import ClassVar

from fedloom.pipeline.component.component_base import Component

__all__ = ["CacheLoader"]


class CacheLoader(Component):
    """Load an Intersection cache of an earlier job.

    DSL module ``CacheLoader``; parameters as in FATE.
    """

    module: ClassVar[str] = "CacheLoader"
