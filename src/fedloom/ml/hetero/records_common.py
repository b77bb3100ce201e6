"""What the message records of ``ml/hetero`` share: one error shape and the common field checks.

Everything a party receives from a peer is untrusted: each algorithm's ``records`` module checks
it once, with these helpers, before the algorithm uses it. Any problem is a
:class:`~fedloom.core.errors.MessageError` naming the sender (``party``) and the message field
(``field``).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from fedloom.core.errors import MessageError

__all__ = ["MAX_ROWS", "expect_count", "expect_digest", "expect_fields", "message_error"]

#: Most rows a job may announce.
MAX_ROWS = 1 << 40
_HEX = frozenset(string.hexdigits.lower())


def message_error(what: str, sender: str, field: str) -> MessageError:
    """The MessageError ``<field> from <sender>: <what>``, naming ``sender`` and ``field``."""
    return MessageError(f"{field} from {sender}: {what}", party=sender, field=field)


def expect_fields(value: object, sender: str, record: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as the dict of a ``record`` record with exactly the fields ``keys``."""
    if not isinstance(value, dict):
        what = f"expected a {record} record (a dict). Got {type(value).__name__}."
        raise message_error(what, sender, record)
    missing = [k for k in keys if k not in value]
    extra = [k for k in value if k not in keys]
    if missing or extra:
        what = f"{record} record with missing {missing} / unexpected {extra} fields"
        raise message_error(what, sender, record)
    return value


def expect_digest(value: object, sender: str, field: str, optional: bool = False) -> str | None:
    """A SHA-256 hex digest (64 lowercase hex chars), or None when ``optional``."""
    if value is None and optional:
        return None
    if not (isinstance(value, str) and len(value) == 64 and set(value) <= _HEX):
        raise message_error("expected a SHA-256 id digest (64 hex characters)", sender, field)
    return value


def expect_count(value: object, sender: str, field: str, low: int, high: int) -> int:
    """An int in ``[low, high]`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= int(value) <= high:
        raise message_error(f"expected an int in [{low}, {high}]. Got {value!r:.40}.", sender, field)
    return int(value)
