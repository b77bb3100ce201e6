"""Hetero feature binning messages, in the order they are sent (see :mod:`fedloom.ml.hetero.binning`).

::

    HOST_SETUP   host → guest    id digest, row count, how many columns it bins
    SETUP        guest → hosts   id digest, row count, label classes, slot width (hosts that bin)
    PUBLIC_KEY   guest → hosts   the guest's public key (Paillier or plain)
    ENC_LABELS   guest → hosts   [y] (one-hot packed for > 2 classes), one ciphertext per row
    HOST_BINS    host → guest    per anonymous column: bin counts, derived bin, packed [Σy] sums
    HOST_GROUPS  guest → host    optimal binning: the merged groups of the host's fine bins
    HOST_WOE     guest → host    WOE of the host columns it transforms by WOE (binary labels)

Nothing is sent with ``local_only`` (every party must set it alike), and a host with no column
to bin sends ``HOST_SETUP`` only. Each channel's ``disclosure`` states what its receiver learns in
clear; received values are validated into typed records by :mod:`.records`.
"""

from __future__ import annotations

from fedloom.context import Channel
from fedloom.core import GUEST, HOST

HOST_SETUP = Channel(
    "host_setup",
    src=HOST,
    dst=GUEST,
    disclosure="the host's row count and SHA-256 id-list digest, and how many of its columns it bins",
)
SETUP = Channel(
    "setup",
    src=GUEST,
    dst=HOST,
    disclosure="the guest's row count and SHA-256 id-list digest, the number of label classes and the "
    "slot width of the packed label sums (bitlen(rows))",
)
PUBLIC_KEY = Channel("public_key", src=GUEST, dst=HOST, disclosure="the guest's public key (n); nothing else")
ENC_LABELS = Channel(
    "enc_labels",
    src=GUEST,
    dst=HOST,
    disclosure="ciphertext only ([y] per row, under the guest's key; one-hot packed with > 2 classes)",
)
HOST_BINS = Channel(
    "host_bins",
    src=HOST,
    dst=GUEST,
    disclosure="per host column, under an anonymous name: its number of bins and the row count of each "
    "bin (not the values or split points), which bin is derived, whether the host wants WOE back or "
    "optimal merging (with its bin_num and optimal_binning_param); and the label sum of every other "
    "bin, encrypted, packed and re-randomised: the guest decrypts the event count (per class) of "
    "every bin of every host column, and nothing else",
)
HOST_GROUPS = Channel(
    "host_groups",
    src=GUEST,
    dst=HOST,
    disclosure="optimal binning: which of the host's fine bins the guest merged into each bin (the merge "
    "boundaries, chosen from the label counts: they tell how the event rate varies along the column)",
)
HOST_WOE = Channel(
    "host_woe",
    src=GUEST,
    dst=HOST,
    disclosure="the WOE of every bin of the host columns the host transforms by WOE (binary labels): "
    "with its own bin counts the host can solve for each such bin's event count, as in FATE",
)
