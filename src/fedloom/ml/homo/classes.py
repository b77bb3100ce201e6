"""HomoLR's class list, agreed across the clients before training (one-vs-rest needs every client
to train the same per-class models, also for a class it does not hold).

Each client builds the indicator of the label values it holds (integers in
``[0, MAX_CLASSES)``), multiplies it by a private random integer ``r_c`` uniform in
``[1, 2^10]``, and the arbiter sums ``Σ_c r_c·indicator_c`` by secure aggregation, so it sees
only the sum: a label value is in the union iff its sum is positive. The arbiter sends the union
back (``CLASS_LIST``). What the arbiter learns beyond the union: per value, a sum of the holders'
random weights (a sum above ``2^10`` shows that two or more clients hold it; never which ones).
With ``secure_aggregate: false`` each client's label set goes to the arbiter in clear
(``PLAIN_CLASSES``). Clients learn the union.

Messages: :mod:`fedloom.ml.homo.messages` (``OVR_CLASSES`` namespace).
"""

from __future__ import annotations

import secrets

import numpy as np

from fedloom.context import Context
from fedloom.core.errors import DataError, MessageError, ProtocolError
from fedloom.data import Frame
from fedloom.ml.homo import messages as msg
from fedloom.ml.homo.params import FedAvgParams
from fedloom.protocols.secure_aggregation import (
    SecureAggregationClient,
    SecureAggregationServer,
    default_clients,
)

__all__ = ["arbiter_classes", "client_classes", "is_one_vs_rest", "label_values"]

#: Upper bound of a client's random weight ``r_c``.
_WEIGHT_BOUND = 1 << 10


def is_one_vs_rest(classes: list[int]) -> bool:
    """Whether HomoLR trains one model per class: labels other than 0 / 1 anywhere."""
    return not set(classes) <= {0, 1}


def label_values(frame: Frame) -> np.ndarray:
    """The labels of ``frame`` as int64, checked to be integers in ``[0, MAX_CLASSES)``.

    Raises
    ------
    DataError
        No label, or a label that is not such an integer (named, with the table).
    """
    where = frame.table or "the data"
    if frame.label is None:
        raise DataError(
            f"HomoLR trains on labelled rows on every client; {where} has no label "
            "(set with_label: true in DataTransform)",
            field="label",
        )
    try:
        y = np.asarray(frame.label, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"HomoLR needs numeric class labels (integers 0..{msg.MAX_CLASSES - 1}); {where} holds "
            f"{sorted({str(v) for v in frame.label})[:5]}",
            field=frame.label_name or "label",
        ) from None
    bad = ~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y >= msg.MAX_CLASSES)
    if bad.any():
        values = sorted(set(np.unique(y[bad]).tolist()))[:5]
        raise DataError(
            f"HomoLR's class labels must be integers 0..{msg.MAX_CLASSES - 1}; {where} holds {values}",
            field=frame.label_name or "label",
        )
    return y.astype(np.int64)


def client_classes(ctx: Context, frame: Frame, params: FedAvgParams) -> list[int]:
    """The union of every client's label values (sorted), agreed with the arbiter.

    Raises
    ------
    DataError
        The labels are not integers in ``[0, MAX_CLASSES)`` (before anything is sent).
    """
    y = label_values(frame)
    indicator = np.zeros(msg.MAX_CLASSES)
    indicator[np.unique(y)] = 1.0
    cc = msg.OVR_CLASSES.at(ctx)
    if params.secure_aggregate:
        agg = SecureAggregationClient(scale_bits=params.scale_bits)
        agg.setup(msg.SECAGG_SETUP.at(cc))
        agg.aggregate(cc, indicator * (1 + secrets.randbelow(_WEIGHT_BOUND)), round=0, tag=0)
    else:
        cc.send(msg.PLAIN_CLASSES, indicator)
    classes = cc.recv(msg.CLASS_LIST)
    if not (isinstance(classes, list) and classes and all(isinstance(c, int) for c in classes)):
        raise MessageError(f"the arbiter sent a class list of {type(classes).__name__}; expected ints")
    missing = set(np.unique(y).tolist()) - set(classes)
    if missing:
        raise MessageError(f"the arbiter's class list {classes} lacks this client's labels {sorted(missing)}")
    return [int(c) for c in classes]


def arbiter_classes(ctx: Context, params: FedAvgParams) -> list[int]:
    """Sum the clients' indicators (securely unless ``secure_aggregate`` is off), send the union
    back and return it."""
    clients = default_clients(ctx)
    if not clients:
        raise ProtocolError("HomoLR needs at least one client (guest or host)", party=str(ctx.party))
    cc = msg.OVR_CLASSES.at(ctx)
    if params.secure_aggregate:
        server = SecureAggregationServer(clients, scale_bits=params.scale_bits)
        server.setup(msg.SECAGG_SETUP.at(cc))
        total = server.aggregate(cc, round=0, tag=0, length=msg.MAX_CLASSES)
    else:
        total = np.zeros(msg.MAX_CLASSES)
        for c in clients:
            v = cc.recv(msg.PLAIN_CLASSES, frm=c)
            if not isinstance(v, np.ndarray) or v.shape != (msg.MAX_CLASSES,):
                raise MessageError(f"{c} sent a class indicator of shape {getattr(v, 'shape', None)}")
            total += v
    classes = [int(i) for i in np.flatnonzero(total > 0.5)]
    if not classes:
        raise ProtocolError("the clients hold no labels", party=str(ctx.party))
    cc.send(msg.CLASS_LIST, classes, to=clients)
    return classes
