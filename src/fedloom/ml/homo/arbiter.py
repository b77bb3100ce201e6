"""The FedAvg arbiter: aggregates the clients' weighted updates and broadcasts the global model."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fedloom.context import Channel, Context
from fedloom.core.errors import ConfigError, MessageError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.ml.homo import messages as msg
from fedloom.ml.homo.client import TAG_METRICS, TAG_UPDATE
from fedloom.ml.homo.params import FedAvgParams
from fedloom.protocols.secure_aggregation import SecureAggregationServer, default_clients

__all__ = ["FedAvgArbiter", "FedAvgResult", "fedavg_summary"]

log = logging.getLogger(__name__)


@dataclass
class FedAvgResult:
    """What the arbiter saw: only aggregates.

    Attributes
    ----------
    rounds
        Per round: ``round``, ``loss`` (weighted mean training loss), ``samples`` (Σ n_i),
        ``val_loss`` / ``val_accuracy`` / ``val_samples`` (weighted over clients with validation
        data), ``weight_change`` (‖w_t − w_{t−1}‖₂), ``seconds``.
    converged
        Whether the early-stop rule fired.
    weights
        The final global weights (float64).
    clients
        The clients, as ``role:id``.
    """

    rounds: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False
    weights: np.ndarray | None = None
    clients: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """JSON-able summary for a component's metrics."""
        return fedavg_summary(self.rounds, self.converged, self.clients)


def fedavg_summary(
    rounds: Sequence[Mapping[str, float]], converged: bool, clients: Sequence[str] = ()
) -> dict[str, object]:
    """Rounds, convergence and the global loss per round, as a component's metrics.

    ``rounds`` are a client's (:class:`~fedloom.ml.homo.client.FedAvgHistory`, ``global_loss``) or
    the arbiter's (:class:`FedAvgResult`, ``loss``); with ``clients`` (the arbiter's view) the last
    round's sample total and validation accuracy are added.
    """
    losses = [r.get("global_loss", r.get("loss")) for r in rounds]
    out: dict[str, object] = {
        "rounds": len(rounds),
        "converged": converged,
        "loss": losses[-1] if losses else None,
        "loss_history": losses,
    }
    if clients:
        last = rounds[-1] if rounds else {}
        out.update(clients=list(clients), val_accuracy=last.get("val_accuracy"), samples=last.get("samples"))
    return out


