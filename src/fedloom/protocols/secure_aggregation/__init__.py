"""Secure aggregation with pairwise masks: the arbiter learns the sum of the clients' vectors, nothing else.

A simplified Bonawitz et al. (CCS 2017) protocol, without the secret sharing that recovers from
dropouts.

Protocol
--------
Clients ``c_1 < c_2 < ... < c_k`` (guest and hosts, ordered by party id) and a server (arbiter).

*Setup* (once per session, e.g. one FedAvg fit):

1. each client ``i`` draws an X25519 key pair and sends its public key ``pk_i`` directly to every
   other client (:data:`~.messages.SECAGG_PUBLIC_KEY`);
2. each pair derives the seed ``s_ij = HKDF-SHA256(DH(sk_i, pk_j), info = protocol ‖ job and
   namespace ‖ c_min ‖ c_max)`` (:func:`fedloom.crypto.key_agreement.derive_seed`).

*Aggregation* ``(round r, tag t)``, for a real vector ``x_i`` of length ``n``:

3. client ``i`` encodes ``x_i`` in fixed point, ``e_i = round(x_i · 2^f) mod 2^64``
   (:mod:`.encoding`), and sends (:data:`~.messages.SECAGG_MASKED`)::

       y_i = e_i + Σ_{j>i} PRG(s_ij, r, t) − Σ_{j<i} PRG(s_ij, r, t)   (mod 2^64)

   where ``PRG`` is the ChaCha20 keystream of key ``s_ij`` and nonce ``(r, t)`` read as uint64
   (:func:`fedloom.crypto.key_agreement.mask_vector`); each ``(r, t)`` is used once per session,
   so masks are fresh every round;
4. the server sums: ``Σ_i y_i = Σ_i e_i (mod 2^64)`` — each ``PRG(s_ij)`` appears once with ``+``
   (in ``y_min(i,j)``) and once with ``−`` — and decodes ``Σ_i e_i / 2^f``. That is *exactly*
   ``Σ_i round(x_i · 2^f) / 2^f``: within ``k · 2^-(f+1)`` of the real sum. Clients refuse values
   whose sum could overflow the ring, so a wrapped sum is never decoded.

FedAvg sends ``(n_i · w_i, n_i · loss_i, n_i)`` through it, so the arbiter learns ``Σ n_i w_i``,
``Σ n_i loss_i`` and ``Σ n_i`` and divides.

What each party learns
----------------------
- **arbiter**: the sum (and the vector length, the number of clients, who took part). Each
  ``y_i`` alone is uniformly distributed in Z_{2^64}^n whenever ``k ≥ 2``, because it holds a
  mask ``PRG(s_ij)`` keyed by a seed the arbiter does not know; any ``k − 1`` of the ``y_i``
  together are still uniform. With ``k = 1`` the sum *is* the client's vector (a warning is logged).
- **client**: the other clients' public keys and its own pairwise seeds; nothing of their vectors
  (it never sees ``y_j``). The global model the arbiter sends back is the protocol's output.

Threat model
------------
Semi-honest (honest-but-curious) parties: each follows the protocol and may try to learn more
from what it sees. Keys go client-to-client, so an arbiter cannot substitute them, but the
protocol does not authenticate keys beyond the transport (use mutual TLS between parties). A
server colluding with ``k − 2`` clients learns the sum of the remaining two. Malicious clients can
corrupt the sum (no input validation beyond range).

**No dropout recovery**: if any client fails to send its masked vector, the masks do not cancel;
the server waits for every client until one common deadline (the job timeout), then raises
:class:`~fedloom.core.PartyTimeoutError` (or :class:`~fedloom.core.PartyFailedError` when the
client reported a failure) naming every missing client. It never hangs and never decodes a
partial, wrong sum.
"""

from fedloom.protocols.secure_aggregation.client import SecureAggregationClient, default_clients
from fedloom.protocols.secure_aggregation.encoding import (
    DEFAULT_SCALE_BITS,
    decode_fixed,
    encode_fixed,
    max_abs_value,
)
from fedloom.protocols.secure_aggregation.messages import SECAGG_MASKED, SECAGG_PUBLIC_KEY, MaskedInput
from fedloom.protocols.secure_aggregation.server import SecureAggregationServer

__all__ = [
    "DEFAULT_SCALE_BITS",
    "SECAGG_MASKED",
    "SECAGG_PUBLIC_KEY",
    "MaskedInput",
    "SecureAggregationClient",
    "SecureAggregationServer",
    "decode_fixed",
    "default_clients",
    "encode_fixed",
    "max_abs_value",
]
