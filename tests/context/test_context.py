"""Context: addresses, namespaces, channel direction checks and run_parties."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fedloom.context import Channel, Context
from fedloom.core import ARBITER, GUEST, HOST, MessageError, PartyFailedError, PartyId, PartyTimeoutError
from fedloom.core.errors import ProtocolError
from fedloom.testing import run_parties
from fedloom.transport.memory import MemoryHub

PING = Channel("ping", src=GUEST, dst=HOST)
PONG = Channel("pong", src=HOST, dst=GUEST)
REPORT = Channel("report", src=(GUEST, HOST), dst=ARBITER)


def make_ctx(party: str, *peers: str) -> Context:
    hub = MemoryHub()
    me = PartyId.parse(party)
    return Context(me, [PartyId.parse(p) for p in peers], hub.connect(me), job_id="j42")


def test_address_is_deterministic_and_namespaced() -> None:
    ctx = make_ctx("guest:9999", "host:10000")
    sub = ctx.sub("hetero_lr_0").sub("epoch", 3).sub("batch", 0)
    assert (
        sub.address(PING, ctx.party, PartyId.parse("host:10000"))
        == "j42/hetero_lr_0/epoch-3/batch-0/ping/guest:9999->host:10000"
    )


def test_channel_direction_is_checked_for_send_and_recv() -> None:
    ctx = make_ctx("host:10000", "guest:9999")
    with pytest.raises(ProtocolError, match="may not send"):
        ctx.send(PING, 1)
    with pytest.raises(ProtocolError, match="may not receive"):
        ctx.recv(PONG)


def test_ping_pong_over_threads() -> None:
    def guest(ctx: Context) -> float:
        ctx.send(PING, np.arange(5.0))
        return float(ctx.recv(PONG))

    def host(ctx: Context) -> None:
        ctx.send(PONG, ctx.recv(PING).sum())

    out = run_parties({GUEST: guest, HOST: host})
    assert out[GUEST] == 10.0


def test_several_hosts_and_recv_all_in_party_order() -> None:
    def host(ctx: Context) -> None:
        ctx.send(REPORT, ctx.party.id)

    def guest(ctx: Context) -> None:
        ctx.send(REPORT, "g")

    def arbiter(ctx: Context) -> list[str]:
        return [str(v) for v in ctx.recv_all(REPORT).values()]

    out = run_parties({"guest:9999": guest, "host:10000": host, "host:10001": host, "arbiter:10000": arbiter})
    assert out["arbiter:10000"] == ["g", "10000", "10001"]


def test_loop_namespaces_never_reuse_an_address() -> None:
    def guest(ctx: Context) -> None:
        for epoch in range(3):
            ctx.sub("epoch", epoch).send(PING, epoch)

    def host(ctx: Context) -> list[int]:
        return [ctx.sub("epoch", e).recv(PING) for e in range(3)]

    assert run_parties({GUEST: guest, HOST: host})[HOST] == [0, 1, 2]


def test_second_message_to_the_same_address_is_refused() -> None:
    def guest(ctx: Context) -> None:
        ctx.send(PING, 1)
        with pytest.raises(MessageError, match="second message"):
            ctx.send(PING, 2)

    def host(ctx: Context) -> int:
        return int(ctx.recv(PING))

    assert run_parties({GUEST: guest, HOST: host})[HOST] == 1


def test_recv_times_out_naming_the_address() -> None:
    def host(ctx: Context) -> None:
        ctx.recv(PING)

    def guest(ctx: Context) -> None:
        time.sleep(1.0)  # alive, but never sends

    t0 = time.monotonic()
    with pytest.raises(PartyTimeoutError, match="test/ping/guest:9999->host:10000"):
        run_parties({GUEST: guest, HOST: host}, timeout=0.3)
    assert time.monotonic() - t0 < 3


def test_a_failing_party_wakes_its_peers_at_once() -> None:
    def guest(ctx: Context) -> None:
        raise ValueError("bad column 'x3'")

    def host(ctx: Context) -> None:
        try:
            ctx.recv(PING)
        except PartyFailedError as exc:
            assert "bad column 'x3'" in str(exc)
            raise

    t0 = time.monotonic()
    with pytest.raises(ValueError, match="bad column"):
        run_parties({GUEST: guest, HOST: host}, timeout=30)
    assert time.monotonic() - t0 < 5
