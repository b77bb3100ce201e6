"""In-memory transport: every party is a thread of one process (unit tests of protocols).

Bodies are still encoded and decoded by the codec and copied on delivery, so a protocol tested
here exercises exactly the bytes it would send over gRPC. The sender is authenticated by
construction: a :class:`MemoryTransport` sends only as its own party, and delivers into the
peer's mailbox with that party as the sender, so the mailbox's checks (see
:mod:`fedloom.transport.mailbox`) hold here exactly as under mutual TLS.

Every hub keeps an :class:`~fedloom.transport.addresses.AddressLog` of the addresses sent,
received and waited on in vain, which :func:`fedloom.testing.run_parties` reports when a run
fails (see :mod:`fedloom.transport.addresses`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Unpack

from fedloom.core.errors import MessageError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport.addresses import AddressLog
from fedloom.transport.base import Limits, Transport
from fedloom.transport.envelope import Envelope

log = logging.getLogger(__name__)

#: Called with every new hub (the test suite's conftest collects them to report their addresses).
hub_listeners: list[Callable[[MemoryHub], None]] = []


class MemoryHub:
    """The shared switchboard of one in-memory federation, with the log of its addresses."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parties: dict[str, MemoryTransport] = {}
        self.log = AddressLog()
        for listener in list(hub_listeners):
            listener(self)

    def connect(self, party: PartyId, **limits: Unpack[Limits]) -> MemoryTransport:
        """A transport for ``party`` attached to this hub (see :class:`Transport` for the limits)."""
        transport = MemoryTransport(self, party, **limits)
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

    def __init__(self, hub: MemoryHub, party: PartyId, **limits: Unpack[Limits]) -> None:
        super().__init__(party, **limits)
        self.hub = hub

    def _send(self, env: Envelope, timeout: float) -> None:
        """Copy ``env`` into the peer's mailbox, this party being the authenticated sender."""
        if env.src != str(self.party):
            raise MessageError(
                f"{self.party} cannot send a message from {env.src}", party=str(self.party), field="src"
            )
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
        copy = dataclasses.replace(env, body=[bytearray(env.contiguous())])
        try:
            peer.mailbox.deliver(copy, sender=str(self.party))
        except MessageError as exc:  # surfaces like a gRPC refusal: at the sender, naming the receiver
            raise MessageError(
                f"{env.dst} refused message '{env.address}': {exc.message}",
                party=str(self.party),
                field=exc.field,
            ) from None
        self.hub.log.sent(env.address)

    def recv(self, address: str, src: PartyId | str, timeout: float) -> Envelope:
        """As :meth:`Transport.recv`, noting in the hub's log whether the message came."""
        try:
            env = super().recv(address, src, timeout)
        except PartyTimeoutError:
            self.hub.log.unmatched(address, str(self.party))
            raise
        self.hub.log.received(address)
        return env

    def notify_failure(self, peers: list[PartyId], reason: str) -> None:
        """Tell ``peers`` that this party failed (best effort, never raises)."""
        for p in peers:
            peer = self.hub.lookup(str(p))
            if peer is None:
                continue
            try:
                peer.mailbox.fail(str(self.party), reason)
            except MessageError as exc:  # not a peer of theirs: a notice must never mask the failure
                log.warning("%s could not tell %s that it failed: %s", self.party, p, exc)

    def close(self) -> None:
        """Leave the hub (senders now see this party as not connected), then close the mailbox."""
        self.hub.detach(str(self.party))
        super().close()
