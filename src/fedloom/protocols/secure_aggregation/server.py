"""The server (arbiter) side of pairwise-mask secure aggregation."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.protocols.secure_aggregation.client import default_clients
from fedloom.protocols.secure_aggregation.encoding import DEFAULT_SCALE_BITS, decode_fixed
from fedloom.protocols.secure_aggregation.messages import AGGREGATION, SECAGG_MASKED, MaskedInput

__all__ = ["SecureAggregationServer"]

log = logging.getLogger(__name__)


class SecureAggregationServer:
    """The arbiter: sums the clients' masked vectors mod 2^64 and decodes the sum.

    Parameters
    ----------
    clients
        Every client of the aggregation; default: guest and hosts.
    scale_bits
        Fixed-point scale; must equal the clients'.
    """

    def __init__(
        self, clients: Sequence[PartyId] | None = None, *, scale_bits: int = DEFAULT_SCALE_BITS
    ) -> None:
        self.clients = None if clients is None else sorted(clients)
        self.scale_bits = scale_bits

    def setup(self, ctx: Context) -> None:
        """Fix the client list (the clients agree on their seeds among themselves)."""
        if self.clients is None:
            self.clients = default_clients(ctx)
        if not self.clients:
            raise ProtocolError("secure aggregation needs at least one client", party=str(ctx.party))
        if len(self.clients) == 1:
            log.warning("secure aggregation with one client: the 'sum' is that client's own vector")

    def aggregate_raw(
        self, ctx: Context, *, round: int, tag: int = 0, length: int | None = None
    ) -> np.ndarray:
        """The exact sum ``Σ round(x_i · 2^f)`` in Z_{2^64}, as ``uint64`` (read it as int64).

        Raises
        ------
        PartyTimeoutError
            Some clients sent nothing within the timeout; the message names every one of them.
            No partial sum is ever returned: without a client the masks do not cancel.
        PartyFailedError
            A client reported a failure.
        MessageError
            A client's message has the wrong round, tag, scale, client count, type or length.
        """
        if self.clients is None:
            self.setup(ctx)
        assert self.clients is not None
        inputs = self._receive_all(AGGREGATION.at(ctx, tag), round)
        total: np.ndarray | None = None
        for client, msg in inputs.items():
            data = self._check(client, msg, round, tag, length if total is None else len(total))
            if total is None:
                total = data.copy()
            else:
                total += data  # wraps mod 2^64: the pairwise masks cancel
        assert total is not None
        return total

    def aggregate(self, ctx: Context, *, round: int, tag: int = 0, length: int | None = None) -> np.ndarray:
        """``Σ_i x_i`` over every client, decoded to float64 (see :meth:`aggregate_raw`)."""
        return decode_fixed(self.aggregate_raw(ctx, round=round, tag=tag, length=length), self.scale_bits)

    def _receive_all(self, ctx: Context, round: int) -> dict[PartyId, Any]:
        """Every client's message, within one timeout for all, naming every client that sent none.

        Clients are read in order, each until one common deadline (once it has passed, a message
        that has arrived is still read), so a dropout is reported after ``ctx.timeout`` at most
        and names every absent client.
        """
        assert self.clients is not None
        deadline = time.monotonic() + ctx.timeout
        got: dict[PartyId, Any] = {}
        errors: dict[PartyId, PartyTimeoutError | PartyFailedError] = {}
        for client in self.clients:
            left = ctx.derive(timeout=max(0.0, deadline - time.monotonic()))
            try:
                got[client] = left.recv(SECAGG_MASKED, frm=client)
            except (PartyTimeoutError, PartyFailedError) as exc:
                errors[client] = exc
        if errors:
            raise self._dropped(ctx, round, errors)
        return got

    def _dropped(
        self, ctx: Context, round: int, errors: dict[PartyId, PartyTimeoutError | PartyFailedError]
    ) -> ProtocolError:
        """The error naming every client that sent nothing: a failure reported first, else a timeout."""
        assert self.clients is not None
        names = ", ".join(str(c) for c in sorted(errors))
        what = (
            f"secure aggregation of round {round} aborted: no masked input from {names} "
            f"({len(errors)} of {len(self.clients)} clients dropped out); without every client "
            "the pairwise masks do not cancel, and this protocol has no dropout recovery"
        )
        failed = sorted(c for c, e in errors.items() if isinstance(e, PartyFailedError))
        if failed:
            error: ProtocolError = PartyFailedError(
                f"{what}; {failed[0]}: {errors[failed[0]]}", party=str(ctx.party)
            )
            cause = errors[failed[0]]
        else:
            cause = errors[min(errors)]
            assert isinstance(cause, PartyTimeoutError)
            error = PartyTimeoutError(cause.address, ctx.timeout, party=str(ctx.party), detail=what)
        error.__cause__ = cause
        return error

    def _check(self, client: PartyId, msg: Any, round: int, tag: int, length: int | None) -> np.ndarray:
        assert self.clients is not None

        def bad(why: str) -> MessageError:
            return MessageError(f"secure aggregation: {client} sent {why}", field="secagg_masked_input")

        if not isinstance(msg, MaskedInput):
            raise bad(f"a {type(msg).__name__}, not a MaskedInput")
        if msg.round != round or msg.tag != tag:
            raise bad(f"round {msg.round} tag {msg.tag} where round {round} tag {tag} was expected")
        if msg.scale_bits != self.scale_bits:
            raise bad(f"scale 2^{msg.scale_bits}; this aggregation uses 2^{self.scale_bits}")
        if msg.n_clients != len(self.clients):
            raise bad(f"a vector masked for {msg.n_clients} clients; there are {len(self.clients)}")
        data = msg.data
        if not isinstance(data, np.ndarray) or data.dtype != np.uint64 or data.ndim != 1:
            raise bad("data that is not a 1-d uint64 array")
        if length is not None and len(data) != length:
            raise bad(f"{len(data)} values where {length} were expected")
        return data
