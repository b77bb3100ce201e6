"""Class labels as text (JSON keys, plot labels); metric names live in the registry."""

from __future__ import annotations

__all__ = ["class_name"]


def class_name(value: object) -> str:
    """A class label as text: ``1.0`` → ``"1"``, ``"a"`` → ``"a"`` (JSON keys, plot labels)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return str(int(as_float)) if as_float.is_integer() and not isinstance(value, str) else str(value)
