"""Hash functions by FATE's names (``sha256``, ``sm3``...), checked once for RSA and ECDH PSI."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

from fedloom.core.errors import ConfigError

__all__ = ["check_hash", "hash_constructor"]


def check_hash(name: str, allowed: Sequence[str], field_name: str) -> str:
    """``name`` lower-cased when allowed and provided by hashlib, else ConfigError naming the field."""
    low = str(name).lower()
    if low not in allowed:
        raise ConfigError(f"must be one of {', '.join(allowed)}. Got {name!r}.", field=field_name)
    if low not in hashlib.algorithms_available:
        raise ConfigError(f"{low!r} is not provided by this Python's OpenSSL.", field=field_name)
    return low


def hash_constructor(name: str) -> Callable[..., Any]:
    """``hashlib``'s constructor of the (checked) hash ``name``; ``sm3`` through OpenSSL."""
    if name in hashlib.algorithms_guaranteed:
        return getattr(hashlib, name)
    return lambda data=b"": hashlib.new(name, data)


def counter_prefixes(
    hash_method: str, allowed: Sequence[str], domain: bytes, salt: str, nbytes: int
) -> tuple[Callable[..., Any], list[bytes]]:
    """The (checked) hash ``hash_method`` and the block prefixes of a counter-mode expansion of
    an id to at least ``nbytes + 16`` bytes (the extra 128 bits make a reduction uniform):
    ``block_i = hash(domain ‖ len(salt) ‖ salt ‖ i as 4 bytes ‖ utf8(id))``."""
    ctor = hash_constructor(check_hash(hash_method, allowed, "hash_method"))
    s = salt.encode("utf-8")
    blocks = math.ceil((nbytes + 16) / ctor().digest_size)
    return ctor, [domain + len(s).to_bytes(2, "big") + s + i.to_bytes(4, "big") for i in range(blocks)]
