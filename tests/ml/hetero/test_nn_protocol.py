"""Hetero NN protocol properties: every ciphertext the host decrypts was re-randomised by the
guest; malformed messages are refused before anything is decrypted; the privacy ledger records
what each party received, under the channels' disclosures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_nn_tasks import ADAM, GUEST, HOSTS, _confs, _data  # noqa: E402

from fedloom.context import Context  # noqa: E402
from fedloom.core.errors import ConfigError, MessageError  # noqa: E402
from fedloom.crypto.cipher import generate_keypair  # noqa: E402
from fedloom.crypto.paillier import plain as plain_cipher  # noqa: E402
from fedloom.crypto.paillier.sender import SenderObfuscator  # noqa: E402
from fedloom.ml.hetero.alignment import ids_digest  # noqa: E402
from fedloom.ml.hetero.nn import HeteroNNGuest, HeteroNNHost  # noqa: E402
from fedloom.ml.hetero.nn import messages as msg  # noqa: E402
from fedloom.ml.hetero.nn import protocol as pr  # noqa: E402
from fedloom.testing import run_parties  # noqa: E402

HOST = HOSTS[0]


def _run(gp: dict, hp: dict, n: int = 120) -> dict:
    guest, (host,) = _data(n, "binary", 1)
    return run_parties(
        {
            GUEST: lambda ctx: (HeteroNNGuest(gp).fit(ctx, guest), ctx.privacy.records()),
            HOST: lambda ctx: (HeteroNNHost(hp).fit(ctx, host), ctx.privacy.records()),
        },
        timeout=120,
    )


def test_every_ciphertext_to_the_key_owner_is_rerandomised(monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: Paillier; record the guest's re-randomisations and what the host checks on receipt
    gp, hp = _confs("binary", 1, ADAM, batch_size=30)
    gp["encrypt_param"] = hp["encrypt_param"] = {"method": "paillier", "key_length": 1024}
    applied: list[tuple[list[Any], list[Any]]] = []
    received: list[list[Any]] = []
    apply, check = SenderObfuscator.apply, pr.check_vector

    def spy_apply(self: SenderObfuscator, cs: list[Any]) -> list[Any]:
        out = apply(self, cs)
        applied.append((list(cs), list(out)))
        return out

    def spy_check(v: Any, key: Any, length: int, frac: int, what: str, party: str) -> Any:
        if party.startswith("host"):
            received.append(list(v.ciphertexts))
        return check(v, key, length, frac, what, party)

    monkeypatch.setattr(SenderObfuscator, "apply", spy_apply)
    monkeypatch.setattr(pr, "check_vector", spy_check)
    # Execute
    out = _run(gp, hp, n=60)
    # Assert: each received vector is exactly one re-randomisation's output, which differs from
    # its input (the deterministic masked product) in every ciphertext
    outputs = [after for _, after in applied]
    assert received and all(r in outputs for r in received)
    assert all(all(a != b for a, b in zip(before, after, strict=True)) for before, after in applied)
    gw, hw = out[GUEST][0].work, out[HOST][0].work
    assert gw["rerandomized"] == hw["decryptions"] == sum(len(r) for r in received)


def _fake_guest(bad: str) -> Any:
    """A guest that follows the protocol up to the first FORWARD_MASKED, then sends ``bad``."""

    def run(ctx: Context) -> None:
        guest, _ = _data(40, "binary", 1)
        ctx.recv(msg.HOST_SETUP)
        pk = ctx.recv(msg.PUBLIC_KEY)
        ctx.keyring.add(pk)
        ctx.send(
            msg.SETUP,
            {"ids": ids_digest(guest.ids), "rows": 40, "validate_ids": None, "out_dim": 3, "precision": 40},
        )
        sctx = ctx.sub("step", 0)
        sctx.send(msg.COMMAND, {"op": "epoch", "epoch": 0})
        bctx = sctx.sub("batch", 0)
        fwd = bctx.recv(msg.HOST_FORWARD)
        lay = pr.Layout(int(pk.n).bit_length(), 40, 2, 3)
        good = fwd["alpha"][: lay.groups(40)]
        value: Any = {
            "short": good[:-1],
            "other_key": plain_cipher.generate_keypair(1024)[0].encrypt_ints([1] * len(good)),
            "scale": type(good)(good.public_key, list(good.ciphertexts), 23),
            "not_a_vector": b"\x00" * 64,
        }[bad]
        bctx.sub("part", 0).send(msg.FORWARD_MASKED, value)

    return run


@pytest.mark.parametrize("bad", ["short", "other_key", "scale", "not_a_vector"])
def test_malformed_forward_refused_before_decryption(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: count the host's decryptions
    calls: list[int] = []
    decrypt = plain_cipher.PlainPrivateKey.decrypt_packed_raw

    def counting(self: Any, v: Any) -> list[int]:
        calls.append(len(v))
        return decrypt(self, v)

    monkeypatch.setattr(plain_cipher.PlainPrivateKey, "decrypt_packed_raw", counting)
    _, hp = _confs("binary", 1, ADAM, batch_size=40)
    _, (host,) = _data(40, "binary", 1)
    # Execute / Assert
    with pytest.raises(MessageError) as err:
        run_parties({GUEST: _fake_guest(bad), HOST: lambda ctx: HeteroNNHost(hp).fit(ctx, host)}, timeout=30)
    # Refused by the host's checks (or, for a key it does not know, when decoding the message)
    where = "key_fingerprint" if bad == "other_key" else "forward_masked"
    assert where in str(err.value)
    assert calls == []


def test_privacy_ledger_records_what_each_party_learns() -> None:
    gp, hp = _confs("binary", 1, ADAM)
    out = _run(gp, hp)
    guest_ledger = {r["channel"]: r for r in out[GUEST][1]}
    host_ledger = {r["channel"]: r for r in out[HOST][1]}
    assert set(guest_ledger) == {
        "host_setup",
        "public_key",
        "host_forward",
        "forward_unmasked",
        "backward_unmasked",
    }
    assert set(host_ledger) == {"setup", "command", "forward_masked", "backward_masked"}
    for channel in msg.ALL:
        ledger = guest_ledger if channel.name in guest_ledger else host_ledger
        assert ledger[channel.name]["disclosure"] == channel.disclosure
    assert guest_ledger["host_forward"]["disclosure"].startswith("ciphertext only")
    batches = 3  # 120 rows in batches of 40
    assert guest_ledger["forward_unmasked"]["messages"] == batches
    assert host_ledger["forward_masked"]["messages"] == batches * 3  # one per output unit
    assert "nothing" in host_ledger["forward_masked"]["disclosure"]
    assert np.isfinite(out[GUEST][0].history["loss"][0])


def test_layout_packs_and_refuses_a_key_too_small() -> None:
    lay = pr.Layout(1024, 23, 4, 4).check("guest")
    # FATE's 23-bit precision at 1024 bits: 107-bit masked slots, 9 rows per ciphertext;
    # 68-bit input-gradient slots, 3 rows of 4 features per ciphertext
    assert (lay.slot, lay.rows_per_ct, lay.in_slot, lay.in_chunk, lay.in_rows) == (107, 9, 68, 4, 3)
    assert lay.slot * lay.rows_per_ct <= 1022 and lay.in_slot * 4 * lay.in_rows <= 1022
    wide = pr.Layout(1024, 23, 20, 4)  # 20 features: split into chunks of 15
    assert (wide.in_chunk, wide.in_chunks, wide.in_rows) == (15, 2, 1)
    with pytest.raises(ConfigError, match="floating_point_precision"):
        pr.Layout(128, 52, 2, 3).check("guest")
    assert generate_keypair("plain", 1024)[0].n.bit_length() == 1024


@pytest.mark.parametrize(("method", "k_dim"), [("paillier", 4), ("plain", 20), ("paillier", 20)])
def test_packed_products_equal_numpy(method: str, k_dim: int) -> None:
    """The guest's three packed products, decrypted and unpacked, against numpy: forward
    ``α·W`` (negative weights too), the weight gradient's diagonal slots, the input gradient in
    several feature chunks."""
    # Prepare
    _, sk = generate_keypair(method, 1024)
    rng = np.random.default_rng(2)
    rows, out, p = 23, 3, 23
    lay = pr.Layout(1024, p, k_dim, out).check("guest")
    alpha, w = rng.normal(size=(rows, k_dim)), rng.normal(size=(k_dim, out))
    acc, delta = rng.normal(size=(k_dim, out)), rng.normal(size=(rows, out)) * 0.1
    work, groups, per = pr.Work(), lay.groups(rows), lay.rows_per_ct
    enc = pr.encrypt_ints(sk, pr.pack(pr.fixed(alpha, p), per, lay.slot), None, work)
    bases = [
        sum(
            int(pr.fixed(acc, p)[k, j]) << (lay.in_slot * (lay.in_chunk * r + k - c * lay.in_chunk))
            for k in range(c * lay.in_chunk, min((c + 1) * lay.in_chunk, k_dim))
        )
        for j in range(out)
        for c in range(lay.in_chunks)
        for r in range(lay.in_rows)
    ]
    enc_acc = pr.encrypt_ints(sk, bases, None, work)
    d_int = np.rint(np.ldexp(delta, p)).astype(np.int64)
    offset = [lay.value_offset] * 10_000

    def slots(v: Any) -> np.ndarray:
        v = pr.add_ints(v, pr.join_slots(offset[: len(v) * per], per, lay.slot))
        flat = [s - lay.value_offset for u in sk.decrypt_packed_raw(v) for s in pr.unpack(u, per, lay.slot)]
        return np.ldexp(np.array(flat, dtype=float), -lay.scale)

    # Execute
    z = slots(pr.forward_product(enc, groups, pr.fixed(w, p), work)).reshape(out, groups * per)[:, :rows].T
    g = slots(pr.weight_gradient(enc, lay, groups, d_int, work)).reshape(k_dim * out, per, per)
    g_diag = np.einsum("trr->t", g).reshape(k_dim, out)
    plain = pr.fixed(delta @ w.T, lay.scale)
    ing = pr.decode_input(
        sk.decrypt_packed_raw(pr.input_gradient(enc_acc, lay, d_int, plain, work)), lay, rows
    )
    # Assert: fixed-point rounding at 2^-24 per factor
    np.testing.assert_allclose(z, alpha @ w, atol=1e-5)
    np.testing.assert_allclose(g_diag, alpha.T @ delta, atol=1e-5)
    np.testing.assert_allclose(ing, delta @ (w + acc).T, atol=1e-5)
