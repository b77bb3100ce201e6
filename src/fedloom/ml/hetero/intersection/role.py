"""What the guest's and the host's side of the intersection share: the checks and one PSI run.

See :mod:`fedloom.ml.hetero.intersection` for the flow and what each party learns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from fedloom.context import Context
from fedloom.core import ConfigError
from fedloom.ml.hetero.intersection.params import IntersectParams
from fedloom.ml.hetero.intersection.result import IntersectionResult, check_ids
from fedloom.protocols.psi import (
    DhPsiGuest,
    DhPsiHost,
    EcdhPsiGuest,
    EcdhPsiHost,
    PsiOutcome,
    RsaPsiGuest,
    RsaPsiHost,
)
from fedloom.protocols.psi.preprocess import BloomPrefilter

PsiSide = EcdhPsiGuest | EcdhPsiHost | RsaPsiGuest | RsaPsiHost | DhPsiGuest | DhPsiHost

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
    dh: ClassVar[type[DhPsiGuest | DhPsiHost]]

    def __init__(self, params: IntersectParams | Mapping[str, object] | None = None) -> None:
        self.params = params

    def fit(
        self, ctx: Context, ids: Sequence[str] | np.ndarray, cache: Mapping[str, Any] | None = None
    ) -> IntersectionResult:
        """Intersect ``ids`` (distinct strings) with the other side's ids.

        With ``cache`` (what :meth:`make_cache` returned on this party in an earlier run), the RSA
        protocol runs with the cached key and host signatures, in the cache's settings.

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
        protocol = self._protocol(params)
        if cache is not None:
            cached = self._cached(params, cache, ctx)
            outcome = cached.run_cached(ctx, values, dict(cache))
        elif params.run_preprocess:
            prefilter = _prefilter(params)
            protocol.preprocess = prefilter.describe()
            kept = prefilter.run(ctx, values)
            outcome = protocol.run(ctx, [values[i] for i in kept.tolist()])
            if outcome.index is not None:
                outcome.index = kept[outcome.index]
        else:
            outcome = protocol.run(ctx, values)
        seconds = time.perf_counter() - t0
        result = _result(values, outcome, params)
        if cache is not None:
            result.method = "rsa"
        result.seconds = seconds
        result.bytes_sent = ctx.stats.total_sent - sent0
        result.bytes_received = ctx.stats.total_received - recv0
        log.info("intersection (%s) on %s: %s ids", result.method, ctx.party, result.count)
        return result

    def make_cache(
        self, ctx: Context, ids: Sequence[str] | np.ndarray
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """FATE's ``run_cache``: the RSA exchange that does not depend on the guest's ids, kept.

        Returns ``(cache, metrics)``: the cache (JSON-able; on the host it holds the private
        key, so it stays this party's artifact) and the run's ``seconds`` / bytes. The cache id
        is ``{job_id}/{namespace}``, so a later run checks both sides loaded the same cache.
        """
        params = IntersectParams.coerce(self.params)
        values = check_ids(ids, str(ctx.party))
        protocol = self._protocol(params)
        assert isinstance(protocol, RsaPsiGuest | RsaPsiHost)  # run_cache is RSA only (params)
        protocol.cache = "/".join((ctx.job_id, *ctx.namespace))
        sent0, recv0 = ctx.stats.total_sent, ctx.stats.total_received
        t0 = time.perf_counter()
        cache = protocol.make_cache(ctx, values)
        metrics = {
            "seconds": time.perf_counter() - t0,
            "bytes_sent": ctx.stats.total_sent - sent0,
            "bytes_received": ctx.stats.total_received - recv0,
        }
        return cache, metrics

    def _cached(
        self, params: IntersectParams, cache: Mapping[str, Any], ctx: Context
    ) -> RsaPsiGuest | RsaPsiHost:
        """This side of the RSA protocol in the settings the cache was made with."""
        if params.run_preprocess:
            raise ConfigError(
                "run_preprocess with a cache input is refused: the cached host signatures cover "
                "the host's whole id list",
                party=str(ctx.party),
                field="run_preprocess",
            )
        role = "guest" if self.rsa is RsaPsiGuest else "host"
        if cache.get("method") != "rsa" or cache.get("role") != role or not cache.get("cache"):
            raise ConfigError(
                f"the cache input is not an RSA intersection cache of a {role} "
                f"(method {cache.get('method')!r}, role {cache.get('role')!r})",
                party=str(ctx.party),
                field="cache",
            )
        try:
            return self.rsa(
                hash_method=str(cache["hash_method"]),
                final_hash_method=str(cache["final_hash_method"]),
                salt=str(cache["salt"]),
                key_length=int(cache["key_length"]),
                random_base_fraction=params.rsa_params.random_base_fraction,
                sync=params.sync_intersect_ids,
                cache=str(cache["cache"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"the cache input lacks {exc}", party=str(ctx.party), field="cache") from None

    def _check(self, params: IntersectParams) -> None:
        """Role-specific remarks on the parameters (none by default)."""

    def _protocol(self, params: IntersectParams) -> PsiSide:
        """This side of the PSI protocol that ``params`` select."""
        sync = params.sync_cardinality if params.cardinality_only else params.sync_intersect_ids
        if params.effective_method == "dh":
            d = params.dh_params
            if d.key_length < 2048:
                log.warning(
                    "dh_params.key_length %d: 1024-bit discrete logs are within reach of large "
                    "attackers; fedloom runs DH on the RFC 3526 2048-bit group",
                    d.key_length,
                )
            return self.dh(
                hash_method=d.hash_method,
                salt=d.salt,
                key_length=max(d.key_length, 2048),
                sync=sync,
                cardinality_only=params.cardinality_only,
            )
        if params.effective_method == "ecdh":
            e = params.ecdh_params
            return self.ecdh(
                hash_method=e.hash_method,
                salt=e.salt,
                curve=e.curve,
                sync=sync,
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


def _prefilter(params: IntersectParams) -> BloomPrefilter:
    p = params.intersect_preprocess_params
    return BloomPrefilter(
        false_positive_rate=p.false_positive_rate,
        preprocess_method=p.preprocess_method,
        hash_method=p.hash_method,
        preprocess_salt=p.preprocess_salt,
        random_state=p.random_state,
        filter_owner=p.filter_owner,
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
