"""Hetero GLMs on sparse (CSR) features: the same model as the same data dense.

Tolerances
----------
* sparse vs dense, ``plain`` cipher: 1e-9. The encrypted products are the same fixed-point integers
  (the sparse dot sums the same terms, zeros skipped), so the only difference is the float
  summation order of ``x @ w`` (~1e-16), which can move a fixed-point rounding by one unit at
  2^-32 in a forward.
* Paillier vs ``plain`` on sparse data: bit for bit, as for dense data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast, regression_data
from scipy import sparse
from test_glm_fit import HOSTS, A, G, fit, joined_weights, lr_params

from fedloom.core import PartyId
from fedloom.data.frame import Frame
from fedloom.ml.hetero.linr import HeteroLinRParams
from fedloom.ml.hetero.poisson import HeteroPoissonParams


def sparsified(frame: Frame, keep: float, seed: int) -> Frame:
    """``frame`` with about ``1 - keep`` of its entries set to zero (dense)."""
    rng = np.random.default_rng(seed)
    return frame.with_features(frame.features * (rng.random(frame.features.shape) < keep))


def both_ways(frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    return frames, [f.to_sparse() for f in frames]


def assert_same_model(dense: dict[PartyId, Any], sp: dict[PartyId, Any], n_hosts: int, atol: float) -> None:
    np.testing.assert_allclose(joined_weights(sp, n_hosts), joined_weights(dense, n_hosts), rtol=0, atol=atol)
    np.testing.assert_allclose(sp[A].loss_history[0], dense[A].loss_history[0], rtol=0, atol=atol)
    assert sp[G].n_iter == dense[G].n_iter


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_sparse_lr_equals_dense_plain(optimizer: str) -> None:
    # Prepare: breast with ~70% of the entries zeroed, guest and host sparse
    guest, host = breast()
    (g, h), (gs, hs) = both_ways([sparsified(guest, 0.3, 1), sparsified(host, 0.3, 2)])
    assert gs.is_sparse and hs.is_sparse and hs.features.nnz < 0.4 * hs.n_rows * hs.n_features
    p = lr_params(optimizer=optimizer, max_iter=4, batch_size=200)
    # Execute
    dense, sp = fit("lr", p, g, [h]), fit("lr", p, gs, [hs])
    # Assert
    assert_same_model(dense, sp, 1, 1e-9)


def test_sparse_host_only_equals_dense() -> None:
    guest, host = breast()
    h = sparsified(host, 0.1, 3)
    p = lr_params(max_iter=3, batch_size=-1)
    assert_same_model(fit("lr", p, guest, [h]), fit("lr", p, guest, [h.to_sparse()]), 1, 1e-9)


@pytest.mark.parametrize("n_hosts", [1, 2])
def test_sparse_linr_equals_dense_plain(n_hosts: int) -> None:
    # Two hosts: the host's [d]ᵀ[x | f] product appends a dense column to the sparse batch
    guest, hosts, _ = regression_data("linr", m_h=(4,) if n_hosts == 1 else (4, 3))
    frames = [sparsified(f, 0.4, i) for i, f in enumerate([guest, *hosts])]
    dense_f, sparse_f = both_ways(frames)
    p = HeteroLinRParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.01,
            "optimizer": "sgd",
            "learning_rate": 0.15,
            "max_iter": 4,
            "batch_size": 100,
            "init_param": {"init_method": "zeros", "random_seed": 5},
            "encrypt_param": {"method": "plain", "key_length": 1024},
        }
    )
    dense = fit("linr", p, dense_f[0], dense_f[1:])
    sp = fit("linr", p, sparse_f[0], sparse_f[1:])
    assert_same_model(dense, sp, n_hosts, 1e-9)


def test_sparse_poisson_with_exposure_equals_dense() -> None:
    guest, hosts, _ = regression_data("poisson", n=200)
    names = [n for n in guest.feature_names if n != "exposure"]
    g = sparsified(guest.select_features(names), 0.5, 7)
    g = Frame(
        g.ids,
        np.hstack([g.features, guest.select_features(["exposure"]).features]),
        [*names, "exposure"],
        label=guest.label,
    )
    h = sparsified(hosts[0], 0.5, 8)
    p = HeteroPoissonParams.from_dict(
        {
            "penalty": "L2",
            "alpha": 0.1,
            "optimizer": "sgd",
            "learning_rate": 0.05,
            "max_iter": 3,
            "batch_size": -1,
            "init_param": {"init_method": "zeros", "random_seed": 5},
            "exposure_colname": "exposure",
            "encrypt_param": {"method": "plain", "key_length": 1024},
        }
    )
    dense = fit("poisson", p, g, [h])
    sp = fit("poisson", p, g.to_sparse(), [h.to_sparse()])
    assert_same_model(dense, sp, 1, 1e-9)


def test_sparse_paillier_equals_plain_bit_for_bit() -> None:
    # Prepare: a slice keeps 1024-bit Paillier fast
    guest, host = breast()
    g = sparsified(guest, 0.3, 1).take(np.arange(150)).to_sparse()
    h = sparsified(host, 0.3, 2).take(np.arange(150)).to_sparse()
    plain = lr_params(max_iter=2, batch_size=100)
    paillier = lr_params(max_iter=2, batch_size=100, encrypt_param={"method": "paillier", "key_length": 1024})
    # Execute
    a, b = fit("lr", plain, g, [h]), fit("lr", paillier, g, [h])
    # Assert
    assert a[G].coef == b[G].coef and a[G].intercept == b[G].intercept
    assert a[HOSTS[0]].coef == b[HOSTS[0]].coef
    assert a[A].loss_history == b[A].loss_history


def test_sparse_frame_predicts_like_dense() -> None:
    from fedloom.ml.hetero.lr import HeteroLRGuest, HeteroLRHost
    from fedloom.testing import run_parties

    guest, host = breast()
    h = sparsified(host, 0.3, 2)
    p = lr_params(max_iter=2, batch_size=-1)
    out = fit("lr", p, guest, [h])
    preds = []
    for hf in (h, h.to_sparse()):
        res = run_parties(
            {
                G: lambda c: HeteroLRGuest(p).predict(c, out[G], guest),
                HOSTS[0]: lambda c, hf=hf: HeteroLRHost(p).predict(c, out[HOSTS[0]], hf),
            },
            timeout=60,
        )
        preds.append(res[G])
    assert sparse.issparse(h.to_sparse().features)
    np.testing.assert_allclose(preds[1].score, preds[0].score, rtol=0, atol=1e-12)
