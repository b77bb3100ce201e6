"""What a peer can make a party hold: memory follows the bytes that arrive, within a per-peer budget.

* a header announcing 300 MB followed by nothing (a stall, or a hang-up) costs the receiver no
  memory, is cut after ``stream_idle_timeout_s``, and gives its reservation back;
* bytes in flight plus bytes delivered and unread are bounded per peer
  (``max_pending_bytes_per_peer``), on gRPC and in memory;
* unread envelopes are dropped at job end (``drop_unread``) and when the transport closes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import msgpack
import pytest

from fedloom.core.errors import ConfigError, MessageError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport import Envelope, MemoryHub, Transport
from fedloom.transport.grpc import GrpcTransport
from fedloom.transport.grpc.server import DELIVER

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
ARBITER = PartyId.parse("arbiter:10000")
ANNOUNCED = 300 * 10**6


def envelope(src: PartyId, dst: PartyId, address: str, body: bytes = b"") -> Envelope:
    return Envelope(f"{address}/{src}->{dst}", str(src), str(dst), "bytes", "", [body])


def rss_bytes() -> int:
    """Resident memory of this process (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def wait_until(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.02)
    return False


def assert_round_trip(sender: Transport, receiver: Transport, address: str = "j1/after") -> None:
    env = envelope(sender.party, receiver.party, address, b"still serving")
    sender.send(env, timeout=5.0)
    assert bytes(receiver.recv(env.address, sender.party, timeout=5.0).contiguous()) == b"still serving"


@pytest.mark.parametrize("client", ["stalls", "hangs up"])
def test_announcing_300_mb_and_sending_nothing_costs_no_memory(client: str) -> None:
    # Prepare: a warm receiver (thread pools and buffers exist) and a raw client
    with GrpcTransport(HOST, stream_idle_timeout_s=1.0) as host, GrpcTransport(GUEST) as guest:
        guest.set_peers({str(HOST): host.address})
        assert_round_trip(guest, host, "j1/warm-up")
        header = envelope(GUEST, HOST, "j1/huge").header() | {"n": ANNOUNCED}
        stop = threading.Event()

        def frames() -> Iterator[bytes]:
            yield msgpack.packb(header)
            yield b"\x00" * 1000  # a first body frame, then nothing more
            stop.wait(10.0)

        before = rss_bytes()
        with grpc.insecure_channel(host.address) as channel:
            # Execute
            call = channel.stream_unary(DELIVER).future(frames(), timeout=10.0)
            assert wait_until(lambda: host.mailbox.pending_bytes(str(GUEST)) == ANNOUNCED)
            time.sleep(0.2)
            grown = rss_bytes() - before
            start = time.monotonic()
            code = None
            if client == "hangs up":
                call.cancel()
            else:
                with pytest.raises(grpc.RpcError) as info:
                    call.result(timeout=5.0)
                code = info.value.code()
            ended_after = time.monotonic() - start
            stop.set()

        # Assert: no allocation at the announced size; a stall is cut by the server within its
        # idle timeout; the reservation is given back and the endpoint still serves
        assert grown < 16 << 20, f"receiver grew by {grown / 2**20:.1f} MiB for a header announcing 300 MB"
        if client == "stalls":
            assert code == grpc.StatusCode.CANCELLED and 0.5 < ended_after < 3.0, (code, ended_after)
        assert wait_until(lambda: host.mailbox.pending_bytes(str(GUEST)) == 0)
        with pytest.raises(PartyTimeoutError):
            host.recv(header["a"], GUEST, timeout=0.05)
        assert_round_trip(guest, host)


def _grpc_parties(budget: int) -> tuple[dict[PartyId, Transport], list[GrpcTransport]]:
    host = GrpcTransport(HOST, max_pending_bytes_per_peer=budget, chunk_bytes=64 << 10)
    guest, arbiter = GrpcTransport(GUEST), GrpcTransport(ARBITER)
    for sender in (guest, arbiter):
        sender.set_peers({str(HOST): host.address})
    return {HOST: host, GUEST: guest, ARBITER: arbiter}, [host, guest, arbiter]


@pytest.fixture(params=["memory", "grpc"])
def budgeted(request: pytest.FixtureRequest) -> Iterator[dict[PartyId, Transport]]:
    """Guest and arbiter sending to a host whose per-peer budget is 1 MB."""
    if request.param == "memory":
        hub = MemoryHub()
        ends: dict[PartyId, Transport] = {
            HOST: hub.connect(HOST, max_pending_bytes_per_peer=10**6),
            GUEST: hub.connect(GUEST),
            ARBITER: hub.connect(ARBITER),
        }
        yield ends
        for t in ends.values():
            t.close()
        return
    ends, transports = _grpc_parties(10**6)
    yield ends
    for t in transports:
        t.close()


def test_budget_counts_unread_bytes_per_peer(budgeted: dict[PartyId, Transport]) -> None:
    # Prepare
    host, guest, arbiter = budgeted[HOST], budgeted[GUEST], budgeted[ARBITER]
    first, second, third = (envelope(GUEST, HOST, f"j1/m-{i}", bytes(400_000)) for i in range(3))
    guest.send(first, timeout=5.0)
    guest.send(second, timeout=5.0)

    # Execute / Assert: the host reads nothing, so a third 400 KB from the guest is refused ...
    with pytest.raises(MessageError, match="max_pending_bytes_per_peer") as info:
        guest.send(third, timeout=5.0)
    assert info.value.party == str(GUEST)
    assert host.mailbox.pending_bytes(str(GUEST)) == 800_000

    # ... while the arbiter has its own budget, and reading gives the guest's back
    arbiter.send(envelope(ARBITER, HOST, "j1/other", bytes(400_000)), timeout=5.0)
    host.recv(first.address, GUEST, timeout=5.0)
    guest.send(third, timeout=5.0)
    assert host.mailbox.pending_bytes(str(GUEST)) == 800_000


def test_budget_counts_bytes_still_in_flight() -> None:
    # Prepare: a stalled stream announcing 700 KB holds that much of the guest's 1 MB budget
    ends, transports = _grpc_parties(10**6)
    host, guest = ends[HOST], ends[GUEST]
    try:
        assert isinstance(host, GrpcTransport)
        header = envelope(GUEST, HOST, "j1/slow").header() | {"n": 700_000}
        stop = threading.Event()

        def frames() -> Iterator[bytes]:
            yield msgpack.packb(header)
            stop.wait(10.0)

        with grpc.insecure_channel(host.address) as channel:
            call = channel.stream_unary(DELIVER).future(frames(), timeout=10.0)
            assert wait_until(lambda: host.mailbox.pending_bytes(str(GUEST)) == 700_000)

            # Execute: a 400 KB message meanwhile; and a header announcing more than the budget
            with pytest.raises(MessageError, match="max_pending_bytes_per_peer"):
                guest.send(envelope(GUEST, HOST, "j1/meanwhile", bytes(400_000)), timeout=5.0)
            call.cancel()
            stop.set()
            with pytest.raises(grpc.RpcError) as over:
                big = envelope(GUEST, HOST, "j1/over").header() | {"n": 10**6 + 1}
                channel.stream_unary(DELIVER)(iter([msgpack.packb(big), b"x"]), timeout=5.0)

        # Assert
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "budget of 1000000 bytes" in over.value.details()
        assert wait_until(lambda: host.mailbox.pending_bytes(str(GUEST)) == 0)
        guest.send(envelope(GUEST, HOST, "j1/meanwhile", bytes(400_000)), timeout=5.0)
    finally:
        for t in transports:
            t.close()


def test_unread_messages_are_dropped_at_job_end_and_on_close(caplog: pytest.LogCaptureFixture) -> None:
    # Prepare: two messages of job j1 and one of job j2 that nobody reads (yet)
    hub = MemoryHub()
    guest, host = hub.connect(GUEST), hub.connect(HOST)
    residual = envelope(GUEST, HOST, "j1/lr_0/residual", bytes(100))
    gradient = envelope(GUEST, HOST, "j1/lr_0/epoch-0/gradient", bytes(20))
    other_job = envelope(GUEST, HOST, "j2/lr_0/residual", bytes(7))
    for env in (residual, gradient, other_job):
        guest.send(env, timeout=1.0)

    # Execute
    with caplog.at_level(logging.WARNING, logger="fedloom.transport"):
        dropped = host.drop_unread("j1/")

    # Assert: j1's messages are gone (their addresses stay used), j2's is untouched
    assert dropped == 2
    assert "dropped 2 unread message(s) under 'j1/'" in caplog.text and "gradient, residual" in caplog.text
    assert host.mailbox.pending_bytes(str(GUEST)) == 7
    with pytest.raises(PartyTimeoutError):
        host.recv(residual.address, GUEST, timeout=0.05)
    with pytest.raises(MessageError, match="second message"):
        guest.send(envelope(GUEST, HOST, "j1/lr_0/residual", bytes(100)), timeout=1.0)
    assert host.drop_unread("j1/") == 0

    host.close()
    assert host.mailbox.pending_bytes(str(GUEST)) == 0
    with pytest.raises(PartyTimeoutError, match="closed"):
        host.recv(other_job.address, GUEST, timeout=1.0)
    guest.close()


def test_limits_are_validated() -> None:
    with pytest.raises(ConfigError, match="'max_pending_bytes_per_peer' parameter of GrpcTransport"):
        GrpcTransport(HOST, max_pending_bytes_per_peer=-1)
    with pytest.raises(ConfigError, match="'stream_idle_timeout_s' parameter of GrpcTransport"):
        GrpcTransport(HOST, stream_idle_timeout_s=0)
    with pytest.raises(ConfigError, match="'max_pending_bytes_per_peer' parameter of MemoryTransport"):
        MemoryHub().connect(HOST, max_pending_bytes_per_peer=True)
