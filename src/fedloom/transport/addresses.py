"""Who sent and who waited where in an in-memory federation: the address log and the deadlock watch.

A namespace mismatch between two roles (the guest sends ``.../epoch-1/ping``, the host waits on
``.../epoch1/ping``) used to show only as the host's ``recv`` timing out, ten minutes later, naming
one address. In memory every party's sends and waits are visible, so the harness of
:func:`fedloom.testing.run_parties` does better:

* :class:`AddressLog` (kept by every :class:`~fedloom.transport.memory.MemoryHub`) records each
  address sent, received and waited on in vain; :meth:`AddressLog.report` lists them, each failed
  ``recv`` with the sent-but-unread address nearest to it first;
* :class:`DeadlockWatch` fails a ``recv`` as soon as no send can ever match it, with
  :class:`AddressMismatchError` naming the address waited on and the nearest one sent:

  - its sender has finished (returned or failed) and the message is not in the mailbox; or
  - every party still running is waiting in ``recv``, none of them on a message that has
    arrived, and nothing changed for :attr:`DeadlockWatch.settle_s` seconds.

A party counts as waiting when the thread running its role (the one that called
:meth:`DeadlockWatch.started`) is inside ``recv``. Threads a role starts itself are not followed:
a role whose main thread waits in ``recv`` while a helper thread of its own computes for longer than
``settle_s`` and then *sends* would be reported as a deadlock; no role of fedloom does that
(``run_parties(..., check_addresses=False)`` turns the watch off).
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Self

from fedloom.core.errors import PartyTimeoutError, ProtocolError
from fedloom.transport.envelope import address_parties
from fedloom.transport.mailbox import Taker, Waits

if TYPE_CHECKING:
    from fedloom.transport.memory import MemoryHub

#: Lines shown per list of a report.
SHOWN = 20


class AddressMismatchError(PartyTimeoutError):
    """A ``recv`` that no send can match: it would have timed out (hence a PartyTimeoutError).

    Parameters
    ----------
    address
        The address waited on.
    waited
        Seconds it had waited when the watch gave up on it.
    why
        Why no send can come (its sender finished, or every party is waiting).
    nearest
        The sent-but-unread address nearest to ``address``, if any.
    """

    def __init__(self, address: str, waited: float, *, party: str, why: str, nearest: str | None) -> None:
        ProtocolError.__init__(
            self, f"recv '{address}': no matching send ({why}); {_nearest(nearest)}", party=party
        )
        self.address = address
        self.timeout = waited
        self.nearest = nearest


class UnreadMessagesError(ProtocolError):
    """A run succeeded but some messages were sent that no party ever received."""


class AddressLog:
    """Every address sent, received and waited on in vain in one federation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, None] = {}  # in send order
        self._received: dict[str, None] = {}  # in receive order
        self._unmatched: dict[str, str] = {}  # address -> receiver, of recvs that got nothing

    def sent(self, address: str) -> None:
        with self._lock:
            self._sent[address] = None

    def received(self, address: str) -> None:
        with self._lock:
            self._received[address] = None
            self._unmatched.pop(address, None)

    def unmatched(self, address: str, dst: str) -> None:
        """A ``recv`` of ``address`` by ``dst`` ended without its message (timeout, mismatch...)."""
        with self._lock:
            self._unmatched[address] = dst

    def unread(self) -> list[str]:
        """Addresses sent and never received, in send order."""
        with self._lock:
            return [a for a in self._sent if a not in self._received]

    def nearest(self, address: str) -> str | None:
        """The unread address to the same receiver most like ``address`` (same sender first)."""
        return _nearest_of(address, self.unread())

    def __len__(self) -> int:
        with self._lock:
            return len(self._sent) + len(self._unmatched)

    def report(self, title: str = "addresses of the in-memory run") -> str:
        """Failed recvs (each with its nearest unread send), then the unread and received addresses."""
        with self._lock:
            sent, received, unmatched = list(self._sent), list(self._received), dict(self._unmatched)
        got = set(received)
        unread = [a for a in sent if a not in got]
        lines = [f"{title}: {len(sent)} sent, {len(received)} received, {len(unmatched)} recv(s) unmatched"]
        nearest = {a: _nearest_of(a, unread) for a in unmatched}
        for address, dst in sorted(unmatched.items(), key=lambda item: nearest[item[0]] is None):
            lines.append(f"  recv '{address}' by {dst}: no matching send; {_nearest(nearest[address])}")
        if unmatched:
            unread.sort(key=lambda a: max(_likeness(u, a) for u in unmatched), reverse=True)
        lines += _listed("sent, never received" + (", nearest first" if unmatched else ""), unread)
        lines += _listed("received, the last ones", received[-SHOWN:], total=len(received))
        return "\n".join(lines)


