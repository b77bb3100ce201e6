"""The guest's side of the intersection: it learns the result and tells the hosts.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

import logging
from typing import Any

from fedloom.context import Context
from fedloom.ml.hetero.intersection.params import IntersectParams
from fedloom.ml.hetero.intersection.result import IntersectionResult, as_params, run_role
from fedloom.protocols.psi import EcdhPsiGuest, RsaPsiGuest

log = logging.getLogger(__name__)


class IntersectionGuest:
    """Guest role of the intersection.

    Parameters
    ----------
    params
        :class:`IntersectParams`, or a FATE-style dict of them (validated in :meth:`fit`).
    """

    def __init__(self, params: IntersectParams | dict[str, Any] | None = None) -> None:
        self.params = params

    def fit(self, ctx: Context, ids: Any) -> IntersectionResult:
        """Intersect ``ids`` (distinct strings) with every host's ids.

        Returns
        -------
        IntersectionResult
            The sorted intersection and its size (only the size in cardinality-only mode).

        Raises
        ------
        ConfigError
            A bad parameter (names the field).
        DataError
            Empty, duplicate or non-text ids (names the party and the field ``id``).
        """
        params = as_params(self.params)
        if params.cardinality_only and params.cardinality_method != "ecdh":
            log.warning(
                "cardinality_method %r: fedloom computes the cardinality with ECDH, the only "
                "method here that keeps the matched ids hidden from the guest",
                params.cardinality_method,
            )
        protocol: EcdhPsiGuest | RsaPsiGuest
        if params.effective_method == "ecdh":
            e = params.ecdh_params
            protocol = EcdhPsiGuest(
                hash_method=e.hash_method,
                salt=e.salt,
                curve=e.curve,
                sync=params.sync_cardinality if params.cardinality_only else params.sync_intersect_ids,
                cardinality_only=params.cardinality_only,
            )
        else:
            r = params.rsa_params
            protocol = RsaPsiGuest(
                hash_method=r.hash_method,
                final_hash_method=r.final_hash_method,
                salt=r.salt,
                key_length=r.key_length,
                random_base_fraction=r.random_base_fraction,
                split_calculation=r.split_calculation,
                sync=params.sync_intersect_ids,
            )
        result = run_role(ctx, ids, params, protocol.run)
        log.info("intersection (%s) on %s: %s ids", result.method, ctx.party, result.count)
        return result
