"""In-memory transport: every party is a thread of one process (unit tests of protocols).

Bodies are still encoded and decoded by the codec and copied on delivery, so a protocol tested
here exercises exactly the bytes it would send over gRPC.
"""

from __future__ import annotations

import threading

from fedloom.core.errors import MessageError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport.base import DEFAULT_MAX_MESSAGE_BYTES, Transport
from fedloom.transport.envelope import Envelope


class MemoryHub:
    """The shared switchboard of one in-memory federation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parties: dict[str, MemoryTransport] = {}

    def connect(
        self, party: PartyId, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> MemoryTransport:
        """A transport for ``party`` attached to this hub."""
        transport = MemoryTransport(self, party, max_message_bytes=max_message_bytes)
        with self._lock:
            self._parties[str(party)] = transport
        return transport

    def lookup(self, party: str) -> MemoryTransport | None:
        with self._lock:
            return self._parties.get(party)

    def detach(self, party: str) -> None:
        with self._lock:
            self._parties.pop(party, None)


class MemoryTransport(Transport):
    """A party's endpoint on a :class:`MemoryHub`."""

    def __init__(
        self, hub: MemoryHub, party: PartyId, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        super().__init__(party, max_message_bytes=max_message_bytes)
        self.hub = hub

    def _send(self, env: Envelope, timeout: float) -> None:
        peer = self.hub.lookup(env.dst)
        if peer is None:
            raise PartyTimeoutError(
                env.address, timeout, party=str(self.party), detail=f"{env.dst} is not connected"
            )
        if env.size > peer.max_message_bytes:
            raise MessageError(
                f"message of {env.size} bytes exceeds {env.dst}'s limit of {peer.max_message_bytes}",
                party=str(self.party),
                field="size",
            )
        copy = Envelope(
            address=env.address,
            src=env.src,
            dst=env.dst,
            payload_type=env.payload_type,
            key_fingerprint=env.key_fingerprint,
            body=[bytearray(env.contiguous())],
            schema_version=env.schema_version,
        )
        peer.mailbox.deliver(copy)

    def notify_failure(self, peers: list[PartyId], reason: str) -> None:
        for p in peers:
            peer = self.hub.lookup(str(p))
            if peer is not None:
                peer.mailbox.fail(str(self.party), reason)

    def close(self) -> None:
        super().close()
        self.hub.detach(str(self.party))
