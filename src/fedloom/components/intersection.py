"""``Intersection``: private set intersection of the parties' ids, then the data aligned to it.

Binds FATE's ``Intersection`` module to :mod:`fedloom.ml.hetero.intersection` (ECDH, RSA or DH
PSI).
The parameters are the algorithm's own :class:`~fedloom.ml.hetero.intersection.IntersectParams`:
FATE's names and nesting (``intersect_method``, ``sync_intersect_ids``, ``only_output_key``,
``cardinality_only``, ``rsa_params{...}``, ``ecdh_params{...}``...), checked before the job runs.

Outputs, per party:

- every party that learns the intersection outputs its own rows of it, **in the order all
  parties agree on** (ids sorted), so row ``i`` is the same id everywhere; only the id column
  with ``only_output_key``;
- a host that does not learn it (``sync_intersect_ids: false``) outputs no data and says so in
  its metrics; a component that reads that output on the host then fails naming the reason;
- ``cardinality_only`` outputs no data anywhere, only the count, as metrics;
- ``run_cache`` (RSA): no intersection; each party outputs a ``cache`` (the host: its key and a
  digest of its id list; the guest: the host's public key and signed ids). An ``Intersection``
  with a ``cache`` input (FATE's ``"cache": ["intersect_0.cache"]``, or a ``CacheLoader``'s
  output for a cache of an earlier job) runs RSA PSI with it, without new keys or host signatures.

Metrics: ``intersect_count`` (``None`` where the party does not learn it), ``input_rows``,
``intersect_rate`` (count / this party's rows), ``method``, ``seconds``, bytes sent and received,
and on the guest ``per_host`` counts. Runs on guest and hosts.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fedloom.components.base import Component, Inputs, Outputs, data_ids, data_select
from fedloom.context import Context
from fedloom.core.errors import ConfigError
from fedloom.core.roles import GUEST, HOST
from fedloom.dsl import ModuleSpec, register_module
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost, IntersectParams

__all__ = ["IntersectionGuestComponent", "IntersectionHostComponent", "IntersectionParams"]

log = logging.getLogger(__name__)

#: The component's parameter model is the algorithm's.
IntersectionParams = IntersectParams


class _Intersection(Component):
    """Shared part of the guest and host bindings."""

    module = "Intersection"
    params: IntersectParams
    algorithm: ClassVar[type[IntersectionGuest] | type[IntersectionHost]] = IntersectionGuest

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        data = inputs.one("data")
        ids = data_ids(data)
        params = self.params
        if params.run_cache:
            self.env.progress(0.0, f"RSA cache of {len(ids)} ids")
            cache, run = self.algorithm(params).make_cache(ctx, ids)
            self.env.progress(1.0, "cached")
            return Outputs(cache=cache, metrics={"run_cache": True, "input_rows": len(ids), **run})
        if len(inputs.caches) > 1:
            raise ConfigError(
                f"an Intersection takes one cache input, got {len(inputs.caches)}", field="input.cache"
            )
        loaded = inputs.caches[0] if inputs.caches else None
        self.env.progress(0.0, f"{'cached rsa' if loaded else params.effective_method} PSI on {len(ids)} ids")
        result = self.algorithm(params).fit(ctx, ids, cache=loaded)
        self.env.progress(1.0, "intersected")
        count = result.count
        metrics: dict[str, object] = {
            "intersect_count": count,
            "input_rows": len(ids),
            "intersect_rate": round(count / len(ids), 6) if count is not None and len(ids) else None,
            "method": result.method,
            "cardinality_only": result.cardinality_only,
            "seconds": round(result.seconds, 3),
            "bytes_sent": result.bytes_sent,
            "bytes_received": result.bytes_received,
        }
        if result.per_host:
            metrics["per_host"] = dict(result.per_host)
        if result.cardinality_only:
            return Outputs(metrics=metrics)
        if result.ids is None:
            metrics["note"] = "the intersection is not sent to this party (sync_intersect_ids is false)"
            return Outputs(metrics=metrics)
        aligned = data_select(data, result.ids, keys_only=params.only_output_key)
        return Outputs(data=[aligned], metrics=metrics)


class IntersectionGuestComponent(_Intersection):
    """Guest: runs :class:`~fedloom.ml.hetero.intersection.IntersectionGuest`."""

    algorithm = IntersectionGuest


class IntersectionHostComponent(_Intersection):
    """Host: runs :class:`~fedloom.ml.hetero.intersection.IntersectionHost`."""

    algorithm = IntersectionHost


SPEC = register_module(
    ModuleSpec(
        "Intersection",
        roles={GUEST, HOST},
        params_model=IntersectParams,
        inputs={"data", "cache"},
        outputs={"data", "cache"},
        requires_data=True,
        entry={GUEST: IntersectionGuestComponent, HOST: IntersectionHostComponent},
        description="Private set intersection (ECDH, RSA or DH); outputs each party's aligned rows.",
    )
)
