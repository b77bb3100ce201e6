"""The privacy ledger: what this party was told, per channel, and what that tells it in clear.

Every :class:`~fedloom.context.Channel` declares its ``disclosure`` — what its receiver learns
in clear from one message. The context records each received message against that declaration,
so a job can write, per party, the list of everything it learned::

    [{"component": "hetero_lr_0", "channel": "unmasked_gradient", "from": "arbiter:10000",
      "disclosure": "own gradient Xᵀd ...", "messages": 30, "elements": 600, "bytes": 77040}, ...]

The ledger states the protocol's declared disclosure, counted; it is not a proof of what a
message reveals. It is honest only as far as the declarations are, which is why an algorithm's
docstring and its channels must agree (and a test checks that every channel of the product
declares one).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Shown for a channel declared without a disclosure (tests, user code).
UNDECLARED = "undeclared"
#: A disclosure saying the receiver learns nothing in clear starts with one of these, or ends in
#: ``": nothing ..."`` (``"ciphertext only ([d] per row)"``, ``"Xᵀd + uniform mask: nothing"``).
OPAQUE = ("ciphertext only", "nothing")


def is_opaque(disclosure: str) -> bool:
    """Whether ``disclosure`` says the receiver learns nothing in clear."""
    return disclosure.startswith(OPAQUE) or disclosure.rpartition(": ")[2].startswith("nothing")


@dataclass
class LedgerEntry:
    """The received traffic of one (component, channel, sender)."""

    component: str
    channel: str
    sender: str
    disclosure: str
    messages: int = 0
    elements: int = 0
    bytes: int = 0

    def as_record(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "channel": self.channel,
            "from": self.sender,
            "disclosure": self.disclosure,
            "messages": self.messages,
            "elements": self.elements,
            "bytes": self.bytes,
        }


def count_elements(value: object) -> int:
    """How many values a received payload holds (array elements, ciphertexts, bytes, leaves).

    A ciphertext vector counts its ciphertexts, an array its elements, ``bytes`` its length, a
    container the sum of its members and anything else one.
    """
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, bytes | bytearray | memoryview):
        return memoryview(value).nbytes
    if isinstance(value, str):
        return 1
    if isinstance(value, Mapping):
        return sum(count_elements(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(count_elements(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(count_elements(getattr(value, f.name)) for f in dataclasses.fields(value))
    if hasattr(value, "ciphertexts") and hasattr(value, "public_key"):
        return len(value)  # type: ignore[arg-type]
    return 1


class PrivacyLedger:
    """Per-party record of received messages against their channels' declared disclosure.

    One ledger is shared by a context and all its sub-contexts (thread-safe).

    Parameters
    ----------
    party
        The receiving party, ``role:id``; named in :meth:`summary`.
    """

    def __init__(self, party: str) -> None:
        self.party = party
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], LedgerEntry] = {}

    def record(
        self, component: str, channel: str, sender: str, disclosure: str, elements: int, nbytes: int
    ) -> None:
        """Count one received message of ``channel`` from ``sender``."""
        key = (component, channel, sender)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = LedgerEntry(component, channel, sender, disclosure or UNDECLARED)
                self._entries[key] = entry
            entry.messages += 1
            entry.elements += elements
            entry.bytes += nbytes

    def records(self) -> list[dict[str, Any]]:
        """Every entry as a JSON-ready dict, in (component, channel, sender) order."""
        with self._lock:
            return [self._entries[k].as_record() for k in sorted(self._entries)]

    def write(self, path: Path) -> None:
        """Write ``{"party", "received": records()}`` as JSON to ``path`` (parents created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"party": self.party, "received": self.records()}
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)

    def summary(self) -> str:
        """One line: how much this party received, and on which channels it learned something in clear.

        ``guest:9999 received 276 messages on 11 channels (8.5 MB); in clear on 8: public_key,
        host_setup, unmasked_gradient, ...; ciphertext or nothing on 3`` — the disclosures
        themselves are in :meth:`records` (``privacy.json``).
        """
        records = self.records()
        if not records:
            return f"{self.party} received nothing"
        messages = sum(r["messages"] for r in records)
        nbytes = sum(r["bytes"] for r in records)
        channels = {(r["component"], r["channel"]) for r in records}
        clear = list(dict.fromkeys(r["channel"] for r in records if not is_opaque(r["disclosure"])))
        opaque = {(r["component"], r["channel"]) for r in records if is_opaque(r["disclosure"])}
        line = f"{self.party} received {messages} messages on {len(channels)} channels ({_size(nbytes)})"
        if clear:
            line += f"; in clear on {len(clear)}: {', '.join(clear)}"
        if opaque:
            line += f"; ciphertext or nothing on {len(opaque)}"
        return line


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"
