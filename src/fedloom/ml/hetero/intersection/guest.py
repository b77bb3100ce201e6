"""The guest's side of the intersection: it learns the result and tells the hosts.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

import logging

from fedloom.ml.hetero.intersection.params import IntersectParams
from fedloom.ml.hetero.intersection.role import IntersectionRole
from fedloom.protocols.psi import EcdhPsiGuest, RsaPsiGuest

log = logging.getLogger(__name__)


class IntersectionGuest(IntersectionRole):
    """Guest role of the intersection: :meth:`fit` intersects its ids with every host's.

    Its :class:`~fedloom.ml.hetero.intersection.IntersectionResult` holds the sorted
    intersection and its size (only the size in cardinality-only mode).
    """

    ecdh = EcdhPsiGuest
    rsa = RsaPsiGuest

    def _check(self, params: IntersectParams) -> None:
        if params.cardinality_only and params.cardinality_method != "ecdh":
            log.warning(
                "cardinality_method %r: fedloom computes the cardinality with ECDH, the only "
                "method here that keeps the matched ids hidden from the guest",
                params.cardinality_method,
            )
