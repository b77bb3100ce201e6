"""Run every role of a protocol in one process, as threads over the in-memory transport.

>>> from fedloom.core import GUEST, HOST
>>> def guest(ctx): return ctx.recv(PING) + 1          # doctest: +SKIP
>>> def host(ctx): ctx.send(PING, 41)                 # doctest: +SKIP
>>> run_parties({GUEST: guest, HOST: host})            # doctest: +SKIP
{<Role.GUEST: 'guest'>: 42, <Role.HOST: 'host'>: None}

With ``check_addresses`` (the default) the run checks its addresses as well as its results: a
``recv`` that no send can match fails at once (:class:`AddressMismatchError`, naming the address
waited on and the nearest one sent) instead of after the timeout, a failed run carries the list of
addresses sent, received and waited on in vain, and a successful run in which a message was sent
that nobody received fails with :class:`UnreadMessagesError` (see :func:`run_parties`).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

from fedloom.context import Context
from fedloom.core.errors import PartyFailedError
from fedloom.core.roles import PartyId, Role
from fedloom.transport import memory
from fedloom.transport.addresses import AddressLog, AddressMismatchError, DeadlockWatch, UnreadMessagesError
from fedloom.transport.memory import MemoryHub

__all__ = [
    "DEFAULT_IDS",
    "AddressMismatchError",
    "UnreadMessagesError",
    "as_party",
    "recording_hubs",
    "run_parties",
]

K = TypeVar("K", Role, PartyId, str)

#: Party ids used when a test names only roles (FATE's example ids).
DEFAULT_IDS = {Role.GUEST: "9999", Role.HOST: "10000", Role.ARBITER: "10000"}


def as_party(key: Role | PartyId | str) -> PartyId:
    """``GUEST`` → ``guest:9999``; ``"host:10001"`` → that party; a PartyId stays as it is."""
    if isinstance(key, PartyId):
        return key
    if isinstance(key, Role):
        return PartyId(key, DEFAULT_IDS[key])
    if ":" in key:
        return PartyId.parse(key)
    role = Role(key)
    return PartyId(role, DEFAULT_IDS[role])


def run_parties(
    fns: Mapping[K, Callable[[Context], Any]],
    *,
    timeout: float = 30.0,
    job_id: str = "test",
    check_addresses: bool = True,
) -> dict[K, Any]:
    """Run ``fns[party](ctx)`` for every party at once and return their results by the same keys.

    Each party gets its own :class:`Context` on a shared :class:`MemoryHub`. When a party raises,
    its peers are told at once (they raise :class:`PartyFailedError` instead of waiting for the
    timeout) and the first original error is re-raised here, with the party's traceback attached.

    Parameters
    ----------
    check_addresses
        Check the run's addresses (default):

        - a ``recv`` whose sender has finished without sending it, or one of a deadlock (every
          party still running waits in ``recv`` and none of their messages has arrived), raises
          :class:`AddressMismatchError` (a :class:`PartyTimeoutError`) in that party at once,
          naming the address waited on and the nearest address sent but never received;
        - when the run fails, the error raised here carries, as a note, every ``recv`` that got
          nothing (each with its nearest unread send), the unread addresses and the received ones;
        - when every party succeeded but a message was sent that no party received,
          :class:`UnreadMessagesError` lists them: a protocol that sends what nobody reads
          discloses, and transfers, more than it needs (after a failure unread messages are
          expected, and only listed).

        ``False`` leaves only the timeout (for a role whose helper threads send while its own
        thread waits, see :mod:`fedloom.transport.addresses`).
    """
    parties = {key: as_party(key) for key in fns}
    everyone = list(parties.values())
    if len(set(everyone)) != len(everyone):
        raise ValueError(f"two entries name the same party: {everyone}")
    hub = MemoryHub()
    contexts = {
        key: Context(p, everyone, hub.connect(p), job_id=job_id, timeout=timeout)
        for key, p in parties.items()
    }
    results: dict[K, Any] = {}
    errors: dict[K, BaseException] = {}
    watch = DeadlockWatch(hub, [str(p) for p in everyone]) if check_addresses else None

    def work(key: K) -> None:
        ctx = contexts[key]
        if watch is not None:
            watch.started(str(ctx.party))
        try:
            results[key] = fns[key](ctx)
        except BaseException as exc:
            errors[key] = exc
            ctx.fail(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
        finally:
            if watch is not None:
                watch.finished(str(ctx.party))

    threads = [threading.Thread(target=work, args=(key,), name=str(parties[key]), daemon=True) for key in fns]
    with watch if watch is not None else nullcontext():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for ctx in contexts.values():
        ctx.transport.close()
    _conclude(list(errors.values()), hub.log if check_addresses else None, job_id)
    return results


def _conclude(errors: list[BaseException], log: AddressLog | None, job_id: str) -> None:
    """Raise the run's error (with the address report), or UnreadMessagesError, if any.

    The error shown is not a peer's failure echoed, and among mismatches one with a nearest send.
    """
    title = f"addresses of run_parties(job_id={job_id!r})"
    if errors:
        root = [e for e in errors if not isinstance(e, PartyFailedError)] or errors
        named = [e for e in root if isinstance(e, AddressMismatchError) and e.nearest is not None]
        error = (named or root)[0]
        if log is not None and len(log):
            error.add_note(log.report(title))
        raise error
    if log is not None and log.unread():
        raise UnreadMessagesError(
            "every party returned, but messages were sent that no party received (a recv missing or "
            "at another address?); pass check_addresses=False if that is intended\n" + log.report(title)
        )


@contextmanager
def recording_hubs() -> Iterator[list[MemoryHub]]:
    """Collect every :class:`MemoryHub` made inside the block (to report their addresses)."""
    hubs: list[MemoryHub] = []
    listener = hubs.append
    memory.hub_listeners.append(listener)
    try:
        yield hubs
    finally:
        memory.hub_listeners.remove(listener)
