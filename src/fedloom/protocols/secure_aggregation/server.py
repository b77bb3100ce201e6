"""The server (arbiter) side of pairwise-mask secure aggregation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.protocols.secure_aggregation.client import default_clients
from fedloom.protocols.secure_aggregation.encoding import DEFAULT_SCALE_BITS, decode_fixed
from fedloom.protocols.secure_aggregation.messages import SECAGG_MASKED, MaskedInput

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
        inputs = self._receive_all(ctx.sub("secagg", tag), round)
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
        """Every client's message, waited for in parallel so that all absent clients are named."""
        assert self.clients is not None
        got: dict[PartyId, Any] = {}
        errors: dict[PartyId, BaseException] = {}

        def recv(client: PartyId) -> None:
            try:
                got[client] = ctx.recv(SECAGG_MASKED, frm=client)
            except BaseException as exc:  # collected and reported below
                errors[client] = exc

        threads = [threading.Thread(target=recv, args=(c,), daemon=True) for c in self.clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            failed = {c: e for c, e in errors.items() if isinstance(e, PartyFailedError)}
            timed_out = {c: e for c, e in errors.items() if isinstance(e, PartyTimeoutError)}
            names = ", ".join(str(c) for c in sorted(errors))
            what = (
                f"secure aggregation of round {round} aborted: no masked input from {names} "
                f"({len(errors)} of {len(self.clients)} clients dropped out); without every client "
                "the pairwise masks do not cancel, and this protocol has no dropout recovery"
            )
            if failed:
                first = min(failed)
                raise PartyFailedError(f"{what}; {first}: {failed[first]}", party=str(ctx.party)) from failed[
                    first
                ]
            if timed_out:
                first = min(timed_out)
                err = timed_out[first]
                assert isinstance(err, PartyTimeoutError)
                raise PartyTimeoutError(err.address, err.timeout, party=str(ctx.party), detail=what) from err
            raise next(iter(errors.values()))
        return {c: got[c] for c in self.clients}

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
