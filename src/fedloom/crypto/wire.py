"""Wire form of the PSI values: fixed-width big-endian rows of one uint8 array, checked on receipt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fedloom.core.errors import MessageError


def ints_to_array(values: Sequence[Any], width: int) -> np.ndarray:
    """Integers in [0, 2^(8·width)) as one ``(n, width)`` uint8 array, big-endian."""
    if not values:
        return np.zeros((0, width), dtype=np.uint8)
    buf = b"".join([int(v).to_bytes(width, "big") for v in values])
    return np.frombuffer(buf, dtype=np.uint8).reshape(-1, width)


def check_array(arr: object, *, width: int, count: int | None = None, what: str = "points") -> np.ndarray:
    """``arr`` when it is a ``(count, width)`` uint8 array, else MessageError naming ``what``."""
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != width:
        desc = f"{arr.dtype}{arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise MessageError(f"{what}: expected a uint8 array of shape (n, {width}), got {desc}", field=what)
    if count is not None and arr.shape[0] != count:
        raise MessageError(f"{what}: expected {count} rows, got {arr.shape[0]}", field=what)
    return arr
