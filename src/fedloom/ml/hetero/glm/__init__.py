r"""The shared skeleton of hetero LR, LinR and Poisson regression (guest, hosts, arbiter).

Usable without any server::

    model = HeteroLRGuest(params).fit(ctx, train)          # guest: label + its features
    model = HeteroLRHost(params).fit(ctx, train)           # each host: its features
    model = HeteroLRArbiter(params).fit(ctx)               # arbiter: key owner

Rows of the guest's and hosts' frames must already be aligned (the intersection's output); each
party hashes its id list and the parties compare hashes before anything else.

Protocol (messages in :mod:`.messages`, in send order)
-----------------------------------------------------
Setup: the arbiter generates the key pair (Paillier, ``encrypt_param.key_length``, or the insecure
``plain`` cipher) and sends the public key. The guest sends its id digest, the batch plan and the
number of models (one, or one per class with one-vs-rest) to hosts and arbiter; hosts answer with
their digests. Poisson: the guest sends ``[y]`` to the host once.

Per batch of :math:`n_b` rows, with :math:`u_h` what host :math:`h` contributes per row
(LR: :math:`\tfrac14 w_h^Tx_h`; LinR: :math:`w_h^Tx_h`; Poisson: :math:`\exp(w_h^Tx_h)`):

1. arbiter → each party: :math:`n_b` fresh encryptions of zero :math:`[0]` (``obfuscators:
   arbiter``; with ``local`` each party draws its own obfuscators in a background thread),
   hosts first (their forwards are needed before :math:`[d]`). With Paillier the guest draws
   its own fresh obfuscators in a background thread while it waits for its zeros; when the
   arbiter is short it sends the guest fewer than :math:`n_b` and the guest makes the rest
   (the split balances the two: the arbiter's CRT zeros are cheaper, the guest is idle);
2. host → guest: :math:`[u_h] = [0]_h + u_h`;
3. guest → hosts: :math:`[d] = \sum_h [u_h] + g + [0]_g` with :math:`g = \tfrac14 w_g^Tx_g - \tfrac12 y`
   (LR, :math:`y \in \{-1, 1\}`), :math:`g = w_g^Tx_g - y` (LinR); Poisson:
   :math:`[d] = [u_h] \cdot e^{w_g^Tx_g}\,\text{exposure} - y + [0]_g` (so :math:`d = \mu - y`);
4. every party: :math:`[G] = [d]^T X` with the features encoded at :math:`2^{23}`
   (``floating_point_precision``; bucket multi-exponentiation), the guest's intercept as
   :math:`[\sum d]`; then :math:`[G + m]` with a mask :math:`m` uniform in :math:`\mathbb{Z}_n`
   (:class:`.messages.Masker`) → arbiter;
5. arbiter → that party: :math:`G + m \bmod n`; the party removes :math:`m`, divides by
   :math:`n_b` and steps its own optimiser (penalty applied locally, :mod:`.optimizer`);
6. host → guest: its loss terms, encrypted (:mod:`.loss`); guest → arbiter:
   :math:`[n_b \cdot \text{loss}_b]`, which the arbiter decrypts.

Per epoch the arbiter judges ``early_stop`` (diff / abs on the loss, weight_diff on the parties'
:math:`\|\Delta w\|^2`) and tells everyone; on validation epochs the hosts send
:math:`w_h^Tx_h` of the validation rows to the guest, who computes the metrics and decides early
stopping. Prediction: each host sends :math:`w_h^Tx_h` per row to the guest.

What each party learns (semi-honest, non-colluding)
----------------------------------------------------
- guest: its own weights; the hosts' feature counts; on validation epochs and at prediction the
  hosts' partial scores :math:`w_h^Tx_h` of the validation / predicted rows (as in FATE). Nothing
  from training ciphertexts: it never has the key.
- host: its own weights; the row count, batch plan and number of classes; nothing about the
  labels — :math:`[d]` is re-randomised by a zero it does not know.
- arbiter: the loss of every batch, :math:`\|\Delta w\|^2` (weight_diff only), the validation
  stop decisions, and each party's number of weights. **Unlike FATE it never sees a gradient**:
  what it decrypts is :math:`G + m \bmod n` with :math:`m` uniform, itself uniform whatever
  :math:`G`.

Why the arbiter may make the zeros: a ciphertext :math:`(1 + n x)\rho` hides :math:`x` from
whoever does not know :math:`\rho`. The host's forward is randomised by a zero the guest never
sees; ``[d]`` by a zero the host never sees. The arbiter knows both :math:`\rho` — but it owns
the private key, so it could decrypt those ciphertexts anyway, and it never receives them. So
the scheme adds no trust beyond the one every arbiter-based protocol already places in the key
owner, in any coalition: a coalition with the arbiter can decrypt, one without it does not know
the zeros. The zeros carry no data (each is :math:`h_s^{a}` with its own fresh :math:`a`), so
the arbiter starts making them right after key generation, while the guest and hosts still
prepare their data, and keeps making the next batch's in a background thread (at the lowest
scheduling priority after the first batch, so that it only takes CPU time the others leave).
Each one is handed out once, to one party. The zeros the guest makes itself are the ``local``
kind: the arbiter and the host never see them. Values that do reach the arbiter (masked
gradients, the loss) are re-randomised with the sending party's own fresh obfuscator first, so
their randomness tells the arbiter nothing about the plaintext multipliers (features, :math:`g`)
that produced them. This moves the :math:`(1 + k)\,n_b` encryptions per batch from the busy
guest and hosts to the otherwise idle arbiter, which computes them with its CRT tables while the
others multiply (the guest only tops up while it would otherwise wait).

Precision: forwards and :math:`[d]` carry 32 fractional bits, features in :math:`[d]^Tx` 23
(FATE's ``floating_point_precision``); masked values are exact integers mod :math:`n`. With the
``plain`` cipher the arithmetic is the same fixed-point arithmetic, so a Paillier run equals a
plain run bit for bit.
"""

from fedloom.ml.hetero.glm.arbiter import GLMArbiter
from fedloom.ml.hetero.glm.guest import GLMGuest
from fedloom.ml.hetero.glm.host import GLMHost
from fedloom.ml.hetero.glm.loss import Family
from fedloom.ml.hetero.glm.model import GLMModel
from fedloom.ml.hetero.glm.params import (
    GLMParams,
    HeteroLinRParams,
    HeteroLRParams,
    HeteroPoissonParams,
)

__all__ = [
    "Family",
    "GLMArbiter",
    "GLMGuest",
    "GLMHost",
    "GLMModel",
    "GLMParams",
    "HeteroLRParams",
    "HeteroLinRParams",
    "HeteroPoissonParams",
]
