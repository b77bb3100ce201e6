"""Run every role of a protocol in one process, as threads over the in-memory transport.

>>> from fedloom.core import GUEST, HOST
>>> def guest(ctx): return ctx.recv(PING) + 1          # doctest: +SKIP
>>> def host(ctx): ctx.send(PING, 41)                 # doctest: +SKIP
>>> run_parties({GUEST: guest, HOST: host})            # doctest: +SKIP
{<Role.GUEST: 'guest'>: 42, <Role.HOST: 'host'>: None}
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fedloom.context import Context
from fedloom.core.errors import PartyFailedError
from fedloom.core.roles import PartyId, Role
from fedloom.transport.memory import MemoryHub

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
) -> dict[K, Any]:
    """Run ``fns[party](ctx)`` for every party at once and return their results by the same keys.

    Each party gets its own :class:`Context` on a shared :class:`MemoryHub`. When a party raises,
    its peers are told at once (they raise :class:`PartyFailedError` instead of waiting for the
    timeout) and the first original error is re-raised here, with the party's traceback attached.
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

    def work(key: K) -> None:
        ctx = contexts[key]
        try:
            results[key] = fns[key](ctx)
        except BaseException as exc:
            errors[key] = exc
            ctx.fail(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")

    threads = [threading.Thread(target=work, args=(key,), name=str(parties[key]), daemon=True) for key in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ctx in contexts.values():
        ctx.transport.close()
    if errors:
        root = [e for e in errors.values() if not isinstance(e, PartyFailedError)]
        raise (root or list(errors.values()))[0]
    return results
