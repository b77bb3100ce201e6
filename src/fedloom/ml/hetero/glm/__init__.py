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
``plain`` cipher) and sends the public key; the guest and hosts accept it only as a key of the
configured scheme and size, pinned for the job step. Each host tells the arbiter its weight count
(``HOST_WEIGHTS``). The guest sends its id digest, the batch plan, the number of models (one, or
one per class with one-vs-rest) and its own weight count to hosts and arbiter; hosts answer the
guest with their digests and feature counts. Every party then checks the batch plan against the
weight counts it knows (:func:`.batch.check_batch_sizes`, below). Poisson: the guest sends
``[y]`` to the host once.

Per batch of :math:`n_b` rows, with :math:`u_h` what host :math:`h` contributes per row
(LR: :math:`\tfrac14 w_h^Tx_h`; LinR: :math:`w_h^Tx_h`; Poisson: :math:`\exp(w_h^Tx_h)`):

1. arbiter → each party: :math:`n_b` fresh encryptions of zero :math:`[0]` (``obfuscators:
   arbiter``; with ``local`` each party draws its own obfuscators in a background thread),
   hosts first (their forwards are needed before :math:`[d]`). With Paillier the guest draws
   its own fresh obfuscators in a background thread while it waits for its zeros; when the
   arbiter is short it sends the guest fewer than :math:`n_b` and the guest makes the rest
   (the split balances the two: the arbiter's CRT zeros are cheaper, the guest is idle). All
   of this is speed only, behind one call per role: :mod:`.zeros`;
2. host → guest: :math:`[u_h] = [0]_h + u_h`;
3. guest → hosts: :math:`[d] = \sum_h [u_h] + g + [0]_g` with :math:`g = \tfrac14 w_g^Tx_g - \tfrac12 y`
   (LR, :math:`y \in \{-1, 1\}`), :math:`g = w_g^Tx_g - y` (LinR); Poisson:
   :math:`[d] = [u_h] \cdot e^{w_g^Tx_g}\,\text{exposure} - y + [0]_g` (so :math:`d = \mu - y`);
4. every party: :math:`[G] = [d]^T X` with the features encoded at :math:`2^{23}`
   (``floating_point_precision``; bucket multi-exponentiation), the guest's intercept as
   :math:`[\sum d]`; then :math:`[G + m]` with a mask :math:`m` uniform in :math:`\mathbb{Z}_n`
   (:class:`.messages.Masker`), **re-randomised last with a fresh** :math:`r^n`, :math:`r`
   uniform in :math:`\mathbb{Z}_n^*` (:meth:`~fedloom.crypto.paillier.EncryptedVector.rerandomize`)
   → arbiter;
5. arbiter: decrypts exactly one vector per party, of exactly that party's weight count, and
   refuses anything else (:class:`~fedloom.core.errors.MessageError` naming the party) →
   that party: :math:`G + m \bmod n`; the party removes :math:`m`, divides by :math:`n_b` and
   steps its own optimiser (penalty applied locally, :mod:`.optimizer`);
6. host → guest: its loss terms, encrypted (:mod:`.loss`); guest → arbiter:
   :math:`[n_b \cdot \text{loss}_b]`, re-randomised with a fresh :math:`r^n`; the arbiter
   decrypts exactly one value.

Sample weights (``SampleWeight`` before the model: ``Frame.weights`` of the guest's data, row
weights :math:`s_i \ge 0`): in step 3 the guest sends :math:`[s \odot d]` instead of :math:`[d]`
(each :math:`[d_i]` times :math:`s_i` encoded at :math:`2^{40}`), so every party's gradient is the
weighted Taylor gradient :math:`X^T(s \odot d)/n_b`, and the loss is :math:`\sum_i s_i \ell_i`:
SETUP says ``weighted``, and hosts send :math:`[\sum (s \odot d)\,u_h]` (the several-hosts form,
which gives :math:`\sum s\,d^2`) instead of :math:`[\sum u_h^2]`; LR's constant is
:math:`(\log 2 - \tfrac12)\sum s`; Poisson's ``ENC_LABEL`` carries :math:`[s \odot y]`. A host
learns that the rows are weighted, not the weights (its gradient :math:`X_h^T(s\odot d)` is the
same kind of disclosure as before, the batch-size rule unchanged); the arbiter learns nothing
new (the weighted loss instead of the loss).

``batch_strategy: random`` (FATE 1.x): each epoch is one batch of ``batch_size`` distinct rows,
drawn by the guest from ``numpy.random.default_rng([seed, model, epoch])`` (``seed`` =
``init_param.random_seed``, or fresh randomness) and sent to the hosts on ``EPOCH_PLAN`` at the
start of the epoch (the SETUP plan then only fixes the batch size, which the arbiter and the
zeros need). The host checks each plan (distinct rows in range, the SETUP size, the batch-size
rule) before using it. The host learns each epoch's rows, as SETUP tells it every batch's rows
under ``full``; the arbiter learns nothing new. The epoch loss is over the batch's rows.

``optimizer: sqn`` (LR, LinR; FATE's stochastic quasi-Newton, ``sqn_param``; the protocol in
:mod:`.sqn`): FATE runs the L-BFGS recursion at the arbiter on every party's gradient in clear;
here each party keeps the L-BFGS memory of its own weights. Every ``update_interval_L`` steps
(from the second average on) a curvature pair: the guest draws the Hessian sample :math:`S`
(``sample_size`` rows, ``random_seed``) and sends its row positions to the hosts; hosts send
:math:`[c\,X_{h,S}s_h]`, the guest :math:`[z]` (re-randomised) back; each party's
:math:`[X_{p,S}^Tz]` is masked, re-randomised and opened by the arbiter exactly like its
gradient (one more vector of the party's weight count, on those batches only), so
:math:`y_p = (Hs)_p` is known to its owner only. The recursion's inner products
(:math:`s^Ty, y^Ty` per pair, up to ``2·memory_M`` of :math:`s_i^Tq, y_i^Tr` per step) are summed
through the arbiter with additive masks mod :math:`2^{128}` (the guest draws each host's mask):
the arbiter and every party learn **these global scalars only**, never a party's share. A host
also learns the sample's rows and its :math:`X_{h,S}^Tz` (samples of :math:`\le m_h + 1` rows
refused like small batches, naming ``sqn_param.sample_size``); the guest learns
:math:`\sum_S c\,X_{h,S}s_h` (its intercept entry). L1 and Poisson are refused with sqn; a warm
start restarts the L-BFGS memory.

Per epoch the arbiter judges ``early_stop`` (diff / abs on the loss, weight_diff on the parties'
:math:`\|\Delta w\|^2`) and tells everyone; on validation epochs the hosts send
:math:`w_h^Tx_h` of the validation rows to the guest, who computes the metrics and decides early
stopping. Prediction: each host sends :math:`w_h^Tx_h` per row to the guest.

What each party learns, per message (semi-honest, non-colluding)
------------------------------------------------------------------
Each channel of :mod:`.messages` declares the same in its ``disclosure``. This is the FATE 1.x
protocol with a masked arbiter; what it discloses to the guest and the hosts, FATE discloses too.

- **host**, from ``SETUP``: the row count, the batch plan, the number of models and the guest's
  weight count. From ``ZEROS``, ``RESIDUAL``, ``ENC_LABEL``: ciphertexts only. From
  ``UNMASKED_GRADIENT``: **its own gradient** :math:`X_h^Td` **of every batch, in clear** —
  :math:`m_h` linear combinations of the batch's residuals :math:`d = \tfrac14 w^Tx - \tfrac12 y`
  (LR), :math:`w^Tx - y` (LinR), :math:`\mu - y` (Poisson). With :math:`n_b \le m_h` rows the
  system determines :math:`d`, and the host knows its own share of :math:`w^Tx`; at zero initial
  weights :math:`d = -\tfrac12 y` exactly: it reads the labels. With :math:`m_h + 1` rows a
  one-dimensional family remains, which binary labels still pin down. Such batch plans (any
  batch, the last short one included: :math:`n_b \le m_h + 1`) are refused with a
  :class:`~fedloom.core.errors.ConfigError` naming ``batch_size`` by the guest, the host itself
  and the arbiter, unless ``allow_small_batches: true``. Larger batches do not make
  :math:`X_h^Td` harmless: it is exact (fixed point), and e.g. at zero initial weights it is
  :math:`-\tfrac12 X_h^Ty`, a low-density subset-sum instance in :math:`y` that lattice
  reduction may solve when :math:`n_b` is not large compared with :math:`m_h` times the bits of
  precision. Use large batches (or full batch) for data whose labels matter. From
  ``CONVERGED`` / ``VALIDATION_STOP``: when training stops.
- **guest**: the hosts' feature counts (``HOST_SETUP``); ciphertexts only from
  ``HOST_FORWARD`` and ``HOST_LOSS``; **its own gradient of every batch, in clear**: the
  intercept entry :math:`\sum d = \sum_h \sum_i u_{h,i} + \sum_i g_i` reveals the batch sum of
  the hosts' contributions, :math:`\sum_i \tfrac14 w_h^Tx_{h,i}` (LR; LinR without the
  :math:`\tfrac14`; Poisson a weighted sum of :math:`e^{w_h^Tx_h}`), and :math:`X_g^Td` the
  same weighted by each of its features — with :math:`n_b \le m_g + 1` rows (its weights, the
  intercept included) it would solve for the hosts' per-row scores (refused by the same rule,
  :math:`n_b \le` weights :math:`+ 1`). On
  validation epochs and at prediction, ``VALIDATE_FORWARD`` / ``PREDICT_FORWARD`` give it the
  hosts' partial scores :math:`w_h^Tx_h` of every validation / predicted row **in clear** (as
  in FATE). It never has the key.
