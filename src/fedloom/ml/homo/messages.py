"""FedAvg messages, in the order they are sent.

Setup::

    CLIENT_HELLO     client -> arbiter   ClientHello: vector length and settings (checked to agree)
    INITIAL_MODEL    guest  -> hosts     float64 (L,): the guest's initial weights, so every client
                                         starts from the same model
    (secure aggregation setup: fedloom.protocols.secure_aggregation.messages)

HomoLR only, before the setup (namespace ``ovr_classes``): the class list, agreed so that the
arbiter learns only which label values some client holds::

    (secure aggregation setup, then one aggregation of tag 0)
    SECAGG_MASKED    client -> arbiter   masked r_c·indicator (MAX_CLASSES,): r_c uniform in [1, 2^10]
      or PLAIN_CLASSES client -> arbiter the 0/1 indicator of the client's labels (secure_aggregate: false)
    CLASS_LIST       arbiter -> clients  the union of the labels, sorted

More than two classes, or labels other than 0 / 1: one-vs-rest, one federation (everything below)
per class ``k`` in namespace ``ovr_class-k``, on the labels ``y == classes[k]``.

Each round ``r`` (namespace ``round-r``)::

    SECAGG_MASKED    client -> arbiter   masked (n_i·w_i, n_i·loss_i, n_i)      [tag 0]
      or PLAIN_UPDATE client -> arbiter  the same vector unmasked (secure_aggregate: false)
    GLOBAL_MODEL     arbiter -> clients  GlobalModel: Σn_i·w_i / Σn_i, the global loss, converged?
    SECAGG_MASKED    client -> arbiter   masked (m_i·val_loss_i, m_i·val_acc_i, m_i)  [tag 1]
      or PLAIN_METRICS
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedloom.context import Channel, NamespacePath
from fedloom.core import ARBITER, GUEST, HOST
from fedloom.core.wire import wire_type

#: Where the setup messages go (both ends build it from here).
SETUP = NamespacePath("fedavg_setup", indexed=False)
#: Where the secure-aggregation keys are agreed.
SECAGG_SETUP = NamespacePath("secagg_setup", indexed=False)
#: Each round ``round-r``; the unmasked vectors of a round's aggregation ``tag`` at ``plain-tag``.
ROUND = NamespacePath("round")
PLAIN = ROUND.then("plain")
#: HomoLR's class agreement, and the one-vs-rest federation of class ``k`` (``ovr_class-k``).
OVR_CLASSES = NamespacePath("ovr_classes", indexed=False)
OVR_CLASS = NamespacePath("ovr_class")
#: Label values HomoLR accepts: integers in ``[0, MAX_CLASSES)`` (the indicator's length).
MAX_CLASSES = 256

CLIENT_HELLO = Channel(
    "fedavg_hello",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="the client's vector length, settings and schema digest",
)
INITIAL_MODEL = Channel("fedavg_initial_model", src=GUEST, dst=HOST, disclosure="the guest's initial weights")
PLAIN_UPDATE = Channel(
    "fedavg_plain_update",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="the client's sample-weighted model, loss and sample count (secure_aggregate: false)",
)
GLOBAL_MODEL = Channel(
    "fedavg_global_model",
    src=ARBITER,
    dst=(GUEST, HOST),
    disclosure="the global model (sample-weighted mean), global loss, convergence",
)
PLAIN_CLASSES = Channel(
    "homo_lr_plain_classes",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="the set of label values the client holds (secure_aggregate: false)",
)
CLASS_LIST = Channel(
    "homo_lr_class_list",
    src=ARBITER,
    dst=(GUEST, HOST),
    disclosure="the union of the clients' label values (not which client holds which, nor counts)",
)
PLAIN_METRICS = Channel(
    "fedavg_plain_metrics",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="the client's validation loss, accuracy and count (secure_aggregate: false)",
)


@wire_type("fedloom.fedavg.ClientHello")
@dataclass
class ClientHello:
    """What a client tells the arbiter before the first round (no data-dependent values).

    Attributes
    ----------
    length
        Number of model values the client aggregates.
    max_iter, local_epochs, secure_aggregate, scale_bits, early_stop
        The client's settings; the arbiter refuses a client whose settings differ from its own.
    schema_digest
        SHA-256 of the client's feature names in order (tabular data), or ``""``; the arbiter
        refuses clients whose digests differ.
    start_round
        The first round this client runs (0, or a warm start's stored round count); the arbiter
        refuses clients that would continue from another round than its own.
    """

    length: int
    max_iter: int
    local_epochs: int
    secure_aggregate: bool
    scale_bits: int
    early_stop: str
    schema_digest: str = ""
    start_round: int = 0


@wire_type("fedloom.fedavg.GlobalModel")
@dataclass
class GlobalModel:
    """The arbiter's aggregate after one round.

    Attributes
    ----------
    round
        Round index.
    weights
        float64 (L,): Σ n_i·w_i / Σ n_i.
    loss
        Σ n_i·loss_i / Σ n_i: the clients' mean training loss of the round, weighted by samples.
    converged
        The early-stop rule fired: this is the last round.
    """

    round: int
    weights: np.ndarray
    loss: float
    converged: bool
