"""Hetero SecureBoost protocol properties: who holds what, message checks, privacy ledger,
validation / early stopping, warm start, complete_secure, feature importance, parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedloom.core.errors import ConfigError, MessageError
from fedloom.core.roles import PartyId
from fedloom.crypto.paillier import EncryptedVector
from fedloom.crypto.paillier.keys import PaillierPrivateKey
from fedloom.data.frame import Frame
from fedloom.ml.hetero.secureboost import (
    HeteroSecureBoostGuest,
    HeteroSecureBoostHost,
    HeteroSecureBoostParams,
    SecureBoostModel,
    records,
)
from fedloom.ml.hetero.secureboost import messages as msg
from fedloom.testing import run_parties

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
PLAIN = {"method": "plain", "key_length": 1024}
PAILLIER = {"method": "paillier", "key_length": 1024}
FATE = Path("/work/shared/fate_examples/dsl_v2/hetero_secureboost")


def make_data(n: int = 300, seed: int = 0) -> tuple[Frame, Frame]:
    rng = np.random.default_rng(seed)
    ids = [f"id{i}" for i in range(n)]
    xg = rng.normal(size=(n, 3))
    xh = rng.normal(size=(n, 4))
    y = (xg[:, 0] + xh[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return Frame(ids, xg, ["g0", "g1", "g2"], label=y), Frame(ids, xh, ["h0", "h1", "h2", "h3"])


def params(**extra: object) -> dict:
    p: dict = {"num_trees": 2, "bin_num": 8, "encrypt_param": PLAIN, "n_iter_no_change": False}
    p.update(extra)
    return p


def run(p: dict, guest: Frame, host: Frame, *, gv=None, hv=None, ginit=None, hinit=None) -> dict:
    return run_parties(
        {
            GUEST: lambda ctx: (HeteroSecureBoostGuest(p).fit(ctx, guest, gv, ginit), ctx.privacy.records()),
            HOST: lambda ctx: (HeteroSecureBoostHost(p).fit(ctx, host, hv, hinit), ctx.privacy.records()),
        },
        timeout=60,
    )


def test_guest_model_has_no_host_threshold_and_host_model_no_leaf() -> None:
    guest, host = make_data()
    out = run(params(), guest, host)
    gm, hm = out[GUEST][0], out[HOST][0]
    host_nodes = [nd for t in gm.trees for nd in t.nodes if nd.owner == "host-10000"]
    assert host_nodes, "the host should win some splits on this data"
    assert all(nd.feature is None and nd.bin is None and nd.threshold is None for nd in host_nodes)
    assert all(not nd.is_leaf and nd.weight is None for t in hm.trees for nd in t.nodes)
    for t_g, t_h in zip(gm.trees, hm.trees, strict=True):
        assert {nd.id for nd in t_g.nodes if nd.owner == "host-10000"} == {nd.id for nd in t_h.nodes}
        assert all(nd.threshold is not None for nd in t_h.nodes)
    # Round trip of both models
    for m in (gm, hm):
        again = SecureBoostModel.from_dict(json.loads(json.dumps(m.to_dict())))
        assert again.to_dict() == json.loads(json.dumps(m.to_dict()))
    assert any(k.startswith("host_10000_") for k in gm.feature_importance)
    assert hm.anonymous == {f"h{i}": f"host_10000_{i}" for i in range(4)}


def test_host_sending_an_extra_ciphertext_is_refused_before_decryption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guest, host = make_data(120)
    decrypted: list[int] = []
    real = PaillierPrivateKey.decrypt_packed_raw
    monkeypatch.setattr(
        PaillierPrivateKey, "decrypt_packed_raw", lambda self, ev: decrypted.append(len(ev)) or real(self, ev)
    )
    real_wire = records.HostSplits.to_wire

    def greedy(self: records.HostSplits) -> dict:
        wire = real_wire(self)
        first = wire["sums"][0]
        wire["sums"][0] = EncryptedVector.concat([first, first[:1]])
        return wire

    monkeypatch.setattr(records.HostSplits, "to_wire", greedy)
    with pytest.raises(MessageError, match="integer ones were expected"):
        run(params(encrypt_param=PAILLIER, num_trees=1), guest, host)
    assert decrypted == []


def test_candidates_reaching_the_guest_are_rerandomised(monkeypatch: pytest.MonkeyPatch) -> None:
    guest, host = make_data(120)
    calls: list[tuple[list, list]] = []
    real = EncryptedVector.rerandomize

    def spy(self: EncryptedVector) -> EncryptedVector:
        out = real(self)
        calls.append((list(self.ciphertexts), list(out.ciphertexts)))
        return out

    monkeypatch.setattr(EncryptedVector, "rerandomize", spy)
    received: list[list] = []
    real_from = records.HostSplits.from_wire.__func__  # type: ignore[attr-defined]

    def capture(cls, value, sender, **kw):
        received.append([c for v in value["sums"] for c in v.ciphertexts])
        return real_from(cls, value, sender, **kw)

    monkeypatch.setattr(records.HostSplits, "from_wire", classmethod(capture))
    out = run(params(encrypt_param=PAILLIER, num_trees=1), guest, host)
    assert received and len(received) == len(calls)
    for got, (before, after) in zip(received, calls, strict=True):
        assert got == after
        assert all(a != b for a, b in zip(before, after, strict=True))
    assert out[GUEST][0].work["decryptions"] == sum(len(r) for r in received)


def test_privacy_ledger_records_the_disclosures() -> None:
    guest, host = make_data(150)
    out = run(params(num_trees=1), guest, host)
    g_ledger = {r["channel"]: r for r in out[GUEST][1]}
    h_ledger = {r["channel"]: r for r in out[HOST][1]}
    assert set(g_ledger) == {"host_setup", "host_splits", "host_left"}
    assert set(h_ledger) == {"setup", "public_key", "command", "enc_gh", "nodes", "split_choice"}
    assert g_ledger["host_splits"]["disclosure"] == msg.HOST_SPLITS.disclosure
    assert "left sums" in g_ledger["host_splits"]["disclosure"]
    assert "membership" in h_ledger["nodes"]["disclosure"]
    assert "ciphertexts" in h_ledger["enc_gh"]["disclosure"]


def test_validation_early_stopping_and_convergence() -> None:
    guest, host = make_data(300)
    gv, hv = make_data(300, seed=1)
    # validation every round with early stopping after 1 stale round; many rounds allowed
    p = params(num_trees=8, validation_freqs=1, early_stopping_rounds=1, metrics=["auc"])
    out = run(p, guest, host, gv=gv, hv=hv)
    gm = out[GUEST][0]
    rounds = gm.history["validation"]
    assert [r["round"] for r in rounds] == list(range(len(gm.trees)))
    assert all(0.5 < r["metrics"]["auc"] <= 1.0 for r in rounds)
    assert len(gm.trees) == len(out[HOST][0].trees)
    aucs = [r["metrics"]["auc"] for r in rounds]
    if len(gm.trees) < 8:  # stopped early: the last round did not improve on the best
        assert aucs[-1] <= max(aucs[:-1])
    # n_iter_no_change with a huge tol stops after the second round
    out2 = run(params(num_trees=6, n_iter_no_change=True, tol=10.0), guest, host)
    assert len(out2[GUEST][0].trees) == 2


def test_warm_start_continues_and_equals_one_longer_run() -> None:
    guest, host = make_data(250)
    full = run(params(num_trees=4), guest, host)
    first = run(params(num_trees=2), guest, host)
    more = run(params(num_trees=4), guest, host, ginit=first[GUEST][0], hinit=first[HOST][0])
    a, b = full[GUEST][0], more[GUEST][0]
    assert len(b.trees) == 4
    for ta, tb in zip(a.trees, b.trees, strict=True):
        for na, nb in zip(ta.nodes, tb.nodes, strict=True):
            assert (na.owner, na.feature, na.bin, na.is_leaf) == (nb.owner, nb.feature, nb.bin, nb.is_leaf)
            if na.is_leaf:
                np.testing.assert_allclose(na.weight, nb.weight, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=0, atol=1e-12)


def test_complete_secure_first_tree_uses_guest_features_only_and_subsampling() -> None:
    guest, host = make_data(250)
    out = run(params(num_trees=2, complete_secure=True, subsample_feature_rate=0.5), guest, host)
    gm, hm = out[GUEST][0], out[HOST][0]
    assert all(nd.owner == "guest" for nd in gm.trees[0].nodes)
    assert hm.trees[0].nodes == []
    used = {nd.feature for t in gm.trees for nd in t.nodes if nd.owner == "guest" and not nd.is_leaf}
    assert len(used) >= 1


def test_prediction_and_multi_class_labels() -> None:
    rng = np.random.default_rng(4)
    n = 240
    ids = [f"r{i}" for i in range(n)]
    xg, xh = rng.normal(size=(n, 2)), rng.normal(size=(n, 3))
    y = np.array(["a", "b", "c"])[np.digitize(xg[:, 0] + xh[:, 0], [-0.5, 0.5])]
    guest, host = Frame(ids, xg, ["x0", "x1"], label=y), Frame(ids, xh, ["z0", "z1", "z2"])
    p = params(num_trees=3, multi_mode="MultiOutput")
    out = run_parties(
        {
            GUEST: lambda ctx: HeteroSecureBoostGuest(p).predict(
                ctx.sub("p"), HeteroSecureBoostGuest(p).fit(ctx, guest), guest
            ),
            HOST: lambda ctx: HeteroSecureBoostHost(p).predict(
                ctx.sub("p"), HeteroSecureBoostHost(p).fit(ctx, host), host
            ),
        },
        timeout=60,
    )
    pred = out[GUEST]
    assert pred.task == "multi" and pred.classes == ["a", "b", "c"]
    np.testing.assert_allclose(pred.score.sum(axis=1), 1.0)
    assert (pred.result == y).mean() > 0.7


def test_params_fate_confs_and_errors() -> None:
    for conf in FATE.glob("*train*conf.json"):
        common = json.loads(conf.read_text())["component_parameters"]["common"]
        for name, values in common.items():
            if name.startswith("hetero_secure_boost"):
                HeteroSecureBoostParams.from_dict(values)
    with pytest.raises(ConfigError, match=r"tree_param\.max_depth"):
        HeteroSecureBoostParams.from_dict({"tree_param": {"max_depth": 0}})
    with pytest.raises(ConfigError, match="objective"):
        HeteroSecureBoostParams.from_dict(
            {"task_type": "regression", "objective_param": {"objective": "cross_entropy"}}
        )
    p = HeteroSecureBoostParams.from_dict({"tree_param": {"criterion_params": [1.0, 0.5]}})
    assert (p.tree_param.l2, p.tree_param.l1) == (1.0, 0.5)
