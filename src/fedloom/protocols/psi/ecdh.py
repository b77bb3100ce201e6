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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fedloom.compute.psi import ecdh_hash, ecdh_multiply
from fedloom.crypto.ecdh import POINT_BYTES, EcdhKey, array_to_points, hash_ids, points_to_array
from fedloom.protocols.psi.common import JOIN_BYTES, CommutativeGuest, CommutativeHost, CommutativePsi
from fedloom.protocols.psi.common import random_permutation as _permutation
from fedloom.protocols.psi.messages import ECDH_DOUBLE_POINTS, ECDH_GUEST_POINTS, ECDH_HOST_POINTS


def _truncate(points: list[bytes]) -> np.ndarray:
    return np.ascontiguousarray(points_to_array(points)[:, :JOIN_BYTES])


@dataclass(kw_only=True)
class _EcdhPsi(CommutativePsi):
    """Settings shared by both sides."""

    method: ClassVar[str] = "ecdh"
    channels = (ECDH_HOST_POINTS, ECDH_GUEST_POINTS, ECDH_DOUBLE_POINTS)
    curve: str = "curve25519"
    cardinality_only: bool = False

    def _points(self, key: EcdhKey, ids: Sequence[str]) -> list[bytes]:
        return key.hash_to_group(hash_ids(ids, self.hash_method, self.salt))

    def _new_key(self) -> EcdhKey:
        return EcdhKey(self.curve)

    def _hash(self, key: EcdhKey, ids: Sequence[str]) -> list[bytes]:
        # Large inputs go block-wise through the party's executor (issue 16); same points.
        return ecdh_hash(key.curve, ids, self.hash_method, self.salt)

    def _encrypt(self, key: EcdhKey, values: list[bytes]) -> list[bytes]:
        return ecdh_multiply(key, values)

    def _to_array(self, values: list[bytes]) -> np.ndarray:
        return points_to_array(values)

    def _from_array(self, arr: object, *, what: str, count: int | None = None) -> list[bytes]:
        return array_to_points(arr, width=POINT_BYTES, count=count, what=what)

    def _join_keys(self, values: list[bytes]) -> np.ndarray:
        return _truncate(values)

    def _permutation(self, n: int) -> np.ndarray:
        return _permutation(n)  # looked up here, so a test can replace the module's _permutation


class EcdhPsiGuest(_EcdhPsi, CommutativeGuest):
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


class EcdhPsiHost(_EcdhPsi, CommutativeHost):
    """The host side: encrypts its ids and the guest's, learns the result only with sync.

    Parameters are those of :class:`EcdhPsiGuest` and must equal the guest's (checked).
    """
