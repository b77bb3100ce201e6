"""Hetero LR / LinR / Poisson fits over the in-memory transport, against a centralised reference.

Tolerances
----------
* ``plain`` cipher vs the centralised NumPy descent: 1e-6. The protocol's only deviation is the
  fixed-point encoding (forwards and ``[d]`` at 2^-32, features in ``[d]ᵀx`` at 2^-23, so each
  gradient entry is off by at most ~2^-24·mean|d| ≈ 1e-8), which SGD passes on to the weights
  scaled by the learning rate.
* Paillier vs ``plain``: equal bit for bit. Both ciphers run the same fixed-point integers mod
  their ``n`` and the masks are removed exactly, so no tolerance is needed.
* Paillier keys are 1024 bits in these tests, for speed only (the default is 2048).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, central_fit, regression_data
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from fedloom.core import PartyId
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm.params import GLMParams
from fedloom.ml.hetero.linr import HeteroLinRArbiter, HeteroLinRGuest, HeteroLinRHost, HeteroLinRParams
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRModel, HeteroLRParams
from fedloom.ml.hetero.poisson import (
    HeteroPoissonArbiter,
    HeteroPoissonGuest,
    HeteroPoissonHost,
    HeteroPoissonParams,
)
from fedloom.testing import run_parties

G = PartyId.parse("guest:9999")
A = PartyId.parse("arbiter:10000")
HOSTS = [PartyId.parse("host:10000"), PartyId.parse("host:10001")]
ROLES: dict[str, tuple[Any, Any, Any]] = {
    "lr": (HeteroLRGuest, HeteroLRHost, HeteroLRArbiter),
    "linr": (HeteroLinRGuest, HeteroLinRHost, HeteroLinRArbiter),
    "poisson": (HeteroPoissonGuest, HeteroPoissonHost, HeteroPoissonArbiter),
}


def fit(
    kind: str,
    p: GLMParams,
    guest: Frame,
    hosts: list[Frame],
    *,
    validate: tuple[Frame, list[Frame]] | None = None,
    arbiter: Any = None,
    mask_seed: int | None = None,
) -> dict[PartyId, Any]:
    g_cls, h_cls, a_cls = ROLES[kind]
    fns: dict[PartyId, Any] = {
        G: lambda c: g_cls(p, mask_seed=mask_seed).fit(c, guest, validate[0] if validate else None),
        A: lambda c: (arbiter or a_cls(p)).fit(c),
    }
    for i, h in enumerate(hosts):
        fns[HOSTS[i]] = lambda c, h=h, i=i: h_cls(p, mask_seed=mask_seed).fit(
            c, h, validate[1][i] if validate else None
        )
    return run_parties(fns, timeout=60)


def lr_params(**kw: Any) -> HeteroLRParams:
    base: dict[str, Any] = {
        "penalty": "L2",
        "alpha": 0.01,
        "optimizer": "sgd",
        "learning_rate": 0.15,
        "max_iter": 4,
        "batch_size": 200,
        "init_param": {"init_method": "random_uniform", "random_seed": 3},
        "encrypt_param": {"method": "plain", "key_length": 1024},
    }
    base.update(kw)
    return HeteroLRParams.from_dict(base)


def joined_weights(out: dict[PartyId, Any], n_hosts: int = 1, k: int = 0) -> np.ndarray:
    parts = [out[G].coef[k], [out[G].intercept[k]] if out[G].fit_intercept else []]
    parts += [out[HOSTS[i]].coef[k] for i in range(n_hosts)]
    return np.concatenate([np.asarray(x, dtype=np.float64) for x in parts])


def reference_weights(wg: np.ndarray, whs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([wg, *whs])


# -- LR ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("penalty", ["L2", "L1"])
def test_plain_lr_equals_centralised_descent(penalty: str) -> None:
    # Prepare
    guest, host = breast()
    p = lr_params(penalty=penalty)
    y = np.where(guest.label == 1, 1.0, -1.0)
    # Execute
    out = fit("lr", p, guest, [host])
    wg, whs, losses = central_fit("lr", p, guest.features, [host.features], y)
    # Assert
    np.testing.assert_allclose(joined_weights(out), reference_weights(wg, whs), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
    assert out[G].n_iter == [4] and out[A].n_iter == [4] and out[HOSTS[0]].n_iter == [4]


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "adagrad", "nesterov_momentum_sgd"])
def test_plain_lr_other_optimisers_follow_the_reference(optimizer: str) -> None:
    # rmsprop / adagrad divide by sqrt(m + 1e-6): a gradient entry near 1e-3 turns the ~1e-8
    # fixed-point error into ~1e-5 of step, so these are checked at 1e-4.
    guest, host = breast()
    p = lr_params(optimizer=optimizer, max_iter=3)
    y = np.where(guest.label == 1, 1.0, -1.0)
    out = fit("lr", p, guest, [host])
    wg, whs, _ = central_fit("lr", p, guest.features, [host.features], y)
    np.testing.assert_allclose(joined_weights(out), reference_weights(wg, whs), rtol=0, atol=1e-4)


def test_paillier_run_equals_plain_run_bit_for_bit() -> None:
    # Prepare: a slice of breast keeps 1024-bit Paillier fast
    guest, host = breast()
    guest, host = guest.take(np.arange(150)), host.take(np.arange(150))
    plain = lr_params(max_iter=2, batch_size=100)
    paillier = lr_params(max_iter=2, batch_size=100, encrypt_param={"method": "paillier", "key_length": 1024})
    # Execute
    a = fit("lr", plain, guest, [host])
    b = fit("lr", paillier, guest, [host])
    # Assert
    assert a[G].coef == b[G].coef and a[G].intercept == b[G].intercept
    assert a[HOSTS[0]].coef == b[HOSTS[0]].coef
    assert a[A].loss_history == b[A].loss_history


def test_paillier_with_local_obfuscators_equals_plain() -> None:
    guest, host = breast()
    guest, host = guest.take(np.arange(120)), host.take(np.arange(120))
    enc = {"method": "paillier", "key_length": 1024, "obfuscators": "local"}
    a = fit("lr", lr_params(max_iter=2, batch_size=-1), guest, [host])
    b = fit("lr", lr_params(max_iter=2, batch_size=-1, encrypt_param=enc), guest, [host])
    assert a[G].coef == b[G].coef and a[HOSTS[0]].coef == b[HOSTS[0]].coef


def test_breast_auc_matches_sklearn_within_001() -> None:
    # Prepare: 70/30 stratified split, Paillier 1024
    guest, host = breast()
    tr, te = train_test_split(np.arange(guest.n_rows), test_size=0.3, stratify=guest.label, random_state=42)
    g_tr, g_te, h_tr, h_te = guest.take(tr), guest.take(te), host.take(tr), host.take(te)
    p = HeteroLRParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.01,
            "optimizer": "sgd",
            "batch_size": -1,
            "learning_rate": 0.15,
            "max_iter": 10,
            "init_param": {"init_method": "zeros"},
            "encrypt_param": {"key_length": 1024},
        }
    )
    # Execute
    out = fit("lr", p, g_tr, [h_tr])
    pred = run_parties(
        {
            G: lambda c: HeteroLRGuest(p).predict(c, out[G], g_te),
            HOSTS[0]: lambda c: HeteroLRHost(p).predict(c, out[HOSTS[0]], h_te),
        }
    )[G]
    sk = LogisticRegression(max_iter=1000).fit(np.hstack([g_tr.features, h_tr.features]), g_tr.label)
    sk_auc = roc_auc_score(g_te.label, sk.predict_proba(np.hstack([g_te.features, h_te.features]))[:, 1])
    # Assert
    auc = roc_auc_score(g_te.label, pred.score)
    assert abs(auc - sk_auc) <= 0.01, (auc, sk_auc)
    assert pred.task == "binary" and set(pred.result.tolist()) <= {0, 1}


class RecordingArbiter(HeteroLRArbiter):
    """Keeps what the arbiter decrypts from the masked gradients."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.seen: list[int] = []
        self.n = 0

    def open_masked(self, sk: Any, masked: Any) -> list[int]:
        opened = super().open_masked(sk, masked)
        self.seen.extend(opened)
        self.n = int(sk.public_key.n)
        return opened


