"""Hetero intersection: which ids do the guest and the hosts have in common, privately.

Usable without any server::

    result = IntersectionGuest(IntersectParams(intersect_method="rsa")).fit(ctx, ids)   # guest
    result = IntersectionHost(IntersectParams(intersect_method="rsa")).fit(ctx, ids)    # each host

Flow (details and message lists in :mod:`fedloom.protocols.psi.ecdh` / ``.rsa``):

1. every party checks its ids: unique, non-empty, text (else DataError naming party and field);
2. the guest sends its settings; each host refuses to continue if they differ from its own;
3. the guest runs ECDH (default), RSA blind-signature or DH (MODP) PSI with each host and keeps the ids
   matched with every host (multi-host: per host, then across hosts);
4. with ``sync_intersect_ids`` each host receives the positions of the final intersection in its
   own id list; every party returns it sorted, so row ``i`` is the same id everywhere.

What each party learns (semi-honest parties)
--------------------------------------------
- guest: the final intersection, each host's id count and its pairwise intersection with each
  host; nothing about non-matching host ids.
- host: the guest's id count; the final intersection only with ``sync_intersect_ids``.
- ``cardinality_only`` (one host, the ECDH protocol, or DH with ``cardinality_method: dh``, with
  shuffled lists): the guest learns
  the size only; the host learns it with ``sync_cardinality``, else nothing but the guest's id
  count. No party learns which ids matched.
- RSA ``random_base_fraction``: the host can test guessed pairs of guest ids that share a reused
  blinding factor (see :class:`fedloom.crypto.rsa_blind.BlindingPool`).
- RSA ``split_calculation``: each host joins the half of the ids signed under the guest's key, so
  it learns about half of its pairwise intersection with the guest even without sync (see
  :mod:`fedloom.protocols.psi.rsa`).
- ``run_preprocess`` (Bloom-filter prefilter, :mod:`fedloom.protocols.psi.preprocess`): the
  side receiving the filter can test any id it holds or guesses for membership in the filter
  owner's set, wrong only at the false-positive rate: **much weaker than PSI**, whatever
  ``sync_intersect_ids`` says. Refused with ``cardinality_only``.
- ``run_cache`` / ``cache`` input (RSA): the host keeps its key and a digest of its id list, the
  guest the host's public key and signed ids; a later run reuses them (fresh blinding), and the
  host refuses a cache made from another id list.
"""

from fedloom.ml.hetero.intersection.guest import IntersectionGuest
from fedloom.ml.hetero.intersection.host import IntersectionHost
from fedloom.ml.hetero.intersection.params import (
    DhParams,
    EcdhParams,
    IntersectParams,
    RsaParams,
)
from fedloom.ml.hetero.intersection.result import IntersectionResult, check_ids

__all__ = [
    "DhParams",
    "EcdhParams",
    "IntersectParams",
    "IntersectionGuest",
    "IntersectionHost",
    "IntersectionResult",
    "RsaParams",
    "check_ids",
]
