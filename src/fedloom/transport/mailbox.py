"""Where received envelopes wait for ``recv``: one slot per address, each filled at most once.

Who may write where
-------------------
Every backend hands an envelope to :meth:`Mailbox.deliver` together with the *authenticated*
sender, the party the backend vouches for:

* :class:`~fedloom.transport.memory.MemoryTransport`: the sending transport's own party (a
  memory transport can only send as itself);
* gRPC with mutual TLS: the ``src`` named by the client certificate (the server refuses a
  ``src`` the certificate does not name before it gets here);
* gRPC in plaintext or with server-only TLS: the ``src`` the sender declared. **Nothing is
  authenticated then**: any client that can reach the port can claim any ``src``; the checks
  below still stop a party writing where its *own* name does not belong.

An envelope is stored only if all of these hold (each refusal is a :class:`MessageError` naming
this party and the field at fault; the gRPC server answers with the status shown):

==========================================================  ============  =====================
check                                                       field         gRPC status
==========================================================  ============  =====================
the mailbox is open                                         ``dst``       ``INVALID_ARGUMENT``
``dst`` is this party                                       ``dst``       ``INVALID_ARGUMENT``
the address ends in ``{src}->{dst}`` of the envelope        ``address``,  ``INVALID_ARGUMENT``,
                                                            ``src``,      ``PERMISSION_DENIED``,
                                                            ``dst``       ``INVALID_ARGUMENT``
``src`` is the authenticated sender                         ``src``       ``PERMISSION_DENIED``
``src`` is a peer of this job (once :meth:`set_peers`)      ``src``       ``PERMISSION_DENIED``
the address was never used by *another* message             ``message_id``  ``ALREADY_EXISTS``
bytes in flight + unread from ``src`` within its budget     ``size``      ``RESOURCE_EXHAUSTED``
==========================================================  ============  =====================

A second delivery of an address with the *same* message id and size is a resend whose first
acknowledgement was lost: it is acknowledged and not stored again (idempotent delivery).

Who waits where
---------------
Each :meth:`Mailbox.take` in progress is listed (thread, address, sender) until it returns, and
every change of the mailbox bumps :attr:`Mailbox.version`; :meth:`Mailbox.waits` reads both at
once. A harness that sees every party (the in-memory deadlock watch of
:mod:`fedloom.transport.addresses`) uses them to fail, with :meth:`Mailbox.interrupt`, a
``take`` that no message can ever satisfy instead of letting it run into its timeout.

Memory
------
Each sender has a budget, ``max_pending_bytes_per_peer``, of bytes that are either still
arriving (a :class:`Reservation` taken by the backend when a message's header announces its
size) or delivered and not yet read. Reading a message, :meth:`Mailbox.drop_unread` and
:meth:`Mailbox.close` give its bytes back. A sender that floods a party which is not reading
is refused instead of growing the receiver's memory without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError
from fedloom.transport.envelope import Envelope, address_parties

log = logging.getLogger(__name__)


class Reservation:
    """Bytes of one incoming message counted against its sender's budget while they arrive.

    Taken with :meth:`Mailbox.reserve` once the header has been checked; handed to
    :meth:`Mailbox.deliver`, which turns it into the stored message's count, or released on
    leaving its ``with`` block (the stream failed, was refused, or was an idempotent resend).
    """

    def __init__(self, mailbox: Mailbox, sender: str, nbytes: int) -> None:
        self.mailbox = mailbox
        self.sender = sender
        self.nbytes = nbytes
        self._held = True

    def release(self) -> None:
        """Give the bytes back (idempotent)."""
        with self.mailbox._cond:
            if self._held:
                self._held = False
                self.mailbox._discharge(self.sender, self.nbytes)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Taker(NamedTuple):
    """A :meth:`Mailbox.take` in progress: what it waits for, from whom, since when (monotonic)."""

    address: str
    src: str
    since: float


@dataclass(frozen=True)
class Waits:
    """A consistent view of one mailbox, from :meth:`Mailbox.waits`.

    Attributes
    ----------
    version
        Bumped on every change of the mailbox (delivery, read, failure notice, a ``take``
        starting or ending): two views with the same version saw the same state.
    unmet
        The ``take`` calls in progress that nothing here can satisfy now, by thread id: every
        waiter whose message has not arrived, whose sender has not
        reported a failure, and that was not interrupted. Empty once the mailbox is closed.
    """

    version: int
    unmet: dict[int, Taker]


class Mailbox:
    """Thread-safe store of delivered envelopes keyed by address.

    Parameters
    ----------
    owner
        The party this mailbox receives for (``"host:10000"``).
    max_pending_bytes_per_peer
        Budget of bytes in flight plus delivered-but-unread per sender; ``None`` for no limit.

    Notes
    -----
    See the module docstring for the checks :meth:`deliver` makes. A peer's failure notice wakes
    every waiter on a message from that peer at once; notices, like messages, are accepted only
    from a peer of this job once :meth:`set_peers` was called.
    """

    def __init__(self, owner: str, *, max_pending_bytes_per_peer: int | None = None) -> None:
        self.owner = owner
        self.max_pending_bytes_per_peer = max_pending_bytes_per_peer
        self._cond = threading.Condition()
        self._waiting: dict[str, Envelope] = {}
        self._seen: dict[str, tuple[str, int]] = {}  # address -> (message id, size)
        self._pending: dict[str, int] = {}  # sender -> bytes in flight + unread
        self._failed: dict[str, str] = {}
        self._peers: frozenset[str] | None = None
        self._closed = False
        self._takers: dict[int, Taker] = {}  # by thread id, while in take
        self._interrupts: dict[int, BaseException] = {}
        self.version = 0

    # -- configuration ------------------------------------------------------------------------

    def set_peers(self, peers: Iterable[str] | None) -> None:
        """Accept messages and failure notices only from ``peers`` (``None``: from anyone)."""
        with self._cond:
            self._peers = None if peers is None else frozenset(peers)

    def pending_bytes(self, sender: str) -> int:
        """Bytes from ``sender`` in flight or waiting unread."""
        with self._cond:
            return self._pending.get(sender, 0)

    # -- delivery -----------------------------------------------------------------------------

    def admit(self, address: str, src: str, dst: str, message_id: str, size: int, *, sender: str) -> bool:
        """Check a message from its header alone, before its body is read.

        Returns ``True`` for a new message, ``False`` for a resend of one already delivered
        (same address, id and size: acknowledge it, store nothing). Raises
        :class:`MessageError` for every refusal listed in the module docstring but the budget.
        """
        with self._cond:
            return self._admit(address, src, dst, message_id, size, sender)

    def reserve(self, sender: str, nbytes: int) -> Reservation:
        """Count ``nbytes`` about to arrive from ``sender`` against its budget.

        Raises
        ------
        MessageError
            ``field='size'``: the sender's bytes in flight and unread would exceed the budget.
        """
        with self._cond:
            self._charge(sender, nbytes)
        return Reservation(self, sender, nbytes)

    def deliver(self, env: Envelope, *, sender: str, reservation: Reservation | None = None) -> bool:
        """Store ``env`` received from the authenticated ``sender``.

        Parameters
        ----------
        env
            The received envelope.
        sender
            The party the backend authenticated (see the module docstring).
        reservation
            The bytes already counted for this message while it arrived, if any; its count
            becomes the stored message's.

        Returns
        -------
        bool
            ``True`` when stored, ``False`` for an idempotent resend (nothing stored).
        """
        with self._cond:
            if not self._admit(env.address, env.src, env.dst, env.message_id, env.size, sender):
                log.debug("%s: resend of %s acknowledged again", self.owner, env.address)
                return False
            if reservation is not None:
                reservation.release()
            self._charge(env.src, env.size)
            self._seen[env.address] = (env.message_id, env.size)
            self._waiting[env.address] = env
            self._changed()
        return True

    def _admit(self, address: str, src: str, dst: str, message_id: str, size: int, sender: str) -> bool:
        self._check_route(address, src, dst, sender)
        seen = self._seen.get(address)
        if seen is None:
            return True
        if seen == (message_id, size):
            return False
        raise MessageError(
            f"a second message to address '{address}' (message id {message_id}, the first was "
            f"{seen[0]}): each address is used once",
            party=self.owner,
            field="message_id",
        )

    def _check_route(self, address: str, src: str, dst: str, sender: str) -> None:
        """Who may write where: see the table in the module docstring."""
        if self._closed:
            raise MessageError(
                f"{self.owner} is closed: message '{address}' refused", party=self.owner, field="dst"
            )
        if dst != self.owner:
            raise MessageError(f"message for {dst} delivered to {self.owner}", party=self.owner, field="dst")
        tail = address_parties(address)
        if tail is None:
            raise MessageError(
                f"address '{address}' does not end in '{src}->{dst}'", party=self.owner, field="address"
            )
        if tail[0] != src:
            raise MessageError(
                f"{src} may not write to '{address}': that address carries messages from {tail[0]}",
                party=self.owner,
                field="src",
            )
        if tail[1] != dst:
            raise MessageError(
                f"message '{address}' is addressed to {tail[1]} but its dst is {dst}",
                party=self.owner,
                field="dst",
            )
        if src != sender:
            raise MessageError(
                f"message '{address}' claims to come from {src} but was sent by {sender}",
                party=self.owner,
                field="src",
            )
        if self._peers is not None and src not in self._peers:
            raise MessageError(
                f"{src} is not a peer of this job at {self.owner}: message '{address}' refused",
                party=self.owner,
                field="src",
            )

    def _charge(self, sender: str, nbytes: int) -> None:
        held = self._pending.get(sender, 0)
        budget = self.max_pending_bytes_per_peer
        if budget is not None and held + nbytes > budget:
            raise MessageError(
                f"{sender} already has {held} bytes in flight or unread at {self.owner}; {nbytes} more "
                f"would exceed its budget of {budget} bytes (max_pending_bytes_per_peer): the "
                "receiver is not reading, or the sender sends too much at once",
                party=self.owner,
                field="size",
            )
        self._pending[sender] = held + nbytes

    def _discharge(self, sender: str, nbytes: int) -> None:
        left = self._pending.get(sender, 0) - nbytes
        if left > 0:
            self._pending[sender] = left
        else:
            self._pending.pop(sender, None)

    # -- failures -----------------------------------------------------------------------------

    def fail(self, src: str, reason: str) -> None:
        """Record that peer ``src`` failed; pending and future receives from it raise at once.

        Raises
        ------
        MessageError
            ``field='src'``: a peer set is configured and ``src`` is not in it.
        """
        with self._cond:
            if self._peers is not None and src not in self._peers:
                raise MessageError(
                    f"failure notice from {src}, which is not a peer of this job at {self.owner}",
                    party=self.owner,
                    field="src",
                )
            self._failed[src] = reason
            self._changed()

    def raise_if_failed(self, peer: str) -> None:
        """Raise :class:`PartyFailedError` if ``peer`` reported a failure (so sends to it stop)."""
        with self._cond:
            reason = self._failed.get(peer)
        if reason is not None:
            raise PartyFailedError(f"peer {peer} failed: {reason}", party=self.owner)

    # -- reading and dropping -----------------------------------------------------------------

    def take(self, address: str, src: str, timeout: float) -> Envelope:
        """Wait up to ``timeout`` seconds for the envelope at ``address`` from ``src`` and remove it.

        Raises
        ------
        MessageError
            ``field='src'``: the envelope at ``address`` is not from ``src`` (it stays in place).
        PartyFailedError
            ``src`` reported a failure.
        PartyTimeoutError
            Nothing arrived in time, or the mailbox was closed.
        """
        deadline = time.monotonic() + timeout
        me = threading.get_ident()
        with self._cond:
            self._takers[me] = Taker(address, src, time.monotonic())
            self._changed()
            try:
                while True:
                    env = self._waiting.get(address)
                    if env is not None:
                        return self._pop(env, src)
                    if me in self._interrupts:
                        raise self._interrupts[me]
                    if src in self._failed:
                        raise PartyFailedError(f"peer {src} failed: {self._failed[src]}", party=self.owner)
                    if self._closed:
                        raise PartyTimeoutError(address, timeout, party=self.owner, detail="transport closed")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise PartyTimeoutError(address, timeout, party=self.owner)
                    self._cond.wait(left)
            finally:
                del self._takers[me]
                self._interrupts.pop(me, None)
                self._changed()

    def waits(self) -> Waits:
        """The ``take`` calls in progress that nothing here satisfies now, with the version seen."""
        with self._cond:
            unmet = {
                thread: taker
                for thread, taker in self._takers.items()
                if taker.address not in self._waiting
                and taker.src not in self._failed
                and thread not in self._interrupts
                and not self._closed
            }
            return Waits(self.version, unmet)

    def interrupt(self, thread: int, error: BaseException) -> bool:
        """Make the ``take`` of ``thread`` in progress raise ``error``; ``False`` if it has none."""
        with self._cond:
            if thread not in self._takers:
                return False
            self._interrupts[thread] = error
            self._changed()
        return True

    def _changed(self) -> None:
        """Note a change (the caller holds the lock) and wake every waiter."""
        self.version += 1
        self._cond.notify_all()

    def _pop(self, env: Envelope, src: str) -> Envelope:
        if env.src != src or env.dst != self.owner:
            raise MessageError(
                f"the message at '{env.address}' is from {env.src} to {env.dst}, "
                f"not from {src} to {self.owner}",
                party=self.owner,
                field="src",
            )
        del self._waiting[env.address]
        self._discharge(env.src, env.size)
        self.version += 1
        return env

    def drop_unread(self, prefix: str = "") -> list[Envelope]:
        """Remove the waiting envelopes whose address starts with ``prefix``; returns them.

        Their addresses stay used (a replay is still refused); their bytes leave the budget.
        """
        with self._cond:
            dropped = [env for address, env in self._waiting.items() if address.startswith(prefix)]
            for env in dropped:
                del self._waiting[env.address]
                self._discharge(env.src, env.size)
            self.version += 1
        return dropped

    def close(self) -> None:
        """Stop accepting messages, wake every waiter and drop what nobody read."""
        with self._cond:
            self._closed = True
            dropped = len(self._waiting)
            self._waiting.clear()
            self._pending.clear()
            self._changed()
        if dropped:
            log.warning("%s closed with %d unread message(s); dropped them", self.owner, dropped)
