"""DH private set intersection (FATE's ``dh``): Pohlig–Hellman commutative encryption.

The group is the prime-order subgroup of quadratic residues of an RFC 3526 MODP group (2048 bits
by default; see :mod:`fedloom.crypto.modp`). Message flow with one host (guest exponent ``a``,
host exponent ``b``, fresh per run and per host; ``H`` hashes an id into the subgroup)::

    guest → host   PSI_HELLO          settings and n_g (the host checks them against its own)
    host  → guest  DH_HOST_VALUES     H(u)^b mod p for every host id u, in the host's order
    guest → host   DH_GUEST_VALUES    H(v)^a mod p for every guest id v, in the guest's order
    host  → guest  DH_DOUBLE_VALUES   sha256((H(v)^a)^b)[:16], in the guest's order
    guest          computes (H(u)^b)^a itself, hashes it the same way, joins the two lists
    guest → host   PSI_INTERSECTION   (sync_intersect_ids) positions, in the host's order, of
                                      the final intersection

It is the ECDH protocol (:mod:`fedloom.protocols.psi.ecdh`) on a different group: the same
messages in the same order, the same overlap of both parties' exponentiations, the same
cardinality-only mode (the host sends both lists in fresh random orders of its own) and the same
multi-host rule (the guest runs the exchange with each host, its own exponent per host, and
keeps the ids found with every host). Per id it costs a 2048-bit modular exponentiation where
ECDH costs a 255-bit scalar multiplication, and it sends 256 bytes where ECDH sends 32.

Every received value is checked to be in the subgroup (range and Legendre symbol) before it is
exponentiated, so a peer cannot probe the exponent with elements of small order.

What each party learns (semi-honest)
------------------------------------
- guest: the intersection (which of its ids are in it), the host's id count, and for each match
  the position of that id in the host's list (used only to tell the host the result); nothing
  about the host's other ids (pseudo-random subgroup elements under DDH, H a random oracle).
  With several hosts it also learns each host's pairwise intersection with it.
- host: the guest's id count; the final intersection only with ``sync_intersect_ids``; never which
  of the guest's other ids exist.
- cardinality-only: the guest learns the size only (and the host's id count); the host learns the
  size only with sync, else nothing but the guest's id count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedloom.compute.psi import dh_hash, dh_power
from fedloom.crypto.modp import DhKey, ModpGroup, group_for
from fedloom.protocols.psi.common import CommutativeGuest, CommutativeHost, CommutativePsi
from fedloom.protocols.psi.messages import DH_DOUBLE_VALUES, DH_GUEST_VALUES, DH_HOST_VALUES


@dataclass(kw_only=True)
class _DhPsi(CommutativePsi):
    """Settings shared by both sides."""

    method: ClassVar[str] = "dh"
    channels = (DH_HOST_VALUES, DH_GUEST_VALUES, DH_DOUBLE_VALUES)
    key_length: int = 2048
    cardinality_only: bool = False

    @property
    def group(self) -> ModpGroup:
        return group_for(self.key_length)

    def _check(self) -> None:
        group_for(self.key_length)  # raises ConfigError on an unknown key_length

    def _new_key(self) -> DhKey:
        return DhKey(self.group)

    def _hash(self, key: DhKey, ids: Sequence[str]) -> list[Any]:
        # Large inputs go block-wise through the party's executor (issue 16); same values.
        return dh_hash(self.group, ids, self.hash_method, self.salt)

    def _encrypt(self, key: DhKey, values: list[Any]) -> list[Any]:
        return dh_power(key, values)

    def _to_array(self, values: list[Any]) -> np.ndarray:
        return self.group.to_array(values)

    def _from_array(self, arr: object, *, what: str, count: int | None = None) -> list[Any]:
        return self.group.from_array(arr, count=count, what=what)

    def _join_keys(self, values: list[Any]) -> np.ndarray:
        return self.group.join_keys(values)


class DhPsiGuest(_DhPsi, CommutativeGuest):
    """The guest side: learns the intersection (or its size), joins, tells hosts the result.

    Parameters
    ----------
    hash_method, salt
        How ids are hashed into the group (both sides must agree; FATE's ``dh_params``).
    key_length
        The MODP group: 2048 (default), 3072 or 4096 bits; smaller values run on 2048.
    sync
        Send each host the final intersection (its positions in the host's list); in
        cardinality-only mode, send the count.
    cardinality_only
        Learn only the size of the intersection (one host only).
    """


class DhPsiHost(_DhPsi, CommutativeHost):
    """The host side: encrypts its ids and the guest's, learns the result only with sync.

    Parameters are those of :class:`DhPsiGuest` and must equal the guest's (checked).
    """
