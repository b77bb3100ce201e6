"""The one interface every transport backend implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Envelope
from fedloom.transport.mailbox import Mailbox
from fedloom.transport.stats import TrafficStats

log = logging.getLogger(__name__)

#: Largest envelope body a party accepts unless configured otherwise (4 GiB).
DEFAULT_MAX_MESSAGE_BYTES = 4 << 30


class Transport(ABC):
    """Moves :class:`Envelope` objects between parties.

    Backends: :class:`~fedloom.transport.memory.MemoryTransport` (threads in one process, for
    tests) and :class:`~fedloom.transport.grpc.GrpcTransport` (separate processes or machines).
    Both deliver into this party's :class:`Mailbox`, count bytes per channel and log every
    message at DEBUG with its address and size at both ends.

    Parameters
    ----------
    party
        This party.
    max_message_bytes
        Envelopes with a larger body are refused with :class:`MessageError`.
    """

    def __init__(self, party: PartyId, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.party = party
        self.max_message_bytes = max_message_bytes
        self.mailbox = Mailbox(str(party))
        self.stats = TrafficStats()

    def send(self, env: Envelope, timeout: float) -> None:
        """Deliver ``env`` to ``env.dst``; raises PartyTimeoutError if it cannot within ``timeout``."""
        env.validate()
        self.mailbox.raise_if_failed(env.dst)  # a peer that reported a failure takes nothing more
        self._send(env, timeout)
        self.stats.sent(env.channel, env.size)
        log.debug("sent %s (%d bytes)", env.address, env.size)

    def recv(self, address: str, src: PartyId | str, timeout: float) -> Envelope:
        """The envelope at ``address`` from ``src``, waiting up to ``timeout`` seconds."""
        env = self.mailbox.take(address, str(src), timeout)
        self.stats.received(env.channel, env.size)
        log.debug("received %s (%d bytes)", env.address, env.size)
        return env

    def notify_failure(self, peers: list[PartyId], reason: str) -> None:  # noqa: B027 - optional hook
        """Tell ``peers`` that this party failed, so they stop waiting on it (best effort)."""

    @abstractmethod
    def _send(self, env: Envelope, timeout: float) -> None: ...

    def close(self) -> None:
        self.mailbox.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