def test_arbiter_sees_only_uniform_masked_values() -> None:
    # Prepare: two runs whose true gradients differ (labels flipped), and a third with other masks
    guest, host = breast()
    flipped = Frame(guest.ids, guest.features, guest.feature_names, label=1 - guest.label)
    p = lr_params(max_iter=3, batch_size=-1, encrypt_param={"method": "paillier", "key_length": 1024})
    views = []
    models = []
    for g, seed in ((guest, 1), (flipped, 1), (guest, 2)):
        arb = RecordingArbiter(p)
        out = fit("lr", p, g, [host], arbiter=arb, mask_seed=seed)
        views.append(np.array([v / arb.n for v in arb.seen]))
        models.append(out)
        # true fixed-point gradients are below 2^100 in size: no view is anywhere near one
        assert all(min(v, arb.n - v) > 1 << 200 for v in arb.seen)
    # Assert: each view is uniform on [0, 1) and the two gradients' views are indistinguishable
    for v in views:
        assert len(v) == 3 * (10 + 1 + 20)
        assert stats.kstest(v, "uniform").pvalue > 1e-3
    assert stats.ks_2samp(views[0], views[1]).pvalue > 1e-3
    # the same gradient under other masks: a completely different view, the same model
    assert not np.any(np.isclose(views[0], views[2]))
    assert models[0][G].coef == models[2][G].coef and models[0][HOSTS[0]].coef == models[2][HOSTS[0]].coef