- **arbiter** (key owner): from ``SETUP`` and ``HOST_WEIGHTS`` the row count, batch plan,
  number of models and every party's weight count; from ``LOSS`` the loss of every batch (and
  so of every epoch); from ``WEIGHT_DIFF`` (``early_stop: weight_diff`` only) each party's
  :math:`\|\Delta w\|^2` per epoch; the validation stop decisions. **Unlike FATE it never sees a
  gradient**: what it decrypts from ``MASKED_GRADIENT`` is :math:`G + m \bmod n` with :math:`m`
  uniform, itself uniform whatever :math:`G`; and each ciphertext it decrypts is, after the
  sender's :math:`r^n`, distributed exactly like a fresh encryption of that uniform value, so
  its randomness tells the key owner nothing either (below).

What the arbiter's checks do not prevent: it cannot tell a masked gradient from another vector
of ciphertexts of the same length, so a party that deviates from the protocol could submit, say,
:math:`m_h` entries of :math:`[d]` in place of its gradient and learn those residuals (the
batch-size rule keeps it from a whole batch's). Excluding that needs proofs of correct
computation, outside this semi-honest protocol (FATE has the same limit).

The arbiter's zeros, and why everything it decrypts is re-randomised first. A ciphertext
:math:`(1 + n x)\rho` hides :math:`x` from whoever does not know :math:`p, q`. The host's forward
is randomised by a zero the guest never sees; ``[d]`` by a zero the host never sees; so the zeros
protect the forwards and residuals from the guest and hosts exactly as their own obfuscators
would. The arbiter knows the randomness of its zeros — harmless for the ciphertexts it never
receives, but the masked gradients and the loss are built from ``[d]``: the randomness of
:math:`[G]_j` is :math:`\prod_i \rho(d_i)^{k_{ij}}` with :math:`k_{ij}` the encoded features
(or, in the loss, the guest's :math:`g_i`). With :math:`p, q` the key owner evaluates residue
characters (the Jacobi symbol, cubic characters mod :math:`p` and mod :math:`q`, …) of that
randomness, which are *linear in* :math:`k_{ij}` modulo the character's order; a fixed-base
obfuscator :math:`h_s^a` added by the sender only moves them along the one direction of
:math:`h`, which the key owner can project away. It would read the features modulo small primes,
binary features exactly (``tests/security/test_key_owner.py`` does this to a control path).
Hence step 4 and 6 end with a fresh :math:`r^n`, :math:`r` uniform in :math:`\mathbb{Z}_n^*`,
drawn by the sender after all homomorphic work: the result is distributed exactly as a fresh
encryption of its plaintext (the argument is in
:meth:`~fedloom.crypto.paillier.EncryptedVector.rerandomize`). Cost: one exponentiation per
gradient element and one for the loss, per batch — not per row. The zeros carry no data (each
is :math:`h_s^{a}` with its own fresh :math:`a`), so the arbiter starts making them right after
key generation, while the guest and hosts still prepare their data, and keeps making the next
batch's in a background thread (at the lowest scheduling priority after the first batch, so that
it only takes CPU time the others leave). Each one is handed out once, to one party. The zeros
the guest makes itself are the ``local`` kind: the arbiter and the host never see them. This
moves the :math:`(1 + k)\,n_b` encryptions per batch from the busy guest and hosts to the
otherwise idle arbiter, which computes them with its CRT tables while the others multiply (the
guest only tops up while it would otherwise wait).

Precision: forwards and :math:`[d]` carry 32 fractional bits, features in :math:`[d]^Tx` 23
(FATE's ``floating_point_precision``); masked values are exact integers mod :math:`n`. With the
``plain`` cipher the arithmetic is the same fixed-point arithmetic, so a Paillier run equals a
plain run bit for bit.

Modules
-------
- :mod:`.messages` — every channel, in send order, with what its receiver learns; the masks
  (:class:`.messages.Masker`) and the checks of received ciphertexts;
- :mod:`.guest`, :mod:`.host`, :mod:`.arbiter` — one class per role, its methods in the order of
  the messages (setup, per batch, per epoch, predict); :mod:`.role` what they share;
- :mod:`.zeros` — the speed machinery: where the encryptions of zero come from (the arbiter's
  background maker, the parties' pools, thread priority, cost constants);
- :mod:`.records` — typed records of the plain messages, validated on receipt;
- :mod:`.batch` — the batch plan and the data checks (alignment, columns, batch sizes);
- :mod:`.loss` — what differs between LR, LinR and Poisson (:class:`.loss.Family`), convergence,
  validation metrics;
- :mod:`.sqn` — ``optimizer: sqn``: each party's L-BFGS memory, the secure sums, the sample;
- :mod:`.optimizer`, :mod:`.params`, :mod:`.model`, :mod:`.ciphers` (key and vector types).
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
