"""What the guest and the host of Hetero SecureBoost share: their constructor and the work record
their models carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fedloom.compute import Executor
from fedloom.context import Context
from fedloom.ml.hetero.binning.local import Clock
from fedloom.ml.hetero.binning.model import Work
from fedloom.ml.hetero.secureboost.params import HeteroSecureBoostParams

__all__ = ["SecureBoostRole", "work_record"]


class SecureBoostRole:
    """A party of Hetero SecureBoost: its parameters and where its heavy loops run.

    Parameters
    ----------
    params
        :class:`~.params.HeteroSecureBoostParams` or a FATE-style dict.
    executor
        Where the party's heavy loops run (default: :func:`fedloom.compute.default_executor`).
    """

    def __init__(
        self,
        params: HeteroSecureBoostParams | Mapping[str, object] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.params = params
        self.executor = executor


def work_record(work: Work, clock: Clock, ctx: Context, sent0: int, recv0: int) -> dict[str, Any]:
    """The work counters of a fit with its seconds per phase and the bytes it sent and received.

    Parameters
    ----------
    work : Work
        The fit's counters.
    clock : Clock
        The fit's seconds per phase.
    ctx : Context
        The fit's context; its traffic statistics give the bytes.
    sent0, recv0 : int
        The context's bytes sent and received when the fit began.

    Returns
    -------
    dict
        ``work.to_dict()`` with ``seconds`` and ``bytes`` (``{"sent", "received"}``) added.
    """
    record: dict[str, Any] = dict(work.to_dict())
    record["seconds"] = dict(clock.seconds)
    record["bytes"] = {"sent": ctx.stats.total_sent - sent0, "received": ctx.stats.total_received - recv0}
    return record
