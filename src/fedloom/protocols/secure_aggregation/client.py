"""The client side of pairwise-mask secure aggregation (see :mod:`fedloom.protocols.secure_aggregation`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError, ProtocolError
from fedloom.core.roles import GUEST, HOST, PartyId
from fedloom.crypto.key_agreement import (
    PUBLIC_KEY_BYTES,
    derive_seed,
    generate_keypair,
    mask_vector,
    stream_id,
)
from fedloom.protocols.secure_aggregation.encoding import DEFAULT_SCALE_BITS, encode_fixed
from fedloom.protocols.secure_aggregation.messages import (
    AGGREGATION,
    SECAGG_MASKED,
    SECAGG_PUBLIC_KEY,
    MaskedInput,
)

__all__ = ["SecureAggregationClient", "default_clients", "seed_info"]

log = logging.getLogger(__name__)

#: Protocol name and version, bound into every pairwise seed.
PROTOCOL = b"fedloom-secagg-v1"


def default_clients(ctx: Context) -> list[PartyId]:
    """The clients of a horizontal job: the guest and every host, in party order."""
    return sorted([*ctx.parties(GUEST), *ctx.parties(HOST)])


def seed_info(ctx: Context, a: PartyId, b: PartyId) -> bytes:
    """HKDF ``info`` of the pair ``{a, b}``: protocol, job, namespace and both parties in order."""
    lo, hi = sorted((a, b))
    scope = "/".join((ctx.job_id, *ctx.namespace))
    return b"|".join((PROTOCOL, scope.encode(), str(lo).encode(), str(hi).encode()))


class SecureAggregationClient:
    """One client: agrees on a seed with every other client, then sends masked vectors.

    Parameters
    ----------
    clients
        Every client of the aggregation (this party included); default: guest and hosts.
    scale_bits
        Fixed-point scale ``f``: values are sent as ``round(x · 2^f)``; all parties must agree.

    Examples
    --------
    >>> agg = SecureAggregationClient()                          # doctest: +SKIP
    >>> agg.setup(ctx.sub("secagg_setup"))                       # doctest: +SKIP
    >>> agg.aggregate(ctx.sub("round", 0), values, round=0)      # doctest: +SKIP
    """

    def __init__(
        self, clients: Sequence[PartyId] | None = None, *, scale_bits: int = DEFAULT_SCALE_BITS
    ) -> None:
        self.clients = None if clients is None else sorted(clients)
        self.scale_bits = scale_bits
        self._seeds: dict[PartyId, bytes] = {}
        self._me: PartyId | None = None
        self._used: set[tuple[int, int]] = set()

    def setup(self, ctx: Context) -> None:
        """Exchange public keys with every other client and derive the pairwise seeds.

        Raises
        ------
        PartyTimeoutError, PartyFailedError
            A client did not send its key (the address names it).
        MessageError
            A key is not 32 bytes.
        """
        clients = self.clients if self.clients is not None else default_clients(ctx)
        if ctx.party not in clients:
            raise ProtocolError(
                f"{ctx.party} is not among the secure-aggregation clients {[str(c) for c in clients]}",
                party=str(ctx.party),
            )
        self.clients = clients
        others = [c for c in clients if c != ctx.party]
        keypair = generate_keypair()
        if others:
            ctx.send(SECAGG_PUBLIC_KEY, keypair.public, to=others)
        for peer in others:
            pk = ctx.recv(SECAGG_PUBLIC_KEY, frm=peer)
            if not isinstance(pk, bytes) or len(pk) != PUBLIC_KEY_BYTES:
                raise MessageError(
                    f"{peer} sent a public key that is not {PUBLIC_KEY_BYTES} bytes", party=str(ctx.party)
                )
            self._seeds[peer] = derive_seed(keypair, pk, seed_info(ctx, ctx.party, peer))
        self._me = ctx.party
        log.debug("%s: secure aggregation set up with %d peer(s)", ctx.party, len(others))

    def mask(self, values: np.ndarray, *, round: int, tag: int = 0) -> MaskedInput:
        """This client's masked encoding of ``values`` for ``(round, tag)`` (each pair used once).

        Raises
        ------
        ProtocolError
            Not set up, or ``(round, tag)`` was used before (reusing masks would reveal the
            difference of two inputs).
        CryptoError
            A value is too large for the fixed-point ring with this many clients.
        """
        if self._me is None or self.clients is None:
            raise ProtocolError("secure aggregation client used before setup()")
        if (round, tag) in self._used:
            raise ProtocolError(f"masks of round {round}, tag {tag} were used already; never reuse a round")
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        k = len(self.clients)
        data = encode_fixed(flat, self.scale_bits, k)
        stream = stream_id(round, tag)
        scratch = np.empty(len(data), dtype=np.uint64)
        me = self.clients.index(self._me)
        for j, peer in enumerate(self.clients):
            if peer == self._me:
                continue
            mask_vector(self._seeds[peer], len(data), stream, out=scratch)
            if j > me:
                data += scratch  # wraps mod 2^64
            else:
                data -= scratch
        self._used.add((round, tag))
        return MaskedInput(round=round, tag=tag, scale_bits=self.scale_bits, n_clients=k, data=data)

    def aggregate(self, ctx: Context, values: np.ndarray, *, round: int, tag: int = 0) -> None:
        """Send the masked ``values`` to the arbiter, who learns only the sum over all clients."""
        AGGREGATION.at(ctx, tag).send(SECAGG_MASKED, self.mask(values, round=round, tag=tag))