def test_two_hosts_lr_equals_centralised() -> None:
    guest, host = breast()
    h1 = host.select_features(list(host.feature_names[:8]))
    h2 = host.select_features(list(host.feature_names[8:]))
    p = lr_params(max_iter=3)
    y = np.where(guest.label == 1, 1.0, -1.0)
    out = fit("lr", p, guest, [h1, h2])
    wg, whs, losses = central_fit("lr", p, guest.features, [h1.features, h2.features], y)
    np.testing.assert_allclose(joined_weights(out, 2), reference_weights(wg, whs), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)


def test_one_vs_rest_and_model_round_trip() -> None:
    # Prepare: three classes from the first guest feature's terciles
    guest, host = breast()
    cls = np.digitize(guest.features[:, 0], np.quantile(guest.features[:, 0], [1 / 3, 2 / 3]))
    g3 = Frame(guest.ids, guest.features[:, 1:], guest.feature_names[1:], label=cls)
    p = lr_params(max_iter=3, batch_size=-1)
    # Execute
    out = fit("lr", p, g3, [host])
    gm = HeteroLRModel.from_dict(json.loads(json.dumps(out[G].to_dict())))
    hm = HeteroLRModel.from_dict(json.loads(json.dumps(out[HOSTS[0]].to_dict())))
    pred = run_parties(
        {
            G: lambda c: HeteroLRGuest(p).predict(c, gm, g3),
            HOSTS[0]: lambda c: HeteroLRHost(p).predict(c, hm, host),
        }
    )[G]
    # Assert: one model per class, each the binary reference with y = (class == k)
    assert gm.classes == [0, 1, 2] and len(gm.coef) == 3 and len(hm.coef) == 3
    for k in range(3):
        y = np.where(cls == k, 1.0, -1.0)
        wg, whs, _ = central_fit("lr", p, g3.features, [host.features], y, k=k)
        np.testing.assert_allclose(joined_weights(out, 1, k), reference_weights(wg, whs), atol=1e-6)
    assert pred.task == "multi" and pred.score.shape == (g3.n_rows, 3)
    np.testing.assert_allclose(pred.score.sum(axis=1), 1.0)
    assert (pred.result == cls).mean() > 0.5
    assert out[A].summary()["n_models"] == 3


def test_validation_metrics_and_early_stopping() -> None:
    guest, host = breast()
    tr, va = np.arange(400), np.arange(400, guest.n_rows)
    p = lr_params(
        max_iter=30,
        batch_size=-1,
        learning_rate=0.5,
        validation_freqs=1,
        early_stopping_rounds=2,
        metrics=["auc", "ks"],
        use_first_metric_only=True,
        optimizer="sgd",
        decay=0.0,
        tol=0.0,
    )
    out = fit("lr", p, guest.take(tr), [host.take(tr)], validate=(guest.take(va), [host.take(va)]))
    summary = out[G].summary()
    history = summary["validation"]
    assert [h["epoch"] for h in history] == list(range(len(history)))
    assert all(0 <= h["metrics"]["auc"] <= 1 and 0 <= h["metrics"]["ks"] <= 1 for h in history)
    assert max(h["metrics"]["auc"] for h in history) > 0.97
    assert summary["n_iter"] == out[A].n_iter[0] == out[HOSTS[0]].n_iter[0] < 30  # stopped early
    assert summary["best_iteration"] is not None and summary["converged"] is False


