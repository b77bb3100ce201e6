"""The guest's side of the intersection: it learns the result and tells the hosts.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

import logging

from fedloom.ml.hetero.intersection.params import IntersectParams
from fedloom.ml.hetero.intersection.role import IntersectionRole
from fedloom.protocols.psi import DhPsiGuest, EcdhPsiGuest, RsaPsiGuest

log = logging.getLogger(__name__)


class IntersectionGuest(IntersectionRole):
    """Guest role of the intersection: :meth:`fit` intersects its ids with every host's.

    Its :class:`~fedloom.ml.hetero.intersection.IntersectionResult` holds the sorted
    intersection and its size (only the size in cardinality-only mode).
    """

    ecdh = EcdhPsiGuest
    rsa = RsaPsiGuest
    dh = DhPsiGuest

    def _check(self, params: IntersectParams) -> None:
        if params.cardinality_only and params.cardinality_method == "rsa":
            log.warning(
                "cardinality_method 'rsa': fedloom computes the cardinality with ECDH; RSA blind "
                "signatures cannot keep the matched ids hidden from the guest"
            )
