r"""Hetero SecureBoost: vertical gradient boosting; the guest holds the label and the Paillier key.

Roles: :class:`HeteroSecureBoostGuest` (label, key, tree structure and leaves) and
:class:`HeteroSecureBoostHost` (features only, thresholds of its own nodes), each
``fit(ctx, train, validate=None, init=None) -> SecureBoostModel`` and
``predict(ctx, model, frame)`` (guest: :class:`~fedloom.ml.predictions.Predictions`; host: None).
No arbiter. With the same bins and hyper-parameters the trees equal those of a centralised
histogram GBDT (``tests/ml/hetero/test_secureboost_exact.py``).

Protocol (channels in :mod:`.messages`, in send order)
------------------------------------------------------
**Setup.** ``HOST_SETUP`` (host → guest: id digests, rows, feature count) and ``SETUP`` (guest →
host: digests, rows, warm-start tree count): every party refuses misaligned rows. The guest
generates the key pair (``encrypt_param``: Paillier, or ``plain`` for debugging) and sends
``PUBLIC_KEY``; hosts accept it only through
:meth:`~fedloom.context.Context.recv_public_key`. Every party bins its own features alone
(quantile, ``bin_num``, ``binning_error``; NaN — and zero with ``zero_as_missing`` — into a
missing bin).

**Per tree** (``COMMAND`` "tree"; per class with ``multi_mode`` SingleOutput, one tree with
vector leaves with MultiOutput): the guest computes :math:`g, h` (:mod:`fedloom.ml.tree`
objectives). GOSS (``run_goss``): rows sampled by :func:`fedloom.ml.tree.goss_sample`, the
others' :math:`g, h` multiplied by :math:`(1-a)/b`; only sampled rows take part.
Each row's :math:`(g_1, h_1, \dots, g_K, h_K, 1)` becomes fixed-point non-negative integers
packed into one plaintext (:mod:`.gh`: 53 significant bits per value, slot widths that no sum
over all rows can overflow) and is **encrypted once** (the key owner's CRT encryption, spread
over :mod:`fedloom.compute`). ``ENC_GH``: the sampled rows and ``[gh]``. Each party samples
its own features for the tree (``subsample_feature_rate``, seeded). The first
``complete_secure`` rounds use the guest's features only (hosts get ``COMMAND`` without data).

**Per level** (all nodes of a level in one message per host):

1. ``NODES`` guest → host: which sampled rows are in which node of the level, which nodes are
   split (an empty message ends the tree, so the last level's membership is never sent).
2. The host builds, per split node, the encrypted per-bin sums of its features with
   **histogram subtraction**: of two siblings it sums only the smaller over its rows
   (:func:`fedloom.compute.parallel_histograms` = ``column_histograms``), and derives the
   other as parent − child homomorphically. Each feature's most frequent bin in the node is
   left out of the sums and derived as node total − other bins. It forms the **cumulative left
   sums** of every split candidate (:mod:`.candidates`; candidates that repeat a partition —
   an empty last bin, no missing rows — are not offered), **shuffles** them under anonymous
   ids (a random permutation per node, from the OS CSPRNG, kept private), **packs**
   ``capacity // width`` of them per ciphertext (``cipher_compress``), **re-randomises** every
   packed ciphertext with a uniform :math:`r^n`, and sends ``HOST_SPLITS`` with each candidate's
   left row count in clear (the guest would decrypt it anyway).
3. The guest checks every count and ciphertext shape before decrypting, decrypts, unpacks,
   decodes :math:`(G_L, H_L, n_L)` per candidate, computes its own candidates in clear, and
   takes the best gain :math:`S(L) + S(R) - S(P)`, :math:`S = \sum_k T(G_k)^2/(H_k + \lambda)`
   with the L1 soft threshold :math:`T`, under ``min_leaf_node``, ``min_child_weight``,
   ``min_impurity_split`` (:func:`fedloom.ml.tree.best_split_cumulative`; ties go to the guest,
   then to hosts in order). ``max_depth`` and ``min_sample_split`` stop nodes before.
4. ``SPLIT_CHOICE`` guest → each host: only the anonymous ids of that host's winning
   candidates (and the children's ids). The winner records node → (feature, bin, threshold,
   missing side) in its own model and answers ``HOST_LEFT``: which of the node's rows go left,
   and the anonymous name ``host_<party_id>_<index>`` of the feature (FATE's guest model
   records it; feature importance uses it).

Leaves: ``learning_rate · leaf_weight`` on the guest only. Training rows outside the GOSS sample,
warm-start scores and validation are routed with ``COMMAND`` "decisions" → ``DECISIONS``.
``n_iter_no_change`` / ``tol`` watch the training loss; ``validation_freqs`` predicts the
validate data federatedly and ``early_stopping_rounds`` stops on its metrics. Warm start
(``init``) continues a stored model with its bins, up to ``num_trees`` rounds in all.

**Predict**: ``PREDICT_SETUP`` guest → host (digest, rows); each host answers ``DECISIONS`` in
one message: for each of its nodes in each tree, the rows going left. The guest routes every row
through every tree (its own nodes with its own bins) and outputs probabilities (binary: class 1
with ``predict_param.threshold``; multi-class: per class) or values.

What each party learns
----------------------
- **Host**: the row counts and digests; the rows of each GOSS sample; the **node membership**
  of the sampled rows at every level but the last (as in FATE) — hence how every node, the
  guest's and other hosts' included, split those rows; which of its own candidates won (so its
  feature and threshold, which it owns anyway); the training schedule (trees, validation,
  stop). Gradients and hessians only as ciphertexts.
- **Guest**: per host candidate the left sums :math:`(G_L, H_L, n_L)` under shuffled anonymous
  ids (as FATE), not the feature, bin or threshold; the anonymous name of the feature of each
  node a host won; which rows go left at every host node (training rows, validation and
  predicted rows). Re-randomisation makes each ciphertext it decrypts a fresh encryption: it
  learns the sums and nothing else. Its model holds host nodes with their owner and no
  threshold.
- The privacy ledger (``ctx.privacy``) records each of these per channel from the channels'
  ``disclosure``.

Work and time (``model.work``): encryptions, ciphertexts sent / received, decryptions, seconds
per phase (guest: keygen, bin, encrypt, guest_histograms, host_splits_wait, decrypt; host: bin,
histogram, candidates, pack) and bytes.
"""

from fedloom.ml.hetero.secureboost.guest import HeteroSecureBoostGuest
from fedloom.ml.hetero.secureboost.host import HeteroSecureBoostHost
from fedloom.ml.hetero.secureboost.model import SecureBoostModel
from fedloom.ml.hetero.secureboost.params import HeteroSecureBoostParams

__all__ = ["HeteroSecureBoostGuest", "HeteroSecureBoostHost", "HeteroSecureBoostParams", "SecureBoostModel"]
