"""Secure aggregation messages, in the order they are sent.

Setup (once per session)::

    SECAGG_PUBLIC_KEY   client -> every other client   32-byte X25519 public key

Each aggregation (once per ``(round, tag)``, in :data:`AGGREGATION` under the round's context)::

    SECAGG_MASKED       client -> arbiter              MaskedInput: (n,) uint64 in Z_{2^64}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedloom.context import Channel, NamespacePath
from fedloom.core import ARBITER, GUEST, HOST
from fedloom.core.wire import wire_type

#: bytes (32): this client's X25519 public key, sent directly to every other client (not relayed by
#: the arbiter, so the arbiter cannot substitute keys).
SECAGG_PUBLIC_KEY = Channel(
    "secagg_public_key", src=(GUEST, HOST), dst=(GUEST, HOST), disclosure="the peer's X25519 public key"
)
#: The namespace of one aggregation below the caller's (round) context: ``.../secagg-{tag}``.
AGGREGATION = NamespacePath("secagg")

#: MaskedInput: encode(x_i) + Σ_{j>i} PRG(s_ij) − Σ_{j<i} PRG(s_ij) mod 2^64.
SECAGG_MASKED = Channel(
    "secagg_masked_input",
    src=(GUEST, HOST),
    dst=ARBITER,
    disclosure="a masked vector, uniform in Z_2^64: with every client's, the sum only",
)


@wire_type("fedloom.secagg.MaskedInput")
@dataclass
class MaskedInput:
    """One client's masked, fixed-point encoded vector for one aggregation.

    Attributes
    ----------
    round
        The round index (part of the mask's stream id).
    tag
        Which aggregation of the round (part of the mask's stream id).
    scale_bits
        Fixed-point scale: ``x`` is encoded as ``round(x · 2^scale_bits) mod 2^64``.
    n_clients
        How many clients the sender masked against (itself included).
    data
        ``(n,)`` uint64: the masked vector.
    """

    round: int
    tag: int
    scale_bits: int
    n_clients: int
    data: np.ndarray
