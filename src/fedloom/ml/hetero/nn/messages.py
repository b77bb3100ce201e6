"""Hetero NN messages, in the order they are sent (see :mod:`fedloom.ml.hetero.nn` for the protocol).

::

    HOST_SETUP        host → guest   id digests, row counts, bottom output width, feature count
    PUBLIC_KEY        host → guest   the host's public key (one key per host)
    SETUP             guest → hosts  id digests and row counts (alignment check), interactive
                                     out_dim, floating_point_precision
    COMMAND           guest → hosts  per step: train an epoch / validate / keep / stop
    HOST_FORWARD      host → guest   per batch: [α̃_A] packed R rows per ciphertext, [ε_acc] packed
                                     as the input-gradient bases
    FORWARD_MASKED    guest → host   per batch and output unit j (sub-context part-j):
                                     [α̃_A·W'_A[:, j] + ε_B], packed, re-randomised
    FORWARD_UNMASKED  host → guest   per batch: α̃_A·W'_A + ε_B + α̃_A·ε_acc (integers)
    BACKWARD_MASKED   guest → host   per training batch: selected rows and the masked packed
                                     [α̃_Aᵀδ]; then (sub-contexts part-i) the selected rows'
                                     packed [δ·(W'_A + ε_acc)ᵀ]; all re-randomised
    BACKWARD_UNMASKED host → guest   per training batch: α̃_Aᵀδ + ε_G + η/lr (integers)

Every channel's ``disclosure`` says what its receiver learns in clear; received ciphertexts are
checked (key, length, scale) before anything is decrypted.
"""

from __future__ import annotations

from fedloom.context import Channel
from fedloom.core import GUEST, HOST

HOST_SETUP = Channel(
    "host_setup",
    src=HOST,
    dst=GUEST,
    disclosure="the host's SHA-256 id-list digests and row counts (training and validation data), "
    "the width of its bottom model's output and its number of features",
)
PUBLIC_KEY = Channel("public_key", src=HOST, dst=GUEST, disclosure="the host's public key (n); nothing else")
SETUP = Channel(
    "setup",
    src=GUEST,
    dst=HOST,
    disclosure="the guest's SHA-256 id-list digests and row counts, the interactive layer's output "
    "width and floating_point_precision",
)
COMMAND = Channel(
    "command",
    src=GUEST,
    dst=HOST,
    disclosure="the training schedule: each epoch's start, when validation runs, which validated "
    "epoch is the best so far (early stopping on the guest's validation metric is visible) and "
    "when training stops",
)
HOST_FORWARD = Channel(
    "host_forward",
    src=HOST,
    dst=GUEST,
    disclosure="ciphertext only: the host's bottom output after dropout [α̃_A] (packed, R rows per "
    "ciphertext) and its accumulated noise [ε_acc], under the host's key; their number gives the "
    "batch's row count",
)
FORWARD_MASKED = Channel(
    "forward_masked",
    src=GUEST,
    dst=HOST,
    disclosure="α̃_A·W'_A + ε_B per row and output unit (packed), ε_B uniform integers 40 bits "
    "wider than the product's fixed-point bound, the ciphertexts re-randomised with the guest's "
    "own randomness: nothing (statistically, while |α̃_A·W'_A| < 2^20)",
)
FORWARD_UNMASKED = Channel(
    "forward_unmasked",
    src=HOST,
    dst=GUEST,
    disclosure="z_A = α̃_A·(W'_A + ε_acc), the host's contribution to the interactive layer's "
    "pre-activation per row and output unit (as in FATE); not α̃_A, not the true weights",
)
BACKWARD_MASKED = Channel(
    "backward_masked",
    src=GUEST,
    dst=HOST,
    disclosure="which rows of the batch are back-propagated (SelectiveBP: the rows of large loss, "
    "hence something about the labels; all rows without it); the host's input gradient "
    "δ·(W'_A + ε_acc)ᵀ for those rows (as in FATE); the weight gradient α̃_Aᵀδ (and the cross "
    "terms sharing its ciphertexts) only plus uniform integer masks 40 bits wider than their "
    "bound: nothing of it; every ciphertext re-randomised with the guest's own randomness",
)
BACKWARD_UNMASKED = Channel(
    "backward_unmasked",
    src=HOST,
    dst=GUEST,
    disclosure="α̃_Aᵀδ + η/lr: the interactive weight gradient of the host's part hidden by the "
    "host's fresh noise η (uniform in [-1, 1] per weight, divided by interactive_layer_lr, as in "
    "FATE: hiding only while |α̃_Aᵀδ| ≪ 1/lr)",
)

#: Every channel, in send order.
ALL = (
    HOST_SETUP,
    PUBLIC_KEY,
    SETUP,
    COMMAND,
    HOST_FORWARD,
    FORWARD_MASKED,
    FORWARD_UNMASKED,
    BACKWARD_MASKED,
    BACKWARD_UNMASKED,
)
