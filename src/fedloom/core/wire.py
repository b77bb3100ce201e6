"""Registry of dataclasses that may travel between parties.

The codec rebuilds only classes registered here, by name; nothing received is ever imported or
unpickled. Register a message type where it is defined::

    @wire_type("fedloom.lr.Summary")
    @dataclass
    class Summary:
        loss: float
        n_iter: int
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from fedloom.core.errors import ConfigError

T = TypeVar("T")

_BY_NAME: dict[str, type] = {}
_BY_CLASS: dict[type, str] = {}


def wire_type(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: allow the dataclass to be sent as ``name`` (unique, stable across versions)."""

    def register(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"{cls.__qualname__} must be a dataclass to travel between parties", field=name)
        known = _BY_NAME.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ConfigError(f"wire type name {name!r} is already used by {known.__qualname__}", field=name)
        _BY_NAME[name] = cls
        _BY_CLASS[cls] = name
        return cls

    return register


def wire_name(cls: type) -> str | None:
    """The registered name of ``cls``, or None."""
    return _BY_CLASS.get(cls)


def wire_class(name: str) -> type | None:
    """The class registered as ``name``, or None."""
    return _BY_NAME.get(name)
