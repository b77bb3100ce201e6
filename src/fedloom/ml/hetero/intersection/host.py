"""The host's side of the intersection: it learns the result only with sync.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

from fedloom.ml.hetero.intersection.role import IntersectionRole
from fedloom.protocols.psi import DhPsiHost, EcdhPsiHost, RsaPsiHost


class IntersectionHost(IntersectionRole):
    """Host role of the intersection: :meth:`fit` intersects its ids with the guest's.

    Its :class:`~fedloom.ml.hetero.intersection.IntersectionResult` holds the sorted
    intersection restricted to this host's ids with ``sync_intersect_ids``; only the size with
    ``cardinality_only`` and ``sync_cardinality``; else nothing (``ids``, ``index`` and
    ``count`` are None).
    """

    ecdh = EcdhPsiHost
    rsa = RsaPsiHost
    dh = DhPsiHost
