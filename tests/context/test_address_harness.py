"""The address harness of run_parties: namespace mismatches fail fast, naming both addresses."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fedloom.context import Channel, Context, NamespacePath
from fedloom.core import GUEST, HOST, PartyTimeoutError
from fedloom.testing import AddressMismatchError, UnreadMessagesError, run_parties

PING = Channel("ping", src=GUEST, dst=HOST)
PONG = Channel("pong", src=HOST, dst=GUEST)
EPOCH = NamespacePath("epoch")
BATCH = EPOCH.then("batch")


def test_a_sender_that_finished_without_the_message_fails_the_recv_at_once() -> None:
    # Prepare: the guest sends at epoch-1, the host waits at "epoch1" (hand-built, mistyped)
    def guest(ctx: Context) -> None:
        ctx.sub("epoch", 1).send(PING, np.arange(3.0))

    def host(ctx: Context) -> None:
        ctx.sub("epoch1").recv(PING)

    # Execute
    t0 = time.monotonic()
    with pytest.raises(AddressMismatchError) as err:
        run_parties({GUEST: guest, HOST: host}, timeout=600)
    # Assert: well before the timeout, naming the address waited on and the one sent
    assert time.monotonic() - t0 < 2
    msg = str(err.value)
    assert "recv 'test/epoch1/ping/guest:9999->host:10000': no matching send" in msg
    assert "nearest sent: 'test/epoch-1/ping/guest:9999->host:10000'" in msg
    assert "guest:9999 finished without sending it" in msg
    assert isinstance(err.value, PartyTimeoutError)  # what a plain run would have raised, later


def test_a_deadlock_of_running_parties_fails_fast_with_both_address_lists() -> None:
    # Prepare: both stay in the protocol (the guest waits for an answer), "batch" vs "batches"
    def guest(ctx: Context) -> float:
        ectx = ctx.sub("epoch", 0)
        ectx.sub("batch", 0).send(PING, np.arange(3.0))
        return float(ectx.sub("batch", 0).recv(PONG))

    def host(ctx: Context) -> None:
        bctx = ctx.sub("epoch", 0).sub("batches", 0)
        bctx.send(PONG, bctx.recv(PING).sum())

    # Execute
    t0 = time.monotonic()
    with pytest.raises(AddressMismatchError) as err:
        run_parties({GUEST: guest, HOST: host}, timeout=600)
    elapsed = time.monotonic() - t0
    # Assert: fast, and the message and its note name both ends' addresses, nearest first
    assert elapsed < 2
    text = "\n".join([str(err.value), *getattr(err.value, "__notes__", [])])
    assert "every running party (guest:9999, host:10000) is waiting in recv" in text
    assert "recv 'test/epoch-0/batches-0/ping/guest:9999->host:10000' by host:10000: no matching send" in text
    assert "nearest sent: 'test/epoch-0/batch-0/ping/guest:9999->host:10000'" in text
    assert "recv 'test/epoch-0/batch-0/pong/host:10000->guest:9999' by guest:9999" in text


def test_a_declared_namespace_path_gives_both_ends_the_same_addresses() -> None:
    def guest(ctx: Context) -> list[float]:
        out = []
        for e in range(2):
            ectx = EPOCH.at(ctx, e)
            for b in range(2):
                BATCH.within(ectx, b).send(PING, float(10 * e + b))
                out.append(float(BATCH.at(ctx, e, b).recv(PONG)))
        return out

    def host(ctx: Context) -> None:
        for e in range(2):
            for b in range(2):
                bctx = BATCH.at(ctx, e, b)
                bctx.send(PONG, bctx.recv(PING) + 1)

    assert run_parties({GUEST: guest, HOST: host})[GUEST] == [1.0, 2.0, 11.0, 12.0]


def test_a_message_nobody_reads_fails_a_successful_run() -> None:
    def guest(ctx: Context) -> None:
        ctx.send(PING, 1)
        ctx.sub("extra").send(PING, 2)

    def host(ctx: Context) -> int:
        return int(ctx.recv(PING))

    with pytest.raises(UnreadMessagesError, match=r"test/extra/ping/guest:9999->host:10000"):
        run_parties({GUEST: guest, HOST: host})
    assert run_parties({GUEST: guest, HOST: host}, check_addresses=False)[HOST] == 1


def test_a_real_timeout_carries_the_address_report() -> None:
    # Prepare: the guest stays busy (not in recv), so only the timeout can end the host's wait
    def guest(ctx: Context) -> None:
        ctx.sub("a").send(PING, 1)
        time.sleep(0.8)

    def host(ctx: Context) -> None:
        ctx.sub("b").recv(PING)

    with pytest.raises(PartyTimeoutError) as err:
        run_parties({GUEST: guest, HOST: host}, timeout=0.3)
    assert not isinstance(err.value, AddressMismatchError)
    notes = "\n".join(err.value.__notes__)
    assert "recv 'test/b/ping/guest:9999->host:10000' by host:10000: no matching send" in notes
    assert "nearest sent: 'test/a/ping/guest:9999->host:10000'" in notes


def test_a_party_that_computes_is_not_taken_for_a_deadlock() -> None:
    # The host waits while the guest works longer than the watch's settling time, then sends.
    def guest(ctx: Context) -> None:
        time.sleep(0.6)
        ctx.send(PING, 5)

    def host(ctx: Context) -> int:
        return int(ctx.recv(PING))

    assert run_parties({GUEST: guest, HOST: host})[HOST] == 5
