"""What the guest's and the host's side of the intersection share: the checks and one PSI run.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.ml.hetero.intersection.params import IntersectParams
from fedloom.ml.hetero.intersection.result import IntersectionResult, check_ids
from fedloom.protocols.psi import EcdhPsiGuest, EcdhPsiHost, PsiOutcome, RsaPsiGuest, RsaPsiHost

log = logging.getLogger(__name__)


class IntersectionRole:
    """One side of the intersection: checks the ids, runs the configured PSI, sorts the result.

    Parameters
    ----------
    params
        :class:`IntersectParams`, or a FATE-style dict of them (validated in :meth:`fit`).
    """

    #: This side of each PSI protocol.
    ecdh: ClassVar[type[EcdhPsiGuest | EcdhPsiHost]]
    rsa: ClassVar[type[RsaPsiGuest | RsaPsiHost]]

    def __init__(self, params: IntersectParams | Mapping[str, object] | None = None) -> None:
        self.params = params

    def fit(self, ctx: Context, ids: Sequence[str] | np.ndarray) -> IntersectionResult:
        """Intersect ``ids`` (distinct strings) with the other side's ids.

        Returns
        -------
        IntersectionResult
            What this role learns (see the role's class).

        Raises
        ------
        ConfigError
            A bad parameter (names the field).
        DataError
            Empty, duplicate or non-text ids (names the party and the field ``id``).
        """
        params = IntersectParams.coerce(self.params)
        self._check(params)
        values = check_ids(ids, str(ctx.party))
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        t0 = time.perf_counter()
        outcome = self._protocol(params).run(ctx, values)
        seconds = time.perf_counter() - t0
        result = _result(values, outcome, params)
        result.seconds = seconds
        result.bytes_sent = ctx.stats.total_sent - sent0
        result.bytes_received = ctx.stats.total_received - recv0
        log.info("intersection (%s) on %s: %s ids", result.method, ctx.party, result.count)
        return result

    def _check(self, params: IntersectParams) -> None:
        """Role-specific remarks on the parameters (none by default)."""

    def _protocol(self, params: IntersectParams) -> EcdhPsiGuest | EcdhPsiHost | RsaPsiGuest | RsaPsiHost:
        """This side of the PSI protocol that ``params`` select."""
        if params.effective_method == "ecdh":
            e = params.ecdh_params
            return self.ecdh(
                hash_method=e.hash_method,
                salt=e.salt,
                curve=e.curve,
                sync=params.sync_cardinality if params.cardinality_only else params.sync_intersect_ids,
                cardinality_only=params.cardinality_only,
            )
        r = params.rsa_params
        return self.rsa(
            hash_method=r.hash_method,
            final_hash_method=r.final_hash_method,
            salt=r.salt,
            key_length=r.key_length,
            random_base_fraction=r.random_base_fraction,
            split_calculation=r.split_calculation,
            sync=params.sync_intersect_ids,
        )


def _result(values: list[str], outcome: PsiOutcome, params: IntersectParams) -> IntersectionResult:
    """The outcome with the matched ids sorted (Python string order), so row ``i`` agrees everywhere."""
    out_ids: np.ndarray | None = None
    index: np.ndarray | None = None
    if outcome.index is not None:
        chosen = [values[i] for i in outcome.index.tolist()]
        order = sorted(range(len(chosen)), key=chosen.__getitem__)
        out_ids = np.empty(len(order), dtype=object)
        out_ids[:] = [chosen[i] for i in order]
        index = outcome.index[np.asarray(order, dtype=np.int64)] if order else outcome.index[:0]
    return IntersectionResult(
        ids=out_ids,
        index=index,
        count=outcome.count,
        method=params.effective_method,
        cardinality_only=params.cardinality_only,
        per_host=dict(outcome.per_host),
    )
