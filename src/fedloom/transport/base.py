"""The one interface every transport backend implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Self, TypedDict

from fedloom.core.errors import ConfigError
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Envelope
from fedloom.transport.mailbox import Mailbox
from fedloom.transport.stats import TrafficStats

log = logging.getLogger(__name__)

#: Largest envelope body a party accepts unless configured otherwise (4 GiB).
DEFAULT_MAX_MESSAGE_BYTES = 4 << 30


class Limits(TypedDict, total=False):
    """The limits every backend's constructor takes on to :class:`Transport` (see there)."""

    max_message_bytes: int
    max_pending_bytes_per_peer: int | None


class Transport(ABC):
    """Moves :class:`Envelope` objects between parties.

    Backends: :class:`~fedloom.transport.memory.MemoryTransport` (threads in one process, for
    tests) and :class:`~fedloom.transport.grpc.GrpcTransport` (separate processes or machines).
    Both deliver into this party's :class:`Mailbox` together with the sender they authenticated
    (the mailbox checks that the address's ``src->dst`` names that sender and this party, see
    :mod:`fedloom.transport.mailbox`), count bytes per channel and log every message at DEBUG
    with its address and size at both ends.

    Parameters
    ----------
    party
        This party.
    max_message_bytes
        Envelopes with a larger body are refused with :class:`MessageError`.
    max_pending_bytes_per_peer
        Budget of bytes each peer may have in flight to this party plus delivered and not yet
        read; more is refused with :class:`MessageError` (``RESOURCE_EXHAUSTED`` over gRPC).
        Default: ``max_message_bytes``.

    Raises
    ------
    ConfigError
        A limit that is not an int >= 0.
    """

    def __init__(
        self,
        party: PartyId,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_pending_bytes_per_peer: int | None = None,
    ) -> None:
        if max_pending_bytes_per_peer is None:
            max_pending_bytes_per_peer = max_message_bytes
        for name, value in (
            ("max_message_bytes", max_message_bytes),
            ("max_pending_bytes_per_peer", max_pending_bytes_per_peer),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(
                    f"The '{name}' parameter of {type(self).__name__} must be an int >= 0. Got {value!r}.",
                    party=str(party),
                    field=name,
                )
        self.party = party
        self.max_message_bytes = max_message_bytes
        self.max_pending_bytes_per_peer = max_pending_bytes_per_peer
        self.mailbox = Mailbox(str(party), max_pending_bytes_per_peer=max_pending_bytes_per_peer)
        self.stats = TrafficStats()

    def set_peers(self, peers: Mapping[str, str] | Iterable[PartyId | str]) -> None:
        """Name the peers of this job: messages and failure notices from anyone else are refused.

        A mapping (party -> address, as :class:`~fedloom.transport.grpc.GrpcTransport` takes) counts
        by its keys. Until this is called, any party may deliver.
        """
        self.mailbox.set_peers(str(PartyId.parse(str(p))) for p in peers)

    def send(self, env: Envelope, timeout: float) -> None:
        """Deliver ``env`` to ``env.dst``; raises PartyTimeoutError if it cannot within ``timeout``."""
        env.validate()
        self.mailbox.raise_if_failed(env.dst)  # a peer that reported a failure takes nothing more
        self._send(env, timeout)
        self.stats.sent(env.channel, env.size)
        log.debug("sent %s (%d bytes)", env.address, env.size)

    def recv(self, address: str, src: PartyId | str, timeout: float) -> Envelope:
        """The envelope at ``address`` from ``src``, waiting up to ``timeout`` seconds.

        Raises :class:`MessageError` if the envelope there did not come from ``src`` (see
        :meth:`Mailbox.take`), :class:`PartyFailedError` if ``src`` reported a failure and
        :class:`PartyTimeoutError` if nothing arrived in time.
        """
        env = self.mailbox.take(address, str(src), timeout)
        self.stats.received(env.channel, env.size)
        log.debug("received %s (%d bytes)", env.address, env.size)
        return env

    def notify_failure(self, peers: list[PartyId], reason: str) -> None:  # noqa: B027 - optional hook
        """Tell ``peers`` that this party failed, so they stop waiting on it (best effort)."""

    def drop_unread(self, prefix: str) -> int:
        """Drop the received messages nobody read whose address starts with ``prefix``.

        A runner calls it with a job id when the job ends, so unread messages do not hold
        memory (or the sender's budget) any longer; pass the id with its slash (``"j42/"``) so
        that ``j42`` does not also match ``j420``. Logs at WARNING how many and on which
        channels: a message nobody reads is usually a protocol bug. Their addresses stay used,
        so a replay of one is still refused.

        Returns
        -------
        int
            How many messages were dropped.
        """
        dropped = self.mailbox.drop_unread(prefix)
        if dropped:
            channels = sorted({env.channel for env in dropped})
            log.warning(
                "%s dropped %d unread message(s) under '%s' (%d bytes) on channel(s) %s",
                self.party,
                len(dropped),
                prefix,
                sum(env.size for env in dropped),
                ", ".join(channels),
            )
        return len(dropped)

    @abstractmethod
    def _send(self, env: Envelope, timeout: float) -> None: ...

    def close(self) -> None:
        self.mailbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