class FedAvgArbiter:
    """Aggregates ``Σ n_i·w_i / Σ n_i`` each round, securely unless ``secure_aggregate`` is off.

    Parameters
    ----------
    params
        The federation's settings; every client's must agree.
    """

    def __init__(self, params: FedAvgParams) -> None:
        self.params = params

    def fit(
        self,
        ctx: Context,
        start: int = 0,
        prev: np.ndarray | None = None,
        prev_loss: float | None = None,
    ) -> FedAvgResult:
        """Run every round; returns the aggregates the arbiter saw.

        A warm start: ``start`` is the first round (its stored round count), ``prev`` and
        ``prev_loss`` the stored global weights and last global loss (the early-stop rule's state);
        with ``start >= max_iter`` no round runs and ``weights`` is ``prev``."""
        p = self.params
        clients = default_clients(ctx)
        if not clients:
            raise ProtocolError("FedAvg needs at least one client (guest or host)", party=str(ctx.party))
        setup = msg.SETUP.at(ctx)
        hellos = {c: setup.recv(msg.CLIENT_HELLO, frm=c) for c in clients}
        length = self._check_hellos(hellos)
        starts = {c: h.start_round for c, h in hellos.items() if isinstance(h, msg.ClientHello)}
        if any(v != start for v in starts.values()):
            raise ConfigError(
                "the clients continue from other rounds than the arbiter (round "
                f"{start}): "
                + ", ".join(f"{c}: {v}" for c, v in starts.items())
                + "; a warm start needs every party's model from the same job",
                field="input.model",
            )
        server = SecureAggregationServer(clients, scale_bits=p.scale_bits) if p.secure_aggregate else None
        if server is not None:
            server.setup(msg.SECAGG_SETUP.at(ctx))
        if prev is not None and prev.shape != (length,):
            raise ConfigError(
                f"the stored model has {prev.size} values and the clients' {length}", field="input.model"
            )
        result = FedAvgResult(clients=[str(c) for c in clients])
        for r in range(start, p.max_iter):
            t0 = time.perf_counter()
            rc = msg.ROUND.at(ctx, r)
            total = self._sum(rc, server, clients, r, TAG_UPDATE, msg.PLAIN_UPDATE, length + 2)
            n = total[-1]
            if not n > 0:
                raise ProtocolError(
                    f"round {r}: the clients hold {n:g} samples in total", party=str(ctx.party)
                )
            weights = total[:-2] / n
            loss = float(total[-2] / n)
            change = float(np.linalg.norm(weights - prev)) if prev is not None else None
            converged = self._converged(loss, prev_loss, change)
            rc.send(msg.GLOBAL_MODEL, msg.GlobalModel(r, weights, loss, converged), to=clients)
            val = self._sum(rc, server, clients, r, TAG_METRICS, msg.PLAIN_METRICS, 3)
            row: dict[str, float] = {"round": r, "loss": loss, "samples": float(n)}
            if change is not None:
                row["weight_change"] = change
            if val[2] > 0:
                row.update(val_loss=val[0] / val[2], val_accuracy=val[1] / val[2], val_samples=float(val[2]))
            row["seconds"] = time.perf_counter() - t0
            result.rounds.append(row)
            log.info("fedavg round %d: %s", r, row)
            prev, prev_loss = weights, loss
            result.converged = converged
            self.round_done(r, result, weights, loss)
            if converged:
                break
        result.weights = prev
        return result

    def round_done(self, round_index: int, result: FedAvgResult, weights: np.ndarray, loss: float) -> None:
        """Called after every completed round with its global ``weights`` and ``loss`` (the state a
        warm start needs): a checkpoint hook; ``result`` holds this run's rows so far. Default:
        nothing."""

    def _converged(self, loss: float, prev_loss: float | None, change: float | None) -> bool:
        rule, tol = self.params.early_stop, self.params.tol
        if rule == "abs":
            return loss < tol
        if rule == "diff":
            return prev_loss is not None and abs(prev_loss - loss) < tol
        if rule == "weight_diff":
            return change is not None and change < tol
        return False

    def _check_hellos(self, hellos: dict[PartyId, object]) -> int:
        p = self.params
        mine = (p.max_iter, p.local_epochs, p.secure_aggregate, p.scale_bits, p.early_stop)
        lengths = set()
        digests = {c: h.schema_digest for c, h in hellos.items() if isinstance(h, msg.ClientHello)}
        if len(set(digests.values())) > 1:
            raise ConfigError(
                "the clients' feature columns differ (names or order): "
                + ", ".join(f"{c}: {d[:12]}" for c, d in digests.items())
                + "; horizontal learning needs the same features on every client",
                field="features",
            )
        for client, h in hellos.items():
            if not isinstance(h, msg.ClientHello):
                raise MessageError(f"{client} sent a {type(h).__name__} instead of its hello")
            theirs = (h.max_iter, h.local_epochs, h.secure_aggregate, h.scale_bits, h.early_stop)
            if theirs != mine:
                names = ("max_iter", "local_epochs", "secure_aggregate", "scale_bits", "early_stop")
                diff = [
                    f"{k}={a!r} (arbiter: {b!r})"
                    for k, a, b in zip(names, theirs, mine, strict=True)
                    if a != b
                ]
                raise ConfigError(
                    f"{client} runs FedAvg with other settings: {', '.join(diff)}", field=names[0]
                )
            lengths.add(h.length)
        if len(lengths) != 1:
            sizes = ", ".join(f"{c}: {h.length}" for c, h in hellos.items() if isinstance(h, msg.ClientHello))
            raise ConfigError(
                f"the clients' models differ in size ({sizes}): they must share one architecture"
            )
        return lengths.pop()

    @staticmethod
    def _sum(
        rc: Context,
        server: SecureAggregationServer | None,
        clients: list[PartyId],
        r: int,
        tag: int,
        plain: Channel,
        length: int,
    ) -> np.ndarray:
        if server is not None:
            return server.aggregate(rc, round=r, tag=tag, length=length)
        sub = msg.PLAIN.within(rc, tag)
        total = np.zeros(length)
        for c in clients:
            v = sub.recv(plain, frm=c)
            if not isinstance(v, np.ndarray) or v.shape != (length,):
                raise MessageError(
                    f"{c} sent an update of shape {getattr(v, 'shape', None)}; expected ({length},)"
                )
            total += v
        return total
