"""The gRPC transport over loopback: streaming, refusals (and recovery), timeouts, failure notices."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator

import grpc
import msgpack
import numpy as np
import pytest

from fedloom.core.errors import (
    ConfigError,
    MessageError,
    PartyFailedError,
    PartyTimeoutError,
    ProtocolError,
)
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Envelope, new_message_id
from fedloom.transport.grpc import GrpcTransport
from fedloom.transport.grpc.client import body_frames, send_envelope
from fedloom.transport.grpc.server import DELIVER

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
ARBITER = PartyId.parse("arbiter:10000")
_seq = itertools.count()


def envelope(
    src: PartyId, dst: PartyId, *body: bytes | bytearray | memoryview, channel: str = ""
) -> Envelope:
    channel = channel or f"msg-{next(_seq)}"
    return Envelope(
        address=f"j1/lr_0/epoch-0/{channel}/{src}->{dst}",
        src=str(src),
        dst=str(dst),
        payload_type="bytes",
        key_fingerprint="",
        body=list(body),
    )


def assert_round_trip(sender: GrpcTransport, receiver: GrpcTransport) -> None:
    """The receiving server still takes a good message."""
    env = envelope(sender.party, receiver.party, b"still ", b"serving")
    sender.send(env, timeout=5.0)
    assert bytes(receiver.recv(env.address, sender.party, timeout=5.0).contiguous()) == b"still serving"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pair() -> Iterator[tuple[GrpcTransport, GrpcTransport]]:
    guest = GrpcTransport(GUEST, chunk_bytes=1000)
    host = GrpcTransport(HOST, max_message_bytes=1 << 20, chunk_bytes=1000)
    guest.set_peers({str(HOST): host.address})
    host.set_peers({str(GUEST): guest.address})
    yield guest, host
    guest.close()
    host.close()


# -- streaming ---------------------------------------------------------------------------------


def test_body_frames_cut_across_buffers_without_gaps() -> None:
    parts = [b"a" * 2500, b"", bytearray(b"b" * 10), memoryview(b"c" * 990), np.arange(300, dtype=np.float64)]
    frames = list(body_frames(b"HEADER", parts, 1000))

    assert frames[0] == b"HEADER"
    assert [len(f) for f in frames[1:]] == [1000, 1000, 1000, 1000, 1000, 900]
    assert b"".join(frames[1:]) == b"".join(bytes(memoryview(p).cast("B")) for p in parts)


def test_multi_chunk_round_trip_and_traffic_counts(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    # Prepare: several buffers of odd sizes, one of them a float array, streamed in 1000-byte frames
    guest, host = pair
    weights = np.linspace(-1.0, 1.0, 1234)
    parts = [b"\x00" * 3333, weights, bytearray(b"tail" * 77)]
    env = envelope(GUEST, HOST, *parts, channel="weights")
    expected = b"".join(bytes(memoryview(p).cast("B")) for p in parts)

    # Execute
    guest.send(env, timeout=5.0)
    got = host.recv(env.address, GUEST, timeout=5.0)

    # Assert
    assert bytes(got.contiguous()) == expected
    assert np.array_equal(
        np.frombuffer(got.contiguous()[3333 : 3333 + weights.nbytes], dtype=np.float64), weights
    )
    assert guest.stats.channel("weights").sent_bytes == len(expected)
    assert host.stats.channel("weights").received_bytes == len(expected)
    assert host.stats.channel("weights").received_messages == 1


def test_both_directions_and_empty_body(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    env = envelope(HOST, GUEST)

    host.send(env, timeout=5.0)

    assert guest.recv(env.address, HOST, timeout=5.0).size == 0
    assert_round_trip(guest, host)


def test_large_body_keeps_about_one_copy_per_side() -> None:
    # Prepare: 24 MB in 1 MiB frames; the sender's buffers exist before tracing starts
    size = 24 << 20
    payload = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8)
    with GrpcTransport(GUEST) as guest, GrpcTransport(HOST) as host:
        guest.set_peers({str(HOST): host.address})
        env = envelope(GUEST, HOST, payload[: size // 3], payload[size // 3 :])

        # Execute
        tracemalloc.start()
        try:
            guest.send(env, timeout=30.0)
            got = host.recv(env.address, GUEST, timeout=5.0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        # Assert: the receiver's one buffer plus a few frames; no joined copy on either side
        assert peak < size + (8 << 20), f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB body"
        assert len(got.body) == 1
        assert hashlib.sha256(got.body[0]).digest() == hashlib.sha256(payload).digest()


@pytest.mark.slow
def test_throughput_of_a_200_mb_body() -> None:
    # Prepare
    size = 200 * 10**6 + 12345
    payload = np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8)
    digest = hashlib.sha256(payload).hexdigest()
    with GrpcTransport(GUEST) as guest, GrpcTransport(HOST, max_message_bytes=1 << 30) as host:
        guest.set_peers({str(HOST): host.address})
        env = envelope(GUEST, HOST, payload[:7], payload[7:], channel="big")

        # Execute
        start = time.perf_counter()
        guest.send(env, timeout=120.0)
        got = host.recv(env.address, GUEST, timeout=5.0)
        elapsed = time.perf_counter() - start

        # Assert
        assert got.size == size
        assert hashlib.sha256(got.contiguous()).hexdigest() == digest
        print(f"\ngRPC loopback: {size / 1e6:.0f} MB in {elapsed:.2f} s = {size / 1e6 / elapsed:.0f} MB/s")


# -- refusals: each a MessageError for the sender, and the server keeps serving ------------------


def test_garbage_header_is_refused(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    with grpc.insecure_channel(host.address) as channel:
        deliver = channel.stream_unary(DELIVER)
        with pytest.raises(grpc.RpcError) as info:
            deliver(iter([b"\xc1 not msgpack", b"body"]), timeout=5.0)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not valid msgpack" in info.value.details()

        with pytest.raises(grpc.RpcError) as info:
            deliver(iter([]), timeout=5.0)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    assert_round_trip(guest, host)


def test_garbage_header_surfaces_as_message_error(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair

    class Garbled(Envelope):
        def header_bytes(self) -> bytes:
            return msgpack.packb({"a": 1, "s": [], "v": "x"})

    env = Garbled("j1/x/y/garbled/guest:9999->host:10000", str(GUEST), str(HOST), "bytes", "", [b"x"])
    with (
        grpc.insecure_channel(host.address) as channel,
        pytest.raises(MessageError, match="address is missing or malformed") as info,
    ):
        send_envelope(
            channel,
            env,
            target=host.address,
            chunk_bytes=1000,
            timeout=5.0,
            party="guest:9999",
            tls=False,
        )
    assert info.value.party == "guest:9999"
    assert_round_trip(guest, host)


def test_wrong_schema_version_is_refused(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    env = Envelope(f"j1/x/old/{GUEST}->{HOST}", str(GUEST), str(HOST), "bytes", "", [b"x"], schema_version=99)

    with pytest.raises(MessageError, match="schema version 99 is not supported"):
        guest._send(env, timeout=5.0)  # bypass the sender's own check, as an old peer would

    assert_round_trip(guest, host)


def test_oversized_body_is_refused_before_it_is_read(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    # Prepare: announce 1 GB, then stream for ever; the host (1 MiB limit) must stop at the header
    guest, host = pair
    header = envelope(GUEST, HOST).header() | {"n": 1 << 30}
    pulled = 0

    def frames() -> Iterator[bytes]:
        nonlocal pulled
        yield msgpack.packb(header)
        while True:
            pulled += 1
            yield b"\x00" * 1000

    # Execute
    with grpc.insecure_channel(host.address) as channel, pytest.raises(grpc.RpcError) as info:
        channel.stream_unary(DELIVER)(frames(), timeout=10.0)

    # Assert
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds host:10000's limit" in info.value.details()
    assert pulled < 500

    with pytest.raises(MessageError, match="exceeds host:10000's limit of 1048576"):
        guest.send(envelope(GUEST, HOST, b"x" * ((1 << 20) + 1)), timeout=5.0)
    assert_round_trip(guest, host)


def test_wrong_recipient_is_refused(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    guest.set_peers({str(ARBITER): host.address})  # a wrong peer table: the arbiter's address is the host's

    with pytest.raises(MessageError, match="is for arbiter:10000, but this is host:10000"):
        guest.send(envelope(GUEST, ARBITER, b"x"), timeout=5.0)

    assert_round_trip(guest, host)


def test_resend_is_idempotent_and_another_message_to_the_address_is_refused(
    pair: tuple[GrpcTransport, GrpcTransport],
) -> None:
    # Prepare: 500 frames, so the resend is acknowledged while its body is still streaming
    guest, host = pair
    env = envelope(GUEST, HOST, b"once" * 125_000)
    guest.send(env, timeout=5.0)

    # Execute
    guest.send(env, timeout=5.0)  # same message id: a resend whose first ack was lost
    with pytest.raises(MessageError, match="second message") as info:
        guest.send(dataclasses.replace(env, message_id=new_message_id()), timeout=5.0)

    # Assert: one message taken, ALREADY_EXISTS for the other, the budget is clear once read
    assert info.value.party == str(GUEST)
    assert bytes(host.recv(env.address, GUEST, timeout=1.0).contiguous()) == b"once" * 125_000
    with pytest.raises(PartyTimeoutError):
        host.recv(env.address, GUEST, timeout=0.05)
    guest.send(env, timeout=5.0)  # still idempotent after it was read
    assert host.mailbox.pending_bytes(str(GUEST)) == 0
    with grpc.insecure_channel(host.address) as channel, pytest.raises(grpc.RpcError) as raw:
        other = dataclasses.replace(env, message_id=new_message_id(), body=[b"x"])
        channel.stream_unary(DELIVER)(iter([other.header_bytes(), b"x"]), timeout=5.0)
    assert raw.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert_round_trip(guest, host)


def test_body_shorter_or_longer_than_announced_is_refused(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    header = envelope(GUEST, HOST).header() | {"n": 10}
    with grpc.insecure_channel(host.address) as channel:
        for body in ([b"12345"], [b"12345", b"678901"]):
            with pytest.raises(grpc.RpcError) as info:
                channel.stream_unary(DELIVER)(iter([msgpack.packb(header), *body]), timeout=5.0)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "announced 10" in info.value.details() or "more than the 10 bytes" in info.value.details()

    assert_round_trip(guest, host)


def test_sender_giving_up_mid_stream_delivers_nothing(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, host = pair
    env = envelope(GUEST, HOST, b"x" * 100)

    def stalling() -> Iterator[bytes]:
        yield env.header_bytes()
        yield b"x" * 10
        time.sleep(0.6)
        yield b"x" * 90

    with grpc.insecure_channel(host.address) as channel, pytest.raises(grpc.RpcError) as info:
        channel.stream_unary(DELIVER)(stalling(), timeout=0.2)

    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(PartyTimeoutError):
        host.recv(env.address, GUEST, timeout=0.6)
    assert_round_trip(guest, host)


def test_local_mistakes_are_protocol_errors(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, _host = pair
    with pytest.raises(ProtocolError, match="no address for host:7"):
        guest.send(envelope(GUEST, PartyId.parse("host:7"), b"x"), timeout=1.0)
    with pytest.raises(ProtocolError, match="cannot send a message from host:10000"):
        guest.send(envelope(HOST, GUEST, b"x"), timeout=1.0)
    with pytest.raises(ConfigError, match="chunk_bytes"):
        GrpcTransport(GUEST, chunk_bytes=0)
    with pytest.raises(ConfigError, match="listen"):
        GrpcTransport(GUEST, listen="nowhere")


# -- timeouts and failures ---------------------------------------------------------------------


def test_recv_of_a_message_never_sent_times_out(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    _guest, host = pair
    address = f"j1/lr_0/epoch-0/never/{GUEST}->{HOST}"

    start = time.monotonic()
    with pytest.raises(PartyTimeoutError) as info:
        host.recv(address, GUEST, timeout=0.5)

    assert time.monotonic() - start < 1.0
    assert info.value.address == address


@pytest.mark.parametrize("peer", ["closed", "never started", "silent"])
def test_send_to_a_dead_peer_times_out_without_hanging(peer: str) -> None:
    # Prepare: a closed transport, a port nobody listens on, a socket that accepts but never speaks
    with GrpcTransport(GUEST) as guest, socket.socket() as silent:
        if peer == "closed":
            host = GrpcTransport(HOST)
            target = host.address
            host.close()
        elif peer == "never started":
            target = f"127.0.0.1:{free_port()}"
        else:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            target = f"127.0.0.1:{silent.getsockname()[1]}"
        guest.set_peers({str(HOST): target})
        env = envelope(GUEST, HOST, b"hello")

        # Execute
        start = time.monotonic()
        with pytest.raises(PartyTimeoutError) as info:
            guest.send(env, timeout=1.0)

        # Assert
        assert time.monotonic() - start < 2.0
        assert info.value.address == env.address
        assert str(HOST) in str(info.value) and target in str(info.value)
        if peer != "silent":
            assert f"peer host:10000 unreachable at {target}" in str(info.value)


def test_concurrent_senders_share_one_channel() -> None:
    # Prepare: a host listening on every interface, reached on loopback
    with GrpcTransport(HOST, listen="0.0.0.0:0", chunk_bytes=4096) as host, GrpcTransport(GUEST) as guest:
        assert host.address == f"127.0.0.1:{host.port}"
        guest.set_peers({str(HOST): host.address})
        envs = [envelope(GUEST, HOST, bytes([i]) * (10_000 + i)) for i in range(16)]
        errors: list[BaseException] = []

        def send(env: Envelope) -> None:
            try:
                guest.send(env, timeout=10.0)
            except BaseException as exc:
                errors.append(exc)

        # Execute
        threads = [threading.Thread(target=send, args=(env,)) for env in envs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=15.0)

        # Assert
        assert not errors
        for i, env in enumerate(envs):
            assert bytes(host.recv(env.address, GUEST, timeout=1.0).contiguous()) == bytes([i]) * (10_000 + i)
        assert len(guest._channels) == 1


def test_peer_that_starts_late_is_reached_by_retrying() -> None:
    # Prepare: the guest knows the host's port before the host listens on it (launcher start-up)
    port = free_port()
    with GrpcTransport(GUEST) as guest:
        guest.set_peers({str(HOST): f"127.0.0.1:{port}"})
        env = envelope(GUEST, HOST, b"early bird")
        hosts: list[GrpcTransport] = []
        starter = threading.Timer(0.4, lambda: hosts.append(GrpcTransport(HOST, listen=f"127.0.0.1:{port}")))
        starter.start()
        try:
            # Execute
            guest.send(env, timeout=5.0)
            starter.join()

            # Assert
            assert bytes(hosts[0].recv(env.address, GUEST, timeout=1.0).contiguous()) == b"early bird"
        finally:
            starter.join()
            for h in hosts:
                h.close()


def test_waiting_for_a_peer_stops_when_it_reports_a_failure() -> None:
    # Prepare: the guest's table points at a port nobody listens on; the host reports a failure
    with GrpcTransport(GUEST) as guest, GrpcTransport(HOST) as host:
        guest.set_peers({str(HOST): f"127.0.0.1:{free_port()}"})
        host.set_peers({str(GUEST): guest.address})
        notice = threading.Timer(0.3, lambda: host.notify_failure([GUEST], "disk full"))
        notice.start()

        # Execute
        start = time.monotonic()
        with pytest.raises(PartyFailedError, match="disk full"):
            guest.send(envelope(GUEST, HOST, b"x"), timeout=10.0)

        # Assert: the wait ended with the notice, long before the timeout
        notice.join()
        assert time.monotonic() - start < 2.0


def test_failure_notice_wakes_a_waiting_receiver(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    # Prepare: the host waits on a message the guest will never send
    guest, host = pair
    caught: list[BaseException] = []

    def wait() -> None:
        try:
            host.recv(f"j1/lr_0/epoch-0/residual/{GUEST}->{HOST}", GUEST, timeout=10.0)
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)

    # Execute: also notify a peer without address and one that is down; neither may raise or stall
    start = time.monotonic()
    guest.set_peers({str(ARBITER): f"127.0.0.1:{free_port()}"})
    guest.notify_failure([HOST, ARBITER, PartyId.parse("host:7")], "out of memory in epoch 0 " + "x" * 9000)
    waiter.join(timeout=5.0)

    # Assert
    assert not waiter.is_alive()
    assert time.monotonic() - start < 3.0
    assert len(caught) == 1 and isinstance(caught[0], PartyFailedError)
    assert "out of memory in epoch 0" in str(caught[0])


def test_close_is_idempotent_and_send_after_close_fails(pair: tuple[GrpcTransport, GrpcTransport]) -> None:
    guest, _host = pair
    guest.close()
    guest.close()
    with pytest.raises(ProtocolError, match="closed"):
        guest.send(envelope(GUEST, HOST, b"x"), timeout=1.0)


def test_channels_are_cached_and_renewed_when_an_address_changes(
    pair: tuple[GrpcTransport, GrpcTransport],
) -> None:
    guest, host = pair
    first = guest._channel(str(HOST))
    assert first[0] == host.address
    assert guest._channel(str(HOST)) is first

    with GrpcTransport(HOST) as moved:
        guest.set_peers({str(HOST): moved.address})
        assert guest._channel(str(HOST))[0] == moved.address
        assert_round_trip(guest, moved)
