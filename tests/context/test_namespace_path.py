"""NamespacePath: an algorithm's loop nesting declared once, so every role builds the same addresses."""

from __future__ import annotations

import pytest

from fedloom.context import Channel, Context, NamespacePath
from fedloom.core import GUEST, HOST, ConfigError, PartyId, ProtocolError
from fedloom.transport.memory import MemoryHub

PING = Channel("ping", src=GUEST, dst=HOST)
EPOCH = NamespacePath("class", "epoch")
BATCH = EPOCH.then("batch")
SETUP = NamespacePath("setup", indexed=False)


def make_ctx() -> Context:
    me, peer = PartyId.parse("guest:9999"), PartyId.parse("host:10000")
    return Context(me, [peer], MemoryHub().connect(me), job_id="j42").sub("hetero_lr_0").sub("fit")


def test_at_builds_the_hand_written_address() -> None:
    ctx = make_ctx()
    by_hand = ctx.sub("class", 1).sub("epoch", 3).sub("batch", 0)
    declared = BATCH.at(ctx, 1, 3, 0)
    assert declared.namespace == by_hand.namespace == ("hetero_lr_0", "fit", "class-1", "epoch-3", "batch-0")
    assert declared.address(PING, ctx.party, ctx.peers[0]) == (
        "j42/hetero_lr_0/fit/class-1/epoch-3/batch-0/ping/guest:9999->host:10000"
    )
    assert SETUP.at(ctx).namespace[-1] == "setup"
    assert SETUP.then("round").at(ctx, 2).namespace[-2:] == ("setup", "round-2")


def test_within_goes_one_level_down_from_the_parent_only() -> None:
    ctx = make_ctx()
    ectx = EPOCH.at(ctx, 0, 4)
    assert BATCH.within(ectx, 7).namespace == BATCH.at(ctx, 0, 4, 7).namespace
    with pytest.raises(ProtocolError, match=r"entered from a context at class-<i>/epoch-<i>; this one is at"):
        BATCH.within(ctx.sub("class", 0), 7)  # the epoch level left out
    with pytest.raises(ProtocolError, match=r"entered from a context"):
        BATCH.within(BATCH.at(ctx, 0, 4, 7), 8)  # one level too deep
    with pytest.raises(ProtocolError, match=r"no parent path"):
        EPOCH.within(ctx, 1)


def test_wrong_indices_fail_before_anything_is_sent() -> None:
    ctx = make_ctx()
    with pytest.raises(ProtocolError, match=r"needs 3 index\(es\) here \(class, epoch, batch\)\. Got 2"):
        BATCH.at(ctx, 0, 1)
    with pytest.raises(ProtocolError, match=r"needs 1 index\(es\) here \(batch\)"):
        BATCH.within(EPOCH.at(ctx, 0, 1), 2, 3)
    for bad in (-1, True, 1.5, "2"):
        with pytest.raises(ProtocolError, match=r"index of namespace level 'class' must be an int >= 0"):
            EPOCH.at(ctx, bad, 0)  # type: ignore[arg-type]


def test_bad_declarations_fail_at_import() -> None:
    for bad in ("", "epoch-1", "a/b", "has space"):
        with pytest.raises(ConfigError, match="namespace levels are"):
            NamespacePath(bad)
    with pytest.raises(ConfigError, match="at least one level"):
        NamespacePath()


def test_paths_read_and_compare_by_their_levels() -> None:
    assert str(BATCH) == "class-<i>/epoch-<i>/batch-<i>"
    assert NamespacePath("class", "epoch", "batch") == BATCH
    assert BATCH.arity == 3 and SETUP.arity == 0
    assert BATCH.ends(("fit", "class-0", "epoch-12", "batch-3"))
    assert not BATCH.ends(("fit", "class-0", "epoch-12", "batches-3"))
    assert not BATCH.ends(("class-0", "epoch-x", "batch-3"))
