"""``Cache``: the cache input of a component (an ``Intersection`` reusing RSA PSI work)."""

from __future__ import annotations

from fedloom.pipeline.interface.data import _refs

__all__ = ["Cache"]


class Cache:
    """Cache input: ``Cache(intersection_0.output.cache)`` or a ``CacheLoader``'s output."""

    def __init__(self, cache: str | list[str] | None = None) -> None:
        self.cache = cache

    def refs(self) -> list[str]:
        """The references, as a list."""
        return _refs(self.cache)

    def __repr__(self) -> str:
        return f"Cache({self.cache!r})"
