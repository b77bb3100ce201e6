"""Hetero SecureBoost messages, in the order they are sent (see :mod:`fedloom.ml.hetero.secureboost`).

::

    HOST_SETUP     host → guest    id digests and row counts (train, validate), feature count
    SETUP          guest → hosts   id digests and row counts, warm-start tree count
    PUBLIC_KEY     guest → hosts   the guest's public key (Paillier or plain)
    COMMAND        guest → hosts   per step: build a tree / give decisions / stop
    ENC_GH         guest → hosts   per federated tree: the sampled rows and [g, h, 1] per row, packed
    NODES          guest → hosts   per level: which sampled rows are in which node
    HOST_SPLITS    host → guest    per level: packed, shuffled, re-randomised candidate left sums
    SPLIT_CHOICE   guest → host    per level: which anonymous candidates of this host won
    HOST_LEFT      host → guest    per level (winners only): the won nodes' rows going left
    PREDICT_SETUP  guest → hosts   prediction: id digest and row count
    DECISIONS      host → guest    per host node of the asked trees: the rows going left

Each channel's ``disclosure`` states what its receiver learns in clear; received values are
validated into typed records by :mod:`.records` before they are used (ciphertexts: before
anything is decrypted).
"""

from __future__ import annotations

from fedloom.context import Channel
from fedloom.core import GUEST, HOST

HOST_SETUP = Channel(
    "host_setup",
    src=HOST,
    dst=GUEST,
    disclosure="the host's SHA-256 id-list digests and row counts (training and validation data) and "
    "its number of features",
)
SETUP = Channel(
    "setup",
    src=GUEST,
    dst=HOST,
    disclosure="the guest's SHA-256 id-list digests and row counts, and the number of trees of the "
    "model it continues from (warm start)",
)
PUBLIC_KEY = Channel("public_key", src=GUEST, dst=HOST, disclosure="the guest's public key (n); nothing else")
COMMAND = Channel(
    "command",
    src=GUEST,
    dst=HOST,
    disclosure="the training schedule: when a tree starts (and whether hosts take part: complete_secure), "
    "when validation decisions are asked for, when training stops (the round count: early stopping "
    "and convergence are visible)",
)
ENC_GH = Channel(
    "enc_gh",
    src=GUEST,
    dst=HOST,
    disclosure="the rows sampled for the tree (GOSS: which rows have large gradients or were drawn) "
    "and the slot widths of the packing (bitlen of the row count); gradients, hessians and counts "
    "only as ciphertexts (one packed ciphertext per row and chunk, under the guest's key)",
)
NODES = Channel(
    "nodes",
    src=GUEST,
    dst=HOST,
    disclosure="node membership: which of the sampled rows are in each node of the level (as in "
    "FATE), hence the shape of the tree and which rows went left at every node, the guest's and "
    "other hosts' included; which nodes the guest still splits",
)
HOST_SPLITS = Channel(
    "host_splits",
    src=HOST,
    dst=GUEST,
    disclosure="per node, the number of the host's split candidates and, under shuffled anonymous "
    "ids, each candidate's left row count (in clear) and its (G, H) left sums (encrypted, packed and "
    "re-randomised): the guest learns the gradient and hessian sums and the row count of the left "
    "side of every host candidate (as in FATE), not which feature, bin or threshold a candidate is",
)
SPLIT_CHOICE = Channel(
    "split_choice",
    src=GUEST,
    dst=HOST,
    disclosure="which of the host's anonymous candidates won at which node, and the won nodes' child "
    "ids (the host learns which of its features and thresholds split the tree; nothing about the "
    "gain or other parties' candidates)",
)
HOST_LEFT = Channel(
    "host_left",
    src=HOST,
    dst=GUEST,
    disclosure="per node the host won: which of the node's rows go left, and the anonymous name "
    "host_<party_id>_<index> of the feature it split on (as FATE's guest model records it); not "
    "the threshold or the bin",
)
PREDICT_SETUP = Channel(
    "predict_setup",
    src=GUEST,
    dst=HOST,
    disclosure="the SHA-256 id-list digest and row count of the data the guest predicts",
)
DECISIONS = Channel(
    "decisions",
    src=HOST,
    dst=GUEST,
    disclosure="for every host node of the asked trees and every row of the asked data: whether the "
    "row goes left there (the guest learns how each host node splits those rows, not its "
    "feature's values or thresholds)",
)
