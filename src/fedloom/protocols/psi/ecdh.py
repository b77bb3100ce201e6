"""ECDH private set intersection (the default method), guest and host sides.

Message flow with one host (guest scalar ``a``, host scalar ``b``, fresh per run and per host;
``H`` hashes an id into the group, see :mod:`fedloom.crypto.ecdh`)::

    guest → host   PSI_HELLO            settings and n_g (the host checks them against its own)
    host  → guest  ECDH_HOST_POINTS     b·H(u) for every host id u, in the host's order
    guest → host   ECDH_GUEST_POINTS    a·H(v) for every guest id v, in the guest's order
    host  → guest  ECDH_DOUBLE_POINTS   b·(a·H(v)), first 16 bytes, in the guest's order
    guest          computes a·(b·H(u)) itself and joins the two 16-byte lists
    guest → host   PSI_INTERSECTION     (sync_intersect_ids) positions, in the host's order, of
                                        the final intersection

Both parties' heavy steps overlap: the host computes b·H(u) while the guest computes a·H(v),
then the host computes b·(a·H(v)) while the guest computes a·(b·H(u)). Every message is one
fixed-width uint8 array. With several hosts the guest runs the exchange with each (its own
scalar per host) and keeps the ids found with every host.

Cardinality-only mode (one host): the host sends both of its lists in an order of its own random
choosing (a fresh permutation for each), so the guest can count matches but cannot tell which of
its ids they are; with sync the guest sends the count.

What each party learns (semi-honest)
------------------------------------
- guest: the intersection (which of its ids are in it), the host's id count, and for each match
  the position of that id in the host's list (used only to tell the host the result); nothing
  about the host's other ids (they stay pseudo-random group elements under DDH). With several
  hosts it also learns each host's pairwise intersection with it.
- host: the guest's id count; the final intersection only with ``sync_intersect_ids``; never which
  of the guest's other ids exist.
- cardinality-only: the guest learns the size only (and the host's id count); the host learns
  the size only with sync, else nothing but the guest's id count.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core import ConfigError
from fedloom.crypto.ecdh import (
    POINT_BYTES,
    EcdhKey,
    array_to_points,
    check_array,
    hash_ids,
    points_to_array,
)
from fedloom.protocols.psi.common import JOIN_BYTES, PsiOutcome, PsiSettings, guest_finish, host_finish, join
from fedloom.protocols.psi.messages import ECDH_DOUBLE_POINTS, ECDH_GUEST_POINTS, ECDH_HOST_POINTS

log = logging.getLogger(__name__)


def _truncate(points: list[bytes]) -> np.ndarray:
    return np.ascontiguousarray(points_to_array(points)[:, :JOIN_BYTES])


def _permutation(n: int) -> np.ndarray:
    return np.random.default_rng(secrets.randbits(128)).permutation(n)


@dataclass(kw_only=True)
class _EcdhPsi(PsiSettings):
    """Settings shared by both sides."""

    method: ClassVar[str] = "ecdh"
    curve: str = "curve25519"
    cardinality_only: bool = False

    def _points(self, key: EcdhKey, ids: Sequence[str]) -> list[bytes]:
        return key.hash_to_group(hash_ids(ids, self.hash_method, self.salt))


class EcdhPsiGuest(_EcdhPsi):
    """The guest side: learns the intersection (or its size), joins, tells hosts the result.

    Parameters
    ----------
    hash_method, salt
        How ids are hashed before being mapped to the group (both sides must agree).
    curve
        ``"curve25519"`` (default) or ``"edwards25519"``.
    sync
        Send each host the final intersection (its positions in the host's list); in
        cardinality-only mode, send the count.
    cardinality_only
        Learn only the size of the intersection (one host only).
    """

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with every host of ``ctx``; ``ids`` are this party's distinct ids."""
        hosts = ctx.hosts
        if self.cardinality_only and len(hosts) != 1:
            raise ConfigError(
                f"cardinality_only works with exactly one host, the job has {len(hosts)}: the guest "
                "cannot cross hosts' results without learning which ids matched",
                party=str(ctx.party),
                field="cardinality_only",
            )
        self.send_hello(ctx, len(ids))
        keys = {h: EcdhKey(self.curve) for h in hosts}
        first = next(iter(keys.values()))
        hashed = self._points(first, ids)
        for host, key in keys.items():
            ctx.send(ECDH_GUEST_POINTS, points_to_array(key.multiply(hashed)), to=host)
        matches = {}
        for host, key in keys.items():
            host_points = array_to_points(ctx.recv(ECDH_HOST_POINTS, frm=host), what="ecdh_host_points")
            host_keys = _truncate(key.multiply(host_points))
            double = check_array(
                ctx.recv(ECDH_DOUBLE_POINTS, frm=host),
                width=JOIN_BYTES,
                count=len(ids),
                what="ecdh_double_points",
            )
            matches[host] = join(double, host_keys)
            log.debug("ecdh psi with %s: %d of %d guest ids matched", host, len(matches[host][0]), len(ids))
        return guest_finish(ctx, matches, sync=self.sync, cardinality_only=self.cardinality_only)


class EcdhPsiHost(_EcdhPsi):
    """The host side: encrypts its ids and the guest's, learns the result only with sync.

    Parameters are those of :class:`EcdhPsiGuest` and must equal the guest's (checked).
    """

    def run(self, ctx: Context, ids: Sequence[str]) -> PsiOutcome:
        """Run the protocol with the guest; ``ids`` are this party's distinct ids."""
        n_guest = self.recv_hello(ctx)
        key = EcdhKey(self.curve)
        mine = key.multiply(self._points(key, ids))
        if self.cardinality_only:
            order = _permutation(len(mine))
            mine = [mine[i] for i in order]
        ctx.send(ECDH_HOST_POINTS, points_to_array(mine))
        guest_points = array_to_points(
            ctx.recv(ECDH_GUEST_POINTS), width=POINT_BYTES, count=n_guest, what="ecdh_guest_points"
        )
        double = _truncate(key.multiply(guest_points))
        if self.cardinality_only:
            double = double[_permutation(len(double))]
        ctx.send(ECDH_DOUBLE_POINTS, np.ascontiguousarray(double))
        return host_finish(ctx, len(ids), sync=self.sync, cardinality_only=self.cardinality_only)
