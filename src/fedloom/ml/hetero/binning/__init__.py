r"""Hetero feature binning: every party bins its columns, the guest scores them all against its label.

Roles: :class:`HeteroBinningGuest` (labels, key) and :class:`HeteroBinningHost` (features only),
each ``fit(ctx, frame) -> BinningModel``; :func:`transform` applies a model locally.

Protocol (channels in :mod:`.messages`, in send order)
------------------------------------------------------
0. **Local bins.** Every party bins its own selected columns (``bin_indexes`` / ``bin_names`` ∪
   categorical columns) with :func:`fedloom.ml.feature.fit_bins` (``quantile``, ``bucket``; for
   ``optimal`` a fine ``init_bucket_method`` binning of ``init_bin_nums`` bins first; given
   ``split_points_by_*`` override). NaN values fall into a missing bin. The guest counts its own
   columns' labels per bin in clear and computes WOE / IV (:mod:`fedloom.ml.feature.woe`;
   one-vs-rest per class with more than two classes; ``optimal``: the fine bins are merged from
   these counts with :func:`~fedloom.ml.feature.optimal_groups` first).
1. ``HOST_SETUP`` host → guest: id digest, rows, how many columns the host bins (sent first, so
   the guest encrypts while the host bins).
2. For the hosts that bin at least one column (none: nothing is encrypted):
   ``SETUP`` guest → host: id digest (a host refuses misaligned rows), rows :math:`N`, classes
   :math:`K`, slot width :math:`w = \mathrm{bitlen}(N)`; ``PUBLIC_KEY`` (the host accepts it
   only through :meth:`~fedloom.context.Context.recv_public_key`, checking scheme and size);
   ``ENC_LABELS``: :math:`[y_i]`, **one ciphertext per row, encrypted once** and sent to every
   host. Binary: :math:`y_i \in \{0, 1\}` (the larger class is the event). :math:`K > 2`: the
   one-hot row packed in :math:`K` slots of :math:`w` bits (:class:`~fedloom.crypto.paillier.Packer`),
   refused (ConfigError) when :math:`K w` exceeds the key's capacity. No sum of at most
   :math:`N` zeros and ones overflows a slot.
3. ``HOST_BINS`` host → guest. Per column the host's bin index per row; its most frequent bin
   (sparse data: the zero bin) is left out — the guest derives it as total − Σ other bins. The
   label sums :math:`[\sum_{i \in \text{bin}} y_i]` of every other (column, bin) come from one
   multi-column pass (:func:`fedloom.crypto.paillier.histogram.column_histograms`), are packed
   ``capacity // (K' w)`` per ciphertext (:meth:`~fedloom.crypto.paillier.Packer.pack_encrypted`;
   :math:`K' = 1` binary, :math:`K` otherwise) and **re-randomised** with a uniform :math:`r^n`
   (:meth:`~fedloom.crypto.paillier.EncryptedVector.rerandomize`) before they go to the key
   owner. With them, under anonymous names ``host_<party_id>_<feature index>``: the row count of
   every bin (the non-event count is count − Σy), the derived bin, which columns the host
   transforms by WOE, and for ``optimal`` a merge request (bin_num, optimal params, columns).
4. The guest checks the message's shape (names, counts adding up to :math:`N`, exactly
   ``ceil(sums / slots)`` integer ciphertexts under its key) **before decrypting anything**,
   decrypts (about bins × columns / slots ciphertexts), unpacks, derives the left-out bins,
   checks every sum fits its bin's count, and computes the statistics of every host column
   (counts exact, hence WOE / IV exactly those of the centralised computation).
   ``HOST_GROUPS`` (``optimal``): the merged groups of the host's fine bins, computed by the
   same function as for the guest's own columns. ``HOST_WOE``: the WOE of the columns the host
   transforms by WOE (binary labels); nothing when it asked for none.

What each party learns
----------------------
- **Host**: the guest's row count, id digest, class count; ciphertexts only otherwise. From
  ``HOST_GROUPS`` the merge boundaries of its columns (chosen from the labels), from
  ``HOST_WOE`` the WOE of the bins it transforms — with its bin counts enough to solve for each
  such bin's event count (FATE discloses the same). Nothing when it asks for neither.
- **Guest**: per host column, the number of bins and each bin's row count and event count (per
  class), under an anonymous name — never the host's values, split points or column names.
  Re-randomisation makes every ciphertext it decrypts a fresh encryption of its plaintext, so
  the ciphertexts tell it nothing beyond these sums.
- A host that asks for the WOE of bins of a few rows learns their labels from it: WOE goes back
  only for the columns the host's own ``transform_param`` transforms by WOE, as in FATE.
- The privacy ledger (``ctx.privacy``) records each of these per channel, from each channel's
  ``disclosure``.

``local_only`` and ``skip_static`` (no statistics) send nothing; they must be set alike on every
party (a common parameter), as must ``encrypt_param``.

Work (in :class:`BinningModel` ``work``): guest ``encryptions`` = rows (once, whatever the number
of hosts), ``ciphertexts_sent`` = rows × hosts, ``decryptions`` = packed sums received; host
``ciphertexts_received`` = rows, ``ciphertexts_sent`` = its packed sums. ``summary()`` adds the
seconds per phase (guest: keygen, encrypt, bin, host_histograms_wait, decrypt, woe; host: bin,
labels_wait, histogram, pack) and bytes sent / received.
"""

from fedloom.ml.hetero.binning.guest import HeteroBinningGuest
from fedloom.ml.hetero.binning.host import HeteroBinningHost
from fedloom.ml.hetero.binning.model import BinningModel, ColumnResult, HostColumnResult, Work, class_key
from fedloom.ml.hetero.binning.params import HeteroFeatureBinningParams
from fedloom.ml.hetero.binning.transform import transform, transformed_columns

__all__ = [
    "BinningModel",
    "ColumnResult",
    "HeteroBinningGuest",
    "HeteroBinningHost",
    "HeteroFeatureBinningParams",
    "HostColumnResult",
    "Work",
    "class_key",
    "transform",
    "transformed_columns",
]
