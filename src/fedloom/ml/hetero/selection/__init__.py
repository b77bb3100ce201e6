"""Hetero feature selection: keep each party's informative columns (FATE's HeteroFeatureSelection).

Usable without any server::

    model = HeteroSelectionGuest(params).fit(ctx, frame, binning_model_dict)   # guest
    model = HeteroSelectionHost(params).fit(ctx, frame, binning_model_dict)    # each host
    selected = model.transform(frame)                                           # any later data

Flow
----
1. Each party takes its candidate columns (``select_col_indexes`` / ``select_names``); other
   columns are kept untouched.
2. The filters of ``filter_methods`` run in order, each on the candidates the previous one left
   (pure rules: :mod:`fedloom.ml.feature.selection`):

   - local filters (``manually``, ``unique_value``, ``variance_value``,
     ``coefficient_of_variation_value_thres``, ``percentage_value``, ``outlier_cols``) run on
     each party's own data and send nothing;
   - IV filters (``iv_value_thres``, ``iv_percentile``, ``iv_top_k``, ``iv_filter``) read the
     binning model (``isometric_model``). The guest knows its columns' IVs and the hosts' IVs
     under anonymous names ``host_<party>_<index>`` only. With ``select_federated`` (default;
     ``local_only: false``), in namespace ``filter-<position>``:

     a. each host sends the anonymous names of its current candidates (``HOST_CANDIDATES``);
        the guest refuses names its binning model does not hold for that host;
     b. the guest applies the rule (threshold with optional ``host_thresholds``, top k, top
        percentile) to guest and host columns **together** (ties broken by order: guest columns,
        then hosts in conf order), keeps at least one column per party (FATE), and sends each
        host the names it keeps (``KEPT_COLUMNS``);
     c. the host maps them back to its columns through its binning model's ``anonymous`` map and
        refuses any name that is not one of the candidates it sent (MessageError).

     Without ``select_federated`` the guest filters its own columns and hosts keep theirs.

3. Each party's :class:`SelectionModel` holds the kept columns and each filter's outcome; a
   predict job applies it with no message.

What each party learns (semi-honest parties)
--------------------------------------------
- guest: which anonymous host columns are still candidates at each IV filter (positions only,
  no values; it already holds their IVs from binning) and nothing from local filters on hosts.
- host: for each federated IV filter, which of its columns were kept: a function of the labels
  through the IVs (whether a column's IV passed the threshold, or ranked in the top k / top
  percentile among all parties' columns). Nothing about the guest's columns but what the count
  of its own kept columns implies under top k.
- local filters disclose nothing to anyone.
"""

from fedloom.ml.hetero.selection.guest import HeteroSelectionGuest
from fedloom.ml.hetero.selection.host import HeteroSelectionHost
from fedloom.ml.hetero.selection.model import SelectionModel
from fedloom.ml.hetero.selection.params import HeteroFeatureSelectionParams, IVRule

__all__ = [
    "HeteroFeatureSelectionParams",
    "HeteroSelectionGuest",
    "HeteroSelectionHost",
    "IVRule",
    "SelectionModel",
]