class DeadlockWatch:
    """Interrupts, with :class:`AddressMismatchError`, each ``recv`` that no send can ever match.

    Parameters
    ----------
    hub
        The federation; its transports' mailboxes are read every ``poll_s`` seconds.
    parties
        Every party of the run (``role:id``); each is running until :meth:`started` and
        :meth:`finished` say otherwise.
    poll_s
        Seconds between two looks.
    settle_s
        How long every running party must have been waiting, with nothing changing anywhere,
        before the wait is called a deadlock.

    Use as a context manager around the run; :attr:`errors` holds what it raised.
    """

    def __init__(
        self, hub: MemoryHub, parties: Iterable[str], *, poll_s: float = 0.05, settle_s: float = 0.2
    ) -> None:
        self.hub = hub
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.errors: list[AddressMismatchError] = []
        self._lock = threading.Lock()
        self._threads: dict[str, int | None] = dict.fromkeys(parties)  # party -> its role's thread
        self._done: set[str] = set()
        self._generation = 0
        self._suspect: tuple[tuple[int, ...], float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fedloom-deadlock-watch", daemon=True)

    def started(self, party: str) -> None:
        """Called by ``party``'s role thread before the role runs."""
        with self._lock:
            self._threads[party] = threading.get_ident()
            self._generation += 1

    def finished(self, party: str) -> None:
        """Called by ``party``'s role thread once the role returned or raised (after its failure notice)."""
        with self._lock:
            self._done.add(party)
            self._generation += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.check()

    def check(self) -> None:
        """One look: interrupt the waits that can never be met."""
        with self._lock:
            generation, done = self._generation, set(self._done)
            running = {p: t for p, t in self._threads.items() if p not in done}
        # Read after `done`: a finished party sent everything it will ever send before it finished.
        views = {p: self._waits(p) for p in self._threads}
        for party, view in views.items():
            for thread, taker in view.unmet.items():
                if taker.src in done:
                    self._interrupt(party, thread, taker, f"{taker.src} finished without sending it")
        waits: dict[str, tuple[int, Taker]] = {}
        for party, main in running.items():
            wait = views[party].unmet.get(main) if main is not None else None
            if main is None or wait is None:  # this one is working (or not started): no deadlock
                self._suspect = None
                return
            waits[party] = (main, wait)
        if not waits:
            return
        key = (generation, *(v.version for v in views.values()))
        now = time.monotonic()
        if self._suspect is None or self._suspect[0] != key:
            self._suspect = (key, now)  # all waiting: a deadlock if nothing changes while settling
        elif now - self._suspect[1] >= self.settle_s:
            why = f"every running party ({', '.join(sorted(running))}) is waiting in recv"
            for party, (thread, taker) in waits.items():
                self._interrupt(party, thread, taker, why)
            self._suspect = None

    def _waits(self, party: str) -> Waits:
        transport = self.hub.lookup(party)
        return transport.mailbox.waits() if transport is not None else Waits(-1, {})

    def _interrupt(self, party: str, thread: int, taker: Taker, why: str) -> None:
        transport = self.hub.lookup(party)
        error = AddressMismatchError(
            taker.address,
            round(time.monotonic() - taker.since, 3),
            party=party,
            why=why,
            nearest=self.hub.log.nearest(taker.address),
        )
        if transport is not None and transport.mailbox.interrupt(thread, error):
            self.errors.append(error)


def _likeness(a: str, b: str) -> tuple[bool, bool, float]:
    """Sort key of ``b`` as a candidate for ``a``: same receiver, same sender, then similarity."""
    ends_a, ends_b = address_parties(a) or ("", ""), address_parties(b) or ("", "")
    ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return ends_a[1] == ends_b[1], ends_a[0] == ends_b[0], ratio


def _nearest_of(address: str, unread: list[str]) -> str | None:
    """The unread address that ``address``'s receiver could have meant, if any."""
    dst = (address_parties(address) or ("", ""))[1]
    candidates = [a for a in unread if (address_parties(a) or ("", ""))[1] == dst]
    return max(candidates, key=lambda c: _likeness(address, c)) if candidates else None


def _nearest(address: str | None) -> str:
    return (
        f"nearest sent: '{address}' (never received)" if address else "nothing unread was sent to this party"
    )


def _listed(title: str, items: list[str], *, total: int | None = None) -> list[str]:
    total = len(items) if total is None else total
    if not total:
        return []
    lines = [f"  {title} ({total}):"] + [f"    {a}" for a in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"    ... and {len(items) - SHOWN} more")
    return lines
