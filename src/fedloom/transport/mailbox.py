"""Where received envelopes wait for ``recv``: one slot per address, each filled at most once."""

from __future__ import annotations

import threading
import time

from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError
from fedloom.transport.envelope import Envelope


class Mailbox:
    """Thread-safe store of delivered envelopes keyed by address.

    A second delivery to an address that was ever used raises :class:`MessageError` (the sender
    sees it), so a replayed or mis-addressed message can never be read in place of the real one.
    A peer's failure notice wakes every waiter on a message from that peer at once.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._cond = threading.Condition()
        self._waiting: dict[str, Envelope] = {}
        self._seen: set[str] = set()
        self._failed: dict[str, str] = {}
        self._closed = False

    def deliver(self, env: Envelope) -> None:
        """Store ``env``; raises :class:`MessageError` on a wrong recipient or a reused address."""
        if env.dst != self.owner:
            raise MessageError(
                f"message for {env.dst} delivered to {self.owner}", party=self.owner, field="dst"
            )
        with self._cond:
            if env.address in self._seen:
                raise MessageError(
                    f"a second message to address '{env.address}': each address is used once",
                    party=self.owner,
                    field="address",
                )
            self._seen.add(env.address)
            self._waiting[env.address] = env
            self._cond.notify_all()

    def fail(self, src: str, reason: str) -> None:
        """Record that peer ``src`` failed; pending and future receives from it raise at once."""
        with self._cond:
            self._failed[src] = reason
            self._cond.notify_all()

    def raise_if_failed(self, peer: str) -> None:
        """Raise :class:`PartyFailedError` if ``peer`` reported a failure (so sends to it stop)."""
        with self._cond:
            reason = self._failed.get(peer)
        if reason is not None:
            raise PartyFailedError(f"peer {peer} failed: {reason}", party=self.owner)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, address: str, src: str, timeout: float) -> Envelope:
        """Wait up to ``timeout`` seconds for the envelope at ``address`` and remove it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                env = self._waiting.pop(address, None)
                if env is not None:
                    return env
                if src in self._failed:
                    raise PartyFailedError(f"peer {src} failed: {self._failed[src]}", party=self.owner)
                if self._closed:
                    raise PartyTimeoutError(address, timeout, party=self.owner, detail="transport closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PartyTimeoutError(address, timeout, party=self.owner)
                self._cond.wait(left)
