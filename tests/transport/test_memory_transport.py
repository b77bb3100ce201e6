"""The in-memory transport: delivery, duplicates, timeouts, failure notices, size limits."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport import Envelope, MemoryHub, MemoryTransport
from fedloom.transport.envelope import new_message_id

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")


def envelope(src: PartyId, dst: PartyId, channel: str, *body: bytes) -> Envelope:
    return Envelope(
        address=f"j1/lr_0/epoch-0/{channel}/{src}->{dst}",
        src=str(src),
        dst=str(dst),
        payload_type="bytes",
        key_fingerprint="",
        body=list(body),
    )


@pytest.fixture
def pair() -> Iterator[tuple[MemoryTransport, MemoryTransport]]:
    hub = MemoryHub()
    guest, host = hub.connect(GUEST), hub.connect(HOST, max_message_bytes=1024)
    yield guest, host
    guest.close()
    host.close()


def test_round_trip_delivers_a_copy_and_counts_bytes(pair: tuple[MemoryTransport, MemoryTransport]) -> None:
    # Prepare
    guest, host = pair
    body = bytearray(b"residual-")
    env = envelope(GUEST, HOST, "residual", bytes(body), b"0123456789")

    # Execute
    guest.send(env, timeout=1.0)
    body[:] = b"XXXXXXXXX"  # the receiver must not see later changes to the sender's buffers
    got = host.recv(env.address, GUEST, timeout=1.0)

    # Assert
    assert bytes(got.contiguous()) == b"residual-0123456789"
    assert (got.src, got.dst, got.address) == (str(GUEST), str(HOST), env.address)
    assert guest.stats.channel("residual").sent_bytes == 19
    assert host.stats.channel("residual").received_bytes == 19


def test_resend_is_idempotent_and_another_message_to_the_address_is_refused(
    pair: tuple[MemoryTransport, MemoryTransport],
) -> None:
    # Prepare
    guest, host = pair
    env = envelope(GUEST, HOST, "residual", b"once")
    guest.send(env, timeout=1.0)

    # Execute: a resend (same message id) is acknowledged; another message, or the same id with
    # another size, is refused
    guest.send(env, timeout=1.0)
    with pytest.raises(MessageError, match="second message") as info:
        guest.send(dataclasses.replace(env, message_id=new_message_id()), timeout=1.0)
    with pytest.raises(MessageError, match="second message"):
        guest.send(dataclasses.replace(env, body=[b"once more"]), timeout=1.0)

    # Assert: one message stored, nothing else waiting, no bytes left counted
    assert info.value.field == "message_id" and info.value.party == str(GUEST)
    assert bytes(host.recv(env.address, GUEST, timeout=1.0).contiguous()) == b"once"
    with pytest.raises(PartyTimeoutError):
        host.recv(env.address, GUEST, timeout=0.05)
    guest.send(env, timeout=1.0)  # still idempotent after it was read
    assert host.mailbox.pending_bytes(str(GUEST)) == 0


def test_recv_timeout_names_the_address(pair: tuple[MemoryTransport, MemoryTransport]) -> None:
    _guest, host = pair
    address = f"j1/lr_0/epoch-0/residual/{GUEST}->{HOST}"

    start = time.monotonic()
    with pytest.raises(PartyTimeoutError) as info:
        host.recv(address, GUEST, timeout=0.2)

    assert time.monotonic() - start < 0.7
    assert info.value.address == address
    assert address in str(info.value)


def test_failure_notice_wakes_a_waiting_recv(pair: tuple[MemoryTransport, MemoryTransport]) -> None:
    # Prepare: the host waits for a message the guest will never send
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

    # Execute
    start = time.monotonic()
    guest.notify_failure([HOST], "out of memory in epoch 0")
    waiter.join(timeout=5.0)

    # Assert
    assert not waiter.is_alive()
    assert time.monotonic() - start < 1.0
    assert len(caught) == 1 and isinstance(caught[0], PartyFailedError)
    assert "out of memory in epoch 0" in str(caught[0])


def test_oversized_message_is_refused(pair: tuple[MemoryTransport, MemoryTransport]) -> None:
    guest, host = pair

    with pytest.raises(MessageError, match="exceeds"):
        guest.send(envelope(GUEST, HOST, "big", b"x" * 1025), timeout=1.0)

    with pytest.raises(PartyTimeoutError):
        host.recv(f"j1/lr_0/epoch-0/big/{GUEST}->{HOST}", GUEST, timeout=0.05)


def test_a_waiting_recv_is_listed_until_met_and_can_be_interrupted(
    pair: tuple[MemoryTransport, MemoryTransport],
) -> None:
    # Prepare: the host waits on one address in a thread
    guest, host = pair
    address = f"j1/lr_0/epoch-0/residual/{GUEST}->{HOST}"
    caught: list[BaseException] = []

    def wait() -> None:
        try:
            host.recv(address, GUEST, timeout=10.0)
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    deadline = time.monotonic() + 2
    while not host.mailbox.waits().unmet and time.monotonic() < deadline:
        time.sleep(0.01)
    view = host.mailbox.waits()
    # Assert: listed with its address and sender; a message elsewhere changes the version only
    assert [(t.address, t.src) for t in view.unmet.values()] == [(address, str(GUEST))]
    guest.send(envelope(GUEST, HOST, "other", b"x"), timeout=1.0)
    later = host.mailbox.waits()
    assert later.version > view.version and later.unmet.keys() == view.unmet.keys()
    # Execute: interrupt it
    (thread,) = view.unmet
    assert host.mailbox.interrupt(thread, PartyTimeoutError(address, 0.0, detail="interrupted"))
    waiter.join(timeout=5.0)
    # Assert: it raised that error, is no longer listed, and the log has it as unmatched
    assert not waiter.is_alive() and isinstance(caught[0], PartyTimeoutError)
    assert "interrupted" in str(caught[0])
    assert not host.mailbox.waits().unmet and not host.mailbox.interrupt(thread, RuntimeError())
    assert f"recv '{address}' by {HOST}: no matching send" in host.hub.log.report()
    assert host.hub.log.unread() == [f"j1/lr_0/epoch-0/other/{GUEST}->{HOST}"]
