"""Hetero SecureBoost's test AUC on FATE's breast and default_credit is within 0.01 of XGBoost's.

Each data set is FATE's guest and host tables joined on id, split 70/30 stratified with seed 42;
the guest keeps the label and its columns, the host its columns (same rows, same order). Both
learners get the same hyper-parameters: ``TREES`` trees of depth ``DEPTH``, learning rate ``ETA``,
L2 ``LAMBDA`` (FATE's ``criterion_params``, XGBoost's ``reg_lambda``), ``BINS`` bins per feature
(FATE's ``bin_num``, XGBoost's ``max_bin``), no minimum child weight (FATE's default 0; XGBoost's
is 1). XGBoost ``tree_method="hist"`` runs in the same test on the joined table.

The bins differ slightly (FATE's quantile summary vs XGBoost's sketch), as do the start scores
(FATE starts from 0, XGBoost from the label mean), hence a tolerance and not equality (the
exactness claim is ``test_secureboost_reference.py``'s). Paillier 1024 on breast; the plain
cipher on default_credit's 21,000 training rows to keep the test short (the protocol is the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tests.fate_jobs import FATE_DATA, hetero_tables, stratified_split

from fedloom.core.roles import PartyId
from fedloom.data.frame import Frame
from fedloom.testing import run_parties

sb = pytest.importorskip("fedloom.ml.hetero.secureboost")
xgboost = pytest.importorskip("xgboost")

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
TREES, DEPTH, ETA, LAMBDA, BINS = 10, 3, 0.3, 0.1, 32

pytestmark = [pytest.mark.skipif(not FATE_DATA.is_dir(), reason="FATE data not present"), pytest.mark.slow]


def federated_auc(name: str, cipher: str) -> tuple[float, float]:
    """Test AUC of SecureBoost (guest and host in memory) and of XGBoost ``hist``, same split."""
    ids, gx, hx, y, gnames, hnames = hetero_tables(name)
    tr, te = stratified_split(y)

    params = sb.HeteroSecureBoostParams.from_dict(
        {
            "task_type": "classification",
            "objective_param": {"objective": "cross_entropy"},
            "num_trees": TREES,
            "learning_rate": ETA,
            "bin_num": BINS,
            "n_iter_no_change": False,
            "tree_param": {"max_depth": DEPTH, "criterion_params": [LAMBDA], "min_child_weight": 0},
            "encrypt_param": {"method": cipher, "key_length": 1024},
        }
    )

    def guest(ctx: Any) -> Any:
        role = sb.HeteroSecureBoostGuest(params)
        model = role.fit(ctx.sub("fit"), Frame(ids[tr], gx[tr], gnames, label=y[tr]), None)
        return role.predict(ctx.sub("predict"), model, Frame(ids[te], gx[te], gnames, label=y[te]))

    def host(ctx: Any) -> None:
        role = sb.HeteroSecureBoostHost(params)
        model = role.fit(ctx.sub("fit"), Frame(ids[tr], hx[tr], hnames), None)
        role.predict(ctx.sub("predict"), model, Frame(ids[te], hx[te], hnames))

    pred = run_parties({GUEST: guest, HOST: host}, timeout=300)[GUEST]
    assert list(pred.ids) == list(ids[te])
    fed = float(roc_auc_score(y[te], np.asarray(pred.score)))

    x = np.hstack([gx, hx])
    clf = xgboost.XGBClassifier(
        n_estimators=TREES, max_depth=DEPTH, learning_rate=ETA, reg_lambda=LAMBDA, reg_alpha=0.0,
        min_child_weight=0.0, max_bin=BINS, tree_method="hist", n_jobs=1,
    )  # fmt: skip
    clf.fit(x[tr], y[tr])
    xgb = float(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))
    return fed, xgb


@pytest.mark.parametrize(("name", "cipher"), [("breast", "Paillier"), ("default_credit", "plain")])
def test_test_auc_is_within_0_01_of_xgboost_hist(name: str, cipher: str) -> None:
    # Execute
    fed, xgb = federated_auc(name, cipher)
    # Assert
    assert abs(fed - xgb) <= 0.01, (fed, xgb)
    assert fed > {"breast": 0.95, "default_credit": 0.75}[name]  # and both learned something real
