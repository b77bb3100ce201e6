"""The FedAvg client loop, shared by Homo NN (torch) and Homo LR (numpy).

A subclass says how to read and write its model as one flat float64 vector and how to train
locally; :meth:`FedAvgClient.federate` runs the rounds::

    hello -> arbiter; guest's initial weights -> hosts; secure-aggregation setup
    for each round: local epochs -> send (n·w, n·loss, n) securely -> load the global weights
                    -> validate -> send (m·val_loss, m·val_acc, m) securely -> stop if converged
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from fedloom.context import Channel, Context
from fedloom.core.errors import ConfigError, MessageError
from fedloom.core.roles import GUEST, HOST
from fedloom.ml.homo import messages as msg
from fedloom.ml.homo.params import FedAvgParams
from fedloom.protocols.secure_aggregation import SecureAggregationClient

__all__ = ["FedAvgClient", "FedAvgHistory", "feature_digest", "finite_loss"]

log = logging.getLogger(__name__)

#: Secure-aggregation tags within a round.
TAG_UPDATE, TAG_METRICS = 0, 1


def feature_digest(names: tuple[str, ...] | list[str]) -> str:
    """SHA-256 (hex) of the feature names in order; equal on clients with the same columns."""
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()


def finite_loss(loss: float, round_index: int, advice: str, field: str) -> float:
    """``loss``, or a ConfigError saying that local training diverged and what to lower.

    Raises
    ------
    ConfigError
        ``loss`` is NaN or infinite; names ``field`` (the learning rate the advice is about).
    """
    if not math.isfinite(loss):
        raise ConfigError(
            f"local training diverged in round {round_index} (loss {loss}); {advice}", field=field
        )
    return loss


@dataclass
class FedAvgHistory:
    """What one client saw: one row per round.

    Attributes
    ----------
    rounds
        Per round: ``round``, ``local_loss`` (this client's mean training loss), ``global_loss``
        (the arbiter's weighted mean over clients), ``val_loss`` / ``val_accuracy`` (this client's
        validation data under the global model, when it has some), ``seconds``.
    converged
        Whether the early-stop rule ended training before ``max_iter``.
    """

    rounds: list[dict[str, float]] = field(default_factory=list)
    converged: bool = False

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)


class FedAvgClient(ABC):
    """A FedAvg client: a model read and written as a flat vector, trained locally each round."""

    params: FedAvgParams
    #: SHA-256 of the feature names (tabular clients), checked equal across clients by the arbiter.
    schema_digest: str = ""

    @abstractmethod
    def get_weights(self) -> np.ndarray:
        """The model as one float64 vector."""

    @abstractmethod
    def set_weights(self, weights: np.ndarray) -> None:
        """Load the model from one float64 vector."""

    @abstractmethod
    def local_train(self, round_index: int) -> tuple[float, int]:
        """Train ``params.local_epochs`` epochs; return the last epoch's mean training loss and the
        number of training samples."""

    def validate(self) -> tuple[float, float, int] | None:
        """Validation loss, accuracy and row count under the current model, or ``None``."""
        return None

    def round_done(self, round_index: int, history: FedAvgHistory, converged: bool) -> None:
        """Called after every completed round (the model is the global one): a checkpoint hook;
        ``history`` holds this run's rows so far. Default: nothing."""
        return None

    def federate(self, ctx: Context, start: int = 0) -> FedAvgHistory:
        """Run every round with the arbiter and the other clients; the model ends as the global one.

        ``start``: the first round (a warm start continues from its stored round count; rounds
        ``start .. max_iter - 1`` run, none when ``start >= max_iter``)."""
        p = self.params
        setup = msg.SETUP.at(ctx)
        weights = self.get_weights()
        setup.send(
            msg.CLIENT_HELLO,
            msg.ClientHello(
                len(weights),
                p.max_iter,
                p.local_epochs,
                p.secure_aggregate,
                p.scale_bits,
                p.early_stop,
                self.schema_digest,
                start,
            ),
        )
        if ctx.role == GUEST and ctx.parties(HOST):
            setup.send(msg.INITIAL_MODEL, weights)
        elif ctx.role == HOST:
            initial = setup.recv(msg.INITIAL_MODEL)
            if isinstance(initial, np.ndarray) and initial.shape != weights.shape:
                raise ConfigError(
                    f"the guest's model has {initial.size} values and this client's {len(weights)}: the "
                    "clients' models differ in size; they must share one architecture",
                    party=str(ctx.party),
                )
            self.set_weights(self._checked(initial, len(weights), "initial model"))
        agg = SecureAggregationClient(scale_bits=p.scale_bits) if p.secure_aggregate else None
        if agg is not None:
            agg.setup(msg.SECAGG_SETUP.at(ctx))
        history = FedAvgHistory()
        for r in range(start, p.max_iter):
            t0 = time.perf_counter()
            rc = msg.ROUND.at(ctx, r)
            loss, n = self.local_train(r)
            update = np.concatenate([self.get_weights() * n, [loss * n, float(n)]])
            self._send(rc, agg, update, r, TAG_UPDATE, msg.PLAIN_UPDATE)
            glob = _patient(rc).recv(msg.GLOBAL_MODEL)
            if not isinstance(glob, msg.GlobalModel) or glob.round != r:
                raise MessageError(f"round {r}: the arbiter sent {type(glob).__name__} of another round")
            self.set_weights(self._checked(glob.weights, len(weights), "global model"))
            row: dict[str, float] = {"round": r, "local_loss": loss, "global_loss": float(glob.loss)}
            val = self.validate()
            if val is not None:
                row["val_loss"], row["val_accuracy"] = val[0], val[1]
            m = 0 if val is None else val[2]
            metrics = np.array([val[0] * m, val[1] * m, float(m)] if val is not None else [0.0, 0.0, 0.0])
            self._send(rc, agg, metrics, r, TAG_METRICS, msg.PLAIN_METRICS)
            row["seconds"] = time.perf_counter() - t0
            history.rounds.append(row)
            log.info("%s: round %d %s", ctx.party, r, row)
            self.round_done(r, history, bool(glob.converged))
            if glob.converged:
                history.converged = True
                break
        return history

    @staticmethod
    def _send(
        rc: Context, agg: SecureAggregationClient | None, vec: np.ndarray, r: int, tag: int, plain: Channel
    ) -> None:
        if agg is not None:
            agg.aggregate(rc, vec, round=r, tag=tag)
        else:
            msg.PLAIN.within(rc, tag).send(plain, np.asarray(vec, dtype=np.float64))

    @staticmethod
    def _checked(value: object, length: int, what: str) -> np.ndarray:
        if not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.shape != (length,):
            shape = getattr(value, "shape", type(value).__name__)
            raise MessageError(f"the {what} must be a float64 vector of {length} values. Got {shape}.")
        if not np.isfinite(value).all():
            raise MessageError(f"the {what} holds non-finite values")
        return value


def _patient(ctx: Context) -> Context:
    """``ctx`` with a longer receive timeout: waiting for the global model includes the slowest
    client's training, and when a client drops out the arbiter (waiting the normal timeout) must
    be the one that reports it, naming the client, before the others give up on the arbiter."""
    return ctx.derive(timeout=2 * ctx.timeout + 5)
