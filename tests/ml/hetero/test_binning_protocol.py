"""Hetero binning over the in-memory transport, checked against a centralised pandas computation.

The central side is written here, independently of the product code: bin index by
``np.searchsorted`` on the model's split points (or category lookup), counts by ``pd.crosstab``
on the joined table, FATE's WOE / IV rule in a few lines of numpy.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fedloom.context import Context
from fedloom.core.errors import ConfigError, MessageError
from fedloom.core.roles import PartyId
from fedloom.crypto.paillier import EncryptedVector
from fedloom.crypto.paillier.keys import PaillierPrivateKey
from fedloom.data.frame import Frame
from fedloom.ml.feature.optimal import OptimalBinningParams, optimal_groups
from fedloom.ml.hetero.binning import HeteroBinningGuest, HeteroBinningHost, records, transform
from fedloom.ml.hetero.binning import messages as msg
from fedloom.testing import run_parties

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
HOST2 = PartyId.parse("host:10001")
PAILLIER = {"method": "paillier", "key_length": 1024}
PLAIN = {"method": "plain", "key_length": 1024}


# -- central computation ---------------------------------------------------------------------------
def central_index(bins: dict, x: np.ndarray) -> np.ndarray:
    """Bin of each value from the stored bins dict: first split point >= x, NaN → missing bin."""
    out = np.empty(len(x), dtype=np.int64)
    nan = np.isnan(x)
    cats = bins.get("categories")
    if cats is not None:
        lookup = {float(c): i for i, c in enumerate(cats)}
        out[~nan] = [lookup[float(v)] for v in x[~nan]]
        n_value = len(cats)
    else:
        sp = np.asarray(bins["split_points"], dtype=np.float64)
        out[~nan] = np.minimum(np.searchsorted(sp, x[~nan], side="left"), len(sp) - 1)
        n_value = len(sp)
    out[nan] = n_value
    return out


def central_woe(events: np.ndarray, non_events: np.ndarray, adj: float = 0.5) -> tuple[np.ndarray, float]:
    e_tot, n_tot = max(events.sum(), 1), max(non_events.sum(), 1)
    er = events / e_tot
    nr = non_events / n_tot
    fix = (events == 0) | (non_events == 0)
    er = np.where(fix, (events + adj) / e_tot, er)
    nr = np.where(fix, (non_events + adj) / n_tot, nr)
    woe = np.log(er / nr)
    return woe, float(((er - nr) * woe).sum())


def central_counts(idx: np.ndarray, y: np.ndarray, n_bins: int, classes: list) -> pd.DataFrame:
    table = pd.crosstab(pd.Series(idx, name="bin"), pd.Series(y, name="y"))
    return table.reindex(index=range(n_bins), columns=classes, fill_value=0)


def check_column(stats: dict, counts: pd.DataFrame, classes: list, multi: bool) -> None:
    if not multi:
        events = counts[classes[-1]].to_numpy()
        non = counts.sum(axis=1).to_numpy() - events
        assert stats["event_count"] == events.tolist()
        assert stats["non_event_count"] == non.tolist()
        woe, iv = central_woe(events, non)
        np.testing.assert_allclose(stats["woe"], woe, rtol=0, atol=1e-12)
        assert math.isclose(stats["iv"], iv, rel_tol=0, abs_tol=1e-12)
        return
    for c in classes:
        s = stats[str(c)]
        events = counts[c].to_numpy()
        non = counts.sum(axis=1).to_numpy() - events
        assert s["event_count"] == events.tolist()
        assert s["non_event_count"] == non.tolist()
        woe, iv = central_woe(events, non)
        np.testing.assert_allclose(s["woe"], woe, rtol=0, atol=1e-12)
        assert math.isclose(s["iv"], iv, rel_tol=0, abs_tol=1e-12)


# -- data ----------------------------------------------------------------------------------------
def make_data(n: int, classes: int, seed: int = 0) -> tuple[Frame, Frame, Frame]:
    rng = np.random.default_rng(seed)
    ids = [f"id{i}" for i in range(n)]
    y = rng.integers(0, classes, n)
    xg = rng.normal(size=(n, 3)) + y[:, None] * 0.5
    xg[rng.random(n) < 0.1, 0] = np.nan
    xh = rng.normal(size=(n, 4)) - y[:, None] * 0.3
    xh[:, 2] = rng.integers(0, 4, n).astype(float)  # categorical host column
    xh[rng.random(n) < 0.15, 1] = np.nan
    xh[rng.random(n) < 0.8, 3] = 0.0  # sparse-like: the zero bin is the most frequent
    xh2 = rng.exponential(size=(n, 2)) + y[:, None]
    guest = Frame(ids, xg, ["g0", "g1", "g2"], label=y)
    return guest, Frame(ids, xh, ["h0", "h1", "h2", "h3"]), Frame(ids, xh2, ["k0", "k1"])


def run(guest_params: dict, hosts: dict, guest: Frame, timeout: float = 60.0) -> dict:
    fns = {GUEST: lambda ctx: (HeteroBinningGuest(guest_params).fit(ctx, guest), ctx.privacy.records())}
    for party, (params, frame) in hosts.items():
        fns[party] = (lambda p, f: lambda ctx: (HeteroBinningHost(p).fit(ctx, f), ctx.privacy.records()))(
            params, frame
        )
    return run_parties(fns, timeout=timeout)


# -- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_classes", "cipher"), [(2, PAILLIER), (3, PLAIN)])
def test_scores_equal_central_computation_two_hosts(n_classes: int, cipher: dict) -> None:
    # Prepare
    guest, host, host2 = make_data(400, n_classes)
    gp = {"bin_num": 5, "encrypt_param": cipher}
    hp = {"bin_num": 4, "category_indexes": [2], "encrypt_param": cipher}
    # Execute
    out = run(gp, {HOST: (hp, host), HOST2: ({"bin_num": 6, "encrypt_param": cipher}, host2)}, guest)
    gm = out[GUEST][0].to_dict()
    # Assert
    classes = sorted(set(guest.label.tolist()))
    multi = n_classes > 2
    assert gm["classes"] == classes and gm["multi_class"] is multi
    y = guest.label
    for j, name in enumerate(guest.feature_names):
        col = gm["columns"][name]
        idx = central_index(col["bins"], guest.features[:, j])
        check_column(col["stats"], central_counts(idx, y, _n_bins(col["bins"]), classes), classes, multi)
    for party, frame in ((HOST, host), (HOST2, host2)):
        hm = out[party][0].to_dict()
        for j, name in enumerate(frame.feature_names):
            anon = hm["anonymous"][name]
            assert anon == f"host_{party.id}_{j}"
            assert hm["columns"][name]["stats"] is None  # a host never holds label counts
            bins = hm["columns"][name]["bins"]
            idx = central_index(bins, frame.features[:, j])
            entry = gm["host_columns"][anon]
            assert entry["party"] == f"host-{party.id}"
            assert entry["n_bins"] == _n_bins(bins)
            check_column(entry["stats"], central_counts(idx, y, _n_bins(bins), classes), classes, multi)
    # work: [y] encrypted once for both hosts; decryptions = the packed sums received
    work = gm["work"]
    assert work["encryptions"] == guest.n_rows
    assert work["ciphertexts_sent"] == 2 * guest.n_rows
    assert work["decryptions"] == work["ciphertexts_received"]
    host_sent = sum(out[p][0].work.ciphertexts_sent for p in (HOST, HOST2))
    assert work["ciphertexts_received"] == host_sent
    assert out[HOST][0].work.ciphertexts_received == guest.n_rows


def _n_bins(bins: dict) -> int:
    n_value = len(bins["categories"]) if bins.get("categories") is not None else len(bins["split_points"])
    return n_value + bool(bins.get("has_missing"))


def expected_decryptions(n_sums: int, n_rows: int, label_slots: int, key_bits_capacity: int) -> int:
    slot = label_slots * n_rows.bit_length()
    return math.ceil(n_sums / (key_bits_capacity // slot))


def test_work_counts_and_packing_binary() -> None:
    # Prepare: 300 rows → 9-bit slots; a 1024-bit key holds 113 slots: every sum in one ciphertext
    guest, host, _ = make_data(300, 2, seed=1)
    params = {"bin_num": 10, "encrypt_param": PAILLIER}
    # Execute
    out = run(params, {HOST: (params, host)}, guest)
    gm, hm = out[GUEST][0], out[HOST][0]
    # Assert
    n_sums = sum(c.bins.n_bins - 1 for c in hm.columns.values())  # one derived bin per column
    assert gm.work.encryptions == 300
    assert gm.work.decryptions == expected_decryptions(n_sums, 300, 1, 1021) == 1
    assert hm.work.ciphertexts_sent == 1


def test_local_only_sends_nothing() -> None:
    guest, host, _ = make_data(200, 2)
    params = {"local_only": True, "encrypt_param": PLAIN}
    out = run(params, {HOST: (params, host)}, guest)
    gm, hm = out[GUEST][0], out[HOST][0]
    assert gm.host_columns == {} and gm.work.encryptions == 0
    assert out[GUEST][1] == [] and out[HOST][1] == []  # nothing received by anyone
    assert set(hm.columns) == set(host.feature_names)
    idx = central_index(gm.to_dict()["columns"]["g1"]["bins"], guest.features[:, 1])
    check_column(
        gm.to_dict()["columns"]["g1"]["stats"], central_counts(idx, guest.label, 10, [0, 1]), [0, 1], False
    )


def test_guest_refuses_a_column_it_lacks_before_sending_anything() -> None:
    guest, host, _ = make_data(50, 2)
    sent: list[str] = []

    def guest_fn(ctx: Context) -> None:
        original = ctx.send
        ctx.send = lambda channel, *a, **k: (sent.append(channel.name), original(channel, *a, **k))[1]  # type: ignore[method-assign]
        HeteroBinningGuest({"bin_names": ["nope"], "encrypt_param": PLAIN}).fit(ctx, guest)

    with pytest.raises(ConfigError, match="nope") as err:
        run_parties(
            {GUEST: guest_fn, HOST: lambda ctx: HeteroBinningHost({"encrypt_param": PLAIN}).fit(ctx, host)}
        )
    assert err.value.field == "bin_names"
    assert sent == []


def test_woe_returned_only_to_a_host_that_asked_and_transform() -> None:
    # Prepare: host 1 transforms h0, h1 by WOE; host 2 by bin index
    guest, host, host2 = make_data(300, 2, seed=2)
    ask = {
        "bin_num": 5,
        "encrypt_param": PLAIN,
        "transform_param": {"transform_cols": [0, 1], "transform_type": "woe"},
    }
    other = {"bin_num": 5, "encrypt_param": PLAIN}
    # Execute
    out = run({"bin_num": 5, "encrypt_param": PLAIN}, {HOST: (ask, host), HOST2: (other, host2)}, guest)
    gm, hm, hm2 = out[GUEST][0], out[HOST][0], out[HOST2][0]
    # Assert
    for name in ("h0", "h1"):
        col = hm.columns[name]
        assert col.woe_from_guest
        np.testing.assert_array_equal(col.woe, gm.host_columns[hm.anonymous[name]].stats.woe)
    assert not hm.columns["h2"].woe_from_guest and hm.columns["h2"].woe is None
    assert all(c.woe is None for c in hm2.columns.values())
    assert {r["channel"] for r in out[HOST2][1]} == {"setup", "public_key", "enc_labels"}
    woe_frame = transform(hm, host, [0, 1], None, "woe")
    idx = central_index(hm.to_dict()["columns"]["h0"]["bins"], host.features[:, 0])
    np.testing.assert_array_equal(woe_frame.features[:, 0], hm.columns["h0"].woe[idx])
    np.testing.assert_array_equal(woe_frame.features[:, 2:], host.features[:, 2:])
    with pytest.raises(Exception, match="transform_type"):
        transform(hm2, host2, -1, None, "woe")
    binned = transform(hm2, host2, -1, None, "bin_num")
    idx2 = central_index(hm2.to_dict()["columns"]["k1"]["bins"], host2.features[:, 1])
    np.testing.assert_array_equal(binned.features[:, 1], idx2)


def test_optimal_groups_of_host_column_equal_central() -> None:
    # Prepare
    guest, host, _ = make_data(600, 2, seed=3)
    opt = {"init_bin_nums": 20, "min_bin_pct": 0.05}
    hp = {
        "method": "optimal",
        "bin_num": 4,
        "optimal_binning_param": opt,
        "bin_indexes": [0, 1],
        "encrypt_param": PLAIN,
    }
    hp_fine = {"bin_num": 20, "bin_indexes": [0, 1], "local_only": True}
    # Execute
    out = run({"bin_num": 5, "encrypt_param": PLAIN}, {HOST: (hp, host)}, guest)
    fine = run_parties({HOST: lambda ctx: HeteroBinningHost(hp_fine).fit(ctx, host)})[HOST]
    gm, hm = out[GUEST][0], out[HOST][0]
    # Assert: the central groups from the fine bins' central counts, and the merged bins' counts
    y = guest.label
    for j, name in enumerate(("h0", "h1")):
        fb = fine.to_dict()["columns"][name]["bins"]
        idx = central_index(fb, host.features[:, j])
        n_value = len(fb["split_points"])
        counts = central_counts(idx, y, _n_bins(fb), [0, 1])
        ev, non = counts[1].to_numpy(), counts[0].to_numpy()
        groups = optimal_groups(
            ev[:n_value],
            non[:n_value],
            4,
            OptimalBinningParams(**opt),
            totals=(int(ev.sum()), int(non.sum())),
        )
        merged = hm.to_dict()["columns"][name]["bins"]
        assert merged["split_points"] == [fb["split_points"][g] for g in groups]
        midx = central_index(merged, host.features[:, j])
        check_column(
            gm.to_dict()["host_columns"][hm.anonymous[name]]["stats"],
            central_counts(midx, y, _n_bins(merged), [0, 1]),
            [0, 1],
            False,
        )


def test_host_sending_more_ciphertexts_is_refused_before_decrypting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: a host that appends one extra ciphertext ([y_0], a single label) to its sums
    guest, host, _ = make_data(200, 2)
    params = {"bin_num": 5, "encrypt_param": PAILLIER}
    decrypted: list[int] = []
    real = PaillierPrivateKey.decrypt_packed_raw
    monkeypatch.setattr(
        PaillierPrivateKey, "decrypt_packed_raw", lambda self, ev: decrypted.append(len(ev)) or real(self, ev)
    )

    def greedy_host(ctx):
        ctx.send(msg.HOST_SETUP, records.HostSetup(_digest(host), 200, 1).to_wire())
        ctx.recv(msg.SETUP)
        pk = ctx.recv_public_key(msg.PUBLIC_KEY, scheme="paillier", min_bits=1024)
        enc = ctx.recv(msg.ENC_LABELS)
        bins = np.array([100, 100])
        sums = EncryptedVector.concat([enc[0:1], enc[1:2]]).rerandomize()
        wire = records.HostBins(
            ["host_10000_0"], np.array([2]), bins, np.array([0]), [], None, sums
        ).to_wire()
        ctx.send(msg.HOST_BINS, wire)
        assert pk is not None

    # Execute / Assert
    with pytest.raises(MessageError, match="2 packed ciphertexts"):
        run_parties(
            {GUEST: lambda ctx: HeteroBinningGuest(params).fit(ctx, guest), HOST: greedy_host}, timeout=30
        )
    assert decrypted == []


def _digest(frame: Frame) -> str:
    from fedloom.ml.hetero.alignment import ids_digest

    return ids_digest(frame.ids)


def test_sums_reaching_the_guest_are_rerandomised(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: record what rerandomize() got and returned, and what the guest received
    guest, host, _ = make_data(150, 2)
    params = {"bin_num": 4, "encrypt_param": PAILLIER}
    calls: list[tuple[list, list]] = []
    real = EncryptedVector.rerandomize

    def spy(self: EncryptedVector) -> EncryptedVector:
        out = real(self)
        calls.append((list(self.ciphertexts), list(out.ciphertexts)))
        return out

    monkeypatch.setattr(EncryptedVector, "rerandomize", spy)
    received: list[list] = []
    real_from_wire = records.HostBins.from_wire.__func__

    def capture(cls, value, sender, **kw):
        received.append(list(value["sums"].ciphertexts))
        return real_from_wire(cls, value, sender, **kw)

    monkeypatch.setattr(records.HostBins, "from_wire", classmethod(capture))
    # Execute
    out = run(params, {HOST: (params, host)}, guest)
    # Assert: the guest got exactly rerandomize()'s output, which differs from its input (the
    # deterministic product of the received [y]) in every ciphertext
    assert len(received) == 1 and len(calls) == 1
    before, after = calls[0]
    assert received[0] == after
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert out[GUEST][0].host_columns


def test_privacy_ledger_records_what_each_party_learns() -> None:
    guest, host, _ = make_data(120, 2)
    params = {"bin_num": 3, "encrypt_param": PLAIN}
    out = run(params, {HOST: (params, host)}, guest)
    guest_ledger = {r["channel"]: r for r in out[GUEST][1]}
    host_ledger = {r["channel"]: r for r in out[HOST][1]}
    assert set(guest_ledger) == {"host_setup", "host_bins"}
    assert guest_ledger["host_bins"]["disclosure"] == msg.HOST_BINS.disclosure
    assert "event count" in guest_ledger["host_bins"]["disclosure"]
    assert host_ledger["enc_labels"]["disclosure"].startswith("ciphertext only")
    assert set(host_ledger) == {"setup", "public_key", "enc_labels"}  # no WOE asked, none sent