@pytest.mark.parametrize("rule,tol", [("diff", 5e-3), ("abs", 0.5), ("weight_diff", 0.05)])
def test_early_stop_rules_converge(rule: str, tol: float) -> None:
    guest, host = breast()
    p = lr_params(max_iter=40, batch_size=-1, early_stop=rule, tol=tol)
    out = fit("lr", p, guest, [host])
    assert out[A].converged == [True] and out[G].converged == [True]
    assert out[G].n_iter[0] == out[HOSTS[0]].n_iter[0] == len(out[A].loss_history[0]) < 40


# -- LinR and Poisson --------------------------------------------------------------------------------
@pytest.mark.parametrize("n_hosts", [1, 2])
def test_plain_linr_equals_centralised(n_hosts: int) -> None:
    guest, hosts, _ = regression_data("linr", m_h=(4,) if n_hosts == 1 else (4, 3))
    p = HeteroLinRParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.01,
            "optimizer": "sgd",
            "learning_rate": 0.15,
            "max_iter": 5,
            "batch_size": 100,
            "init_param": {"init_method": "zeros", "random_seed": 5},
            "encrypt_param": {"method": "plain", "key_length": 1024},
        }
    )
    out = fit("linr", p, guest, hosts)
    assert guest.label is not None
    wg, whs, losses = central_fit("linr", p, guest.features, [h.features for h in hosts], guest.label)
    np.testing.assert_allclose(joined_weights(out, n_hosts), reference_weights(wg, whs), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["plain", "paillier"])
def test_poisson_with_exposure_equals_centralised(method: str) -> None:
    guest, hosts, exposure = regression_data("poisson", n=200)
    p = HeteroPoissonParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.1,
            "optimizer": "sgd",
            "learning_rate": 0.05,
            "max_iter": 3,
            "batch_size": -1,
            "init_param": {"init_method": "zeros"},
            "exposure_colname": "exposure",
            "encrypt_param": {"method": method, "key_length": 1024},
        }
    )
    out = fit("poisson", p, guest, hosts)
    assert guest.label is not None
    xg = guest.features[:, :-1]
    wg, whs, losses = central_fit("poisson", p, xg, [hosts[0].features], guest.label, offset=np.log(exposure))
    np.testing.assert_allclose(joined_weights(out), reference_weights(wg, whs), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[A].loss_history[0], losses, rtol=0, atol=1e-6)
    assert out[G].feature_names == ["g0", "g1", "g2"] and out[G].exposure_colname == "exposure"
    pred = run_parties(
        {
            G: lambda c: HeteroPoissonGuest(p).predict(c, out[G], guest),
            HOSTS[0]: lambda c: HeteroPoissonHost(p).predict(c, out[HOSTS[0]], hosts[0]),
        }
    )[G]
    z = xg @ out[G].coef[0] + out[G].intercept[0] + hosts[0].features @ out[HOSTS[0]].coef[0]
    np.testing.assert_allclose(pred.score, np.exp(z) * exposure, rtol=1e-12)


def test_linr_validation_reports_regression_metrics() -> None:
    guest, hosts, _ = regression_data("linr", n=200)
    tr, va = np.arange(150), np.arange(150, 200)
    p = HeteroLinRParams.from_dict(
        {
            "max_iter": 3,
            "learning_rate": 0.1,
            "validation_freqs": 1,
            "metrics": ["rmse", "r2_score"],
            "init_param": {"init_method": "zeros"},
            "encrypt_param": {"method": "plain", "key_length": 1024},
        }
    )
    out = fit("linr", p, guest.take(tr), [hosts[0].take(tr)], validate=(guest.take(va), [hosts[0].take(va)]))
    history = out[G].summary()["validation"]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    rmse = [h["metrics"]["rmse"] for h in history]
    assert rmse == sorted(rmse, reverse=True) and "r2_score" in history[0]["metrics"]
