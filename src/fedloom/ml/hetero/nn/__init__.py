r"""Hetero NN (FATE 1.6's split neural network): bottom models per party, an interactive layer
computed under the hosts' Paillier keys with noise, the top model and the labels on the guest.

Roles: :class:`HeteroNNGuest` (labels, its bottom model ``α_B = f_B(x_B)``, the interactive
layer's guest weights ``W_B``, the bias, the *noised* host weights ``W'_A`` and the top model)
and :class:`HeteroNNHost` (features, its bottom model ``α_A = f_A(x_A)``, its Paillier key and its
accumulated noise ``ε_acc``). The interactive layer computes
``z = α̃_B·W_B + Σ_hosts α̃_A·W_A + b`` (``α̃``: bottom outputs after the layer's dropout) with
``W_A = W'_A + ε_acc`` split between the parties: neither ever holds ``W_A``.

Protocol (per host, per mini-batch; :mod:`.messages` lists the channels)
-------------------------------------------------------------------------
Setup: the host sends id digests and the width ``K`` of its bottom output (HOST_SETUP) and a
fresh public key (PUBLIC_KEY); the guest checks the alignment and sends its digests, ``O =
out_dim`` and ``P = floating_point_precision`` (SETUP). Both derive the packing
:class:`~.protocol.Layout` from the key size, ``P``, ``K`` and ``O``; the guest builds its own
re-randomiser for the host's key (:class:`~fedloom.crypto.paillier.sender.SenderObfuscator`).
Both draw the mini-batches from the shared seed. Each epoch starts with a COMMAND.

Forward.
1. Host: ``α̃_A`` (rows × K) → fixed point at ``P`` bits, ``R`` rows of one feature packed per
   plaintext (``Σ_r α̃[gR + r, k]·2^(B·r)``); sends ``[α̃_A]`` and ``[ε_acc]`` (packed as the
   input-gradient bases, step 6) — HOST_FORWARD.
2. Guest: per output unit ``j``, ``[z_j] = Π_k [α̃_k]^(W'_A[k, j])`` (every slot at once), adds a
   uniform mask ``ε_B`` to every slot (``S + 60`` bits, ``S = 2P``), re-randomises, sends — one
   FORWARD_MASKED message per ``j``, so the host decrypts ``j`` while the guest computes ``j + 1``.
3. Host: decrypts, unpacks, adds ``α̃_A·ε_acc`` and returns ``α̃_A·W'_A + ε_B + α̃_A·ε_acc`` as
   integers (FORWARD_UNMASKED).
4. Guest: removes ``ε_B``: ``z_A = α̃_A·(W'_A + ε_acc) = α̃_A·W_A``; forms ``z``, the activation,
   the top model, the per-row losses; SelectiveBP keeps rows of large loss; back-propagates the
   mean loss of the kept rows down to ``δ = ∂L/∂z`` (rows × O).

Backward.
5. Guest: the weight gradient ``α̃_Aᵀδ`` from the packed ``[α̃_A]``: per ``(k, j, r)``
   ``Π_g [P_{g,k}]^(δ[gR + r, j])`` holds the rows of slot ``r`` in its slot ``r``; every slot
   masked, re-randomised — BACKWARD_MASKED (with the kept rows' indices).
6. Guest: the host's input gradient ``δ·(W'_A + ε_acc)ᵀ`` for the kept rows:
   ``Π_{j,r} [E_{j,r}]^(δ[row r, j])`` (``E_{j,r}``: ``ε_acc[:, j]`` at row ``r``'s slots) plus the
   plain ``δ·W'_Aᵀ``, packed several rows per ciphertext, re-randomised, in parts.
7. Host: decrypts the weight gradient's own slots, adds fresh noise ``η/lr`` (``η`` uniform in
   ``[-1, 1]`` per weight) and returns it (BACKWARD_UNMASKED); sets ``ε_acc += η``; decrypts the
   input gradients and back-propagates them through its bottom model.
8. Guest: removes its masks and updates ``W'_A −= lr·(α̃_Aᵀδ + η/lr)``, i.e. the true
   ``W_A = W'_A + ε_acc`` takes exactly the plain SGD step; updates ``W_B``, ``b``, its bottom and
   top models.

Validation and prediction run steps 1–4 only (COMMAND ``validate``; :meth:`HeteroNNGuest.predict`
with every host's :meth:`HeteroNNHost.predict`, which uses the stored ``ε_acc``). One epoch of
this protocol equals one epoch of the same split network trained centrally (the noise cancels;
``tests/ml/hetero/test_nn_exact.py``), up to the fixed-point rounding at ``2^-P``.

What each party learns (the channels' ``disclosure``)
-----------------------------------------------------
* **Host**: the guest's id digests, row counts, ``out_dim`` and precision; the schedule
  (epochs, validation, early stopping); per batch, which rows were back-propagated (with
  SelectiveBP: the rows of large loss, something about the labels) and their input gradients
  ``δ·W_Aᵀ`` (as in FATE); the masked forward and weight-gradient values are uniform to it
  (statistical distance ``≤ 2^-40`` while values stay below ``2^20``). Every ciphertext it
  decrypts was re-randomised by the guest with randomness the host cannot relate to its own, so
  the ciphertexts carry nothing of ``W'_A`` or ``δ`` beyond the decrypted values
  (:mod:`fedloom.crypto.paillier.sender`). Never the labels, ``W'_A``, ``W_B`` or the top model.
* **Guest**: ciphertexts of ``α̃_A`` and ``ε_acc`` (nothing, under DCR); per batch and row
  ``z_A = α̃_A·W_A``, the host's contribution to the pre-activation (as in FATE); the weight
  gradient plus the host's noise, ``α̃_Aᵀδ + η/lr`` (hiding ``α̃_Aᵀδ`` only while it is small
  against ``1/lr``, as in FATE). Never ``α̃_A``, the host's bottom model or ``ε_acc``.

Speed: packing ``R`` rows per ciphertext (9 at 1024 bits, ``P = 23``), simultaneous
exponentiation for the forward products, fixed-base combs for the input gradient, bucket
multi-exponentiation for the weight gradient, the sender's cheap re-randomiser computed ahead in a
background thread, host encryption over :func:`fedloom.compute.default_executor`, and messages in
parts so decryption and the next products overlap.
"""

from fedloom.ml.hetero.nn.guest import HeteroNNGuest, select_rows
from fedloom.ml.hetero.nn.host import HeteroNNHost
from fedloom.ml.hetero.nn.model import HeteroNNModel
from fedloom.ml.hetero.nn.params import HeteroNNParams

__all__ = ["HeteroNNGuest", "HeteroNNHost", "HeteroNNModel", "HeteroNNParams", "select_rows"]
