"""Public keys are accepted only explicitly and pinned per job step; the privacy ledger counts."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import fedloom
from fedloom.context import Channel, Context
from fedloom.context.privacy import is_opaque
from fedloom.core import ARBITER, GUEST, MessageError
from fedloom.crypto.cipher import generate_keypair
from fedloom.testing import run_parties

KEY = Channel("key", src=ARBITER, dst=GUEST, disclosure="the job's public key")
VALUES = Channel("values", src=ARBITER, dst=GUEST, disclosure="ciphertext only")
CLEAR = Channel("clear", src=ARBITER, dst=GUEST, disclosure="the arbiter's test vector")


def _arbiter_sends(*keys: object, then: object = None) -> dict[object, object]:
    """Run an arbiter that sends ``keys`` on KEY (one per step) and ``then`` on VALUES."""

    def arbiter(ctx: Context) -> None:
        for i, key in enumerate(keys):
            ctx.sub("step").sub("k", i).send(KEY, key)
        if then is not None:
            ctx.sub("step").send(VALUES, then)

    return {ARBITER: arbiter}


def test_a_received_key_decodes_nothing_until_accepted() -> None:
    pk, _ = generate_keypair("plain", 1024)

    def guest(ctx: Context) -> None:
        ctx.sub("step").sub("k", 0).recv(KEY)  # received, but not accepted
        with pytest.raises(MessageError, match="does not know"):
            ctx.sub("step").recv(VALUES)

    run_parties({**_arbiter_sends(pk, then=pk.encrypt(np.arange(3.0))), GUEST: guest})


def test_accepted_key_decodes_and_a_second_key_in_the_step_is_refused() -> None:
    pk, _ = generate_keypair("plain", 1024)
    other, _ = generate_keypair("plain", 1024)

    def guest(ctx: Context) -> int:
        step = ctx.sub("step")
        step.sub("k", 0).recv_public_key(KEY, scheme="plain", min_bits=1024)
        with pytest.raises(MessageError, match="one key per job step"):
            step.sub("k", 1).recv_public_key(KEY, scheme="plain", min_bits=1024)
        return len(step.recv(VALUES))

    out = run_parties({**_arbiter_sends(pk, other, then=pk.encrypt(np.arange(3.0))), GUEST: guest})
    assert out[GUEST] == 3


@pytest.mark.parametrize(
    ("scheme", "min_bits", "match"),
    [("paillier", 1024, "expected a paillier public key"), ("plain", 2048, "at least 2048")],
)
def test_a_key_of_another_scheme_or_too_short_is_refused(scheme: str, min_bits: int, match: str) -> None:
    pk, _ = generate_keypair("plain", 1024)

    def guest(ctx: Context) -> None:
        with pytest.raises(MessageError, match=match):
            ctx.sub("step").sub("k", 0).recv_public_key(KEY, scheme=scheme, min_bits=min_bits)

    run_parties({**_arbiter_sends(pk), GUEST: guest})


def test_ledger_counts_messages_elements_and_bytes_per_channel(tmp_path: Path) -> None:
    def arbiter(ctx: Context) -> None:
        for i in range(3):
            ctx.sub("comp").sub("round", i).send(CLEAR, np.zeros(5))

    def guest(ctx: Context) -> tuple[list[dict[str, object]], str]:
        for i in range(3):
            ctx.sub("comp").sub("round", i).recv(CLEAR)
        ctx.privacy.write(tmp_path / "privacy.json")
        return ctx.privacy.records(), ctx.privacy.summary()

    out = run_parties({ARBITER: arbiter, GUEST: guest})
    records, summary = out[GUEST]
    assert len(records) == 1
    rec = records[0]
    assert (rec["component"], rec["channel"], rec["from"]) == ("comp", "clear", "arbiter:10000")
    assert (rec["messages"], rec["elements"]) == (3, 15)
    assert rec["disclosure"] == "the arbiter's test vector"
    assert isinstance(rec["bytes"], int) and rec["bytes"] >= 3 * 40
    assert summary.startswith("guest:9999 received 3 messages on 1 channels")
    assert summary.endswith("in clear on 1: clear")
    assert json.loads((tmp_path / "privacy.json").read_text())["received"] == records


def test_every_channel_of_the_product_declares_its_disclosure() -> None:
    undeclared: list[str] = []
    found = 0
    for mod in pkgutil.walk_packages(fedloom.__path__, "fedloom."):
        if not mod.name.endswith(".messages"):
            continue
        module = importlib.import_module(mod.name)
        for name, value in vars(module).items():
            if isinstance(value, Channel):
                found += 1
                if not value.disclosure:
                    undeclared.append(f"{mod.name}.{name}")
    assert found >= 30
    assert undeclared == []


@pytest.mark.parametrize(
    ("disclosure", "opaque"),
    [
        ("ciphertext only ([d] per row)", True),
        ("Xᵀd + uniform mask: nothing", True),
        ("nothing", True),
        ("intersection ids", False),
        ("blinded ids: the id count only", False),
        ("the job's public key (n); nothing else", False),
    ],
)
def test_opaque_disclosures_are_counted_not_listed(disclosure: str, opaque: bool) -> None:
    assert is_opaque(disclosure) is opaque
