"""Who may write where: a party writes only to addresses that name it as the sender, on every backend.

Attacks, each refused while the endpoint keeps serving and the address stays free for its real
sender:

* the host writes a ``loss`` message at ``.../guest:9999->arbiter:10000`` (the arbiter would
  take it as the guest's), and a ``public_key`` at ``.../arbiter:10000->guest:9999`` (the guest
  would encrypt under the host's key), once in its own name and once claiming to be the real
  sender;
* a party outside the job, or one claiming another's name, reports a peer's failure.

Plaintext gRPC authenticates no sender (any client can claim any ``src``), so there only the
attack in the host's own name can be refused; the forged-``src`` variants run over memory and
mutual TLS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import msgpack
import pytest

from fedloom.core.errors import MessageError, PartyFailedError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport import Envelope, MemoryHub, Transport
from fedloom.transport.grpc import GrpcTransport, TlsConfig, make_pki
from fedloom.transport.grpc.client import open_channel, send_envelope, send_failure
from fedloom.transport.grpc.server import DELIVER, FAIL
from fedloom.transport.mailbox import Mailbox

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
ARBITER = PartyId.parse("arbiter:10000")
OUTSIDER = PartyId.parse("host:10001")  # holds a certificate of the federation, not in this job
LOSS = f"j1/lr_0/epoch-0/loss/{GUEST}->{ARBITER}"
PUBLIC_KEY = f"j1/lr_0/public_key/{ARBITER}->{GUEST}"


def envelope(address: str, src: PartyId, dst: PartyId, body: bytes = b"forged") -> Envelope:
    return Envelope(address, str(src), str(dst), "bytes", "", [body])


@dataclass
class Federation:
    """Guest, host and arbiter on one backend, and how the host forges a ``src``."""

    parties: dict[PartyId, Transport]
    #: Deliver an envelope from the host's endpoint whatever ``src`` it claims (bypassing the
    #: host transport's own refusal to send as someone else); ``None`` where nothing stops it.
    forge: Callable[[Envelope], None] | None

    def __getitem__(self, party: PartyId) -> Transport:
        return self.parties[party]


@pytest.fixture(scope="module")
def pki() -> dict[str, TlsConfig]:
    return make_pki([GUEST, HOST, ARBITER, OUTSIDER])  # one certificate per party


def _grpc_federation(tls: dict[str, TlsConfig] | None) -> tuple[Federation, list[GrpcTransport]]:
    ends = {p: GrpcTransport(p, tls=tls[str(p)] if tls else None) for p in (GUEST, HOST, ARBITER)}
    for p, t in ends.items():
        t.set_peers({str(q): o.address for q, o in ends.items() if q != p})
    forge: Callable[[Envelope], None] | None = None
    if tls is not None:
        host_tls = tls[str(HOST)]

        def forge(env: Envelope) -> None:  # the host's certificate, any src
            dst = PartyId.parse(env.dst)
            with open_channel(ends[dst].address, dst, host_tls, 1 << 20) as channel:
                send_envelope(
                    channel,
                    env,
                    target=ends[dst].address,
                    chunk_bytes=1 << 20,
                    timeout=5.0,
                    party=str(HOST),
                    tls=True,
                )

    return Federation(dict(ends), forge), list(ends.values())


@pytest.fixture(params=["memory", "grpc-plaintext", "grpc-mutual-tls"])
def federation(request: pytest.FixtureRequest, pki: dict[str, TlsConfig]) -> Iterator[Federation]:
    if request.param == "memory":
        hub = MemoryHub()
        ends = {p: hub.connect(p) for p in (GUEST, HOST, ARBITER)}

        def forge(env: Envelope) -> None:  # what a host thread could do with the arbiter's mailbox
            ends[PartyId.parse(env.dst)].mailbox.deliver(env, sender=str(HOST))

        yield Federation(dict(ends), forge)
        for t in ends.values():
            t.close()
        return
    fed, grpc_ends = _grpc_federation(pki if request.param == "grpc-mutual-tls" else None)
    yield fed
    for end in grpc_ends:
        end.close()


@pytest.mark.parametrize(
    ("address", "victim", "real_sender"), [(LOSS, ARBITER, GUEST), (PUBLIC_KEY, GUEST, ARBITER)]
)
def test_host_cannot_write_at_another_partys_address(
    federation: Federation, address: str, victim: PartyId, real_sender: PartyId
) -> None:
    # Prepare
    host = federation[HOST]

    # Execute: in its own name, then (where a sender is authenticated) in the real sender's
    with pytest.raises(MessageError, match=f"host:10000 may not write to '{address}'") as own:
        host.send(envelope(address, HOST, victim), timeout=5.0)
    with pytest.raises(MessageError, match="cannot send a message from"):
        host.send(envelope(address, real_sender, victim), timeout=5.0)  # the host's transport refuses
    forged: pytest.ExceptionInfo[MessageError] | None = None
    if federation.forge is not None:
        with pytest.raises(MessageError) as forged:
            federation.forge(envelope(address, real_sender, victim))

    # Assert: nothing arrived, and the real sender still delivers to that very address
    assert own.value.party == str(HOST)
    if forged is not None:
        assert "host-10000.fedloom" in str(forged.value) or "sent by host:10000" in str(forged.value)
    with pytest.raises(PartyTimeoutError):
        federation[victim].recv(address, real_sender, timeout=0.05)
    federation[real_sender].send(envelope(address, real_sender, victim, b"genuine"), timeout=5.0)
    got = federation[victim].recv(address, real_sender, timeout=5.0)
    assert bytes(got.contiguous()) == b"genuine" and got.src == str(real_sender)


def test_refusal_statuses_over_grpc() -> None:
    # Prepare: a raw client of the arbiter's endpoint, in plaintext
    with GrpcTransport(ARBITER) as arbiter:
        arbiter.set_peers({str(GUEST): "127.0.0.1:1", str(HOST): "127.0.0.1:2"})
        cases = [
            (envelope(LOSS, HOST, ARBITER), grpc.StatusCode.PERMISSION_DENIED, "may not write to"),
            (
                envelope(f"j1/lr_0/loss/{GUEST}->{HOST}", GUEST, ARBITER),
                grpc.StatusCode.INVALID_ARGUMENT,
                "is addressed to host:10000",
            ),
            (envelope("j1/lr_0/loss", GUEST, ARBITER), grpc.StatusCode.INVALID_ARGUMENT, "does not end in"),
            (
                envelope(f"j1/lr_0/loss/{OUTSIDER}->{ARBITER}", OUTSIDER, ARBITER),
                grpc.StatusCode.PERMISSION_DENIED,
                "not a peer of this job",
            ),
        ]
        with grpc.insecure_channel(arbiter.address) as channel:
            deliver = channel.stream_unary(DELIVER)
            for env, code, words in cases:
                # Execute
                with pytest.raises(grpc.RpcError) as info:
                    deliver(iter([env.header_bytes(), b"forged"]), timeout=5.0)

                # Assert
                assert (info.value.code(), words in info.value.details()) == (code, True), (
                    info.value.details()
                )
        assert arbiter.mailbox.pending_bytes(str(GUEST)) == arbiter.mailbox.pending_bytes(str(HOST)) == 0


def test_recv_checks_the_sender_it_expects() -> None:
    # Prepare: a message from the guest at a guest address
    box = Mailbox(str(ARBITER))
    box.deliver(envelope(LOSS, GUEST, ARBITER, b"loss"), sender=str(GUEST))

    # Execute / Assert: asking for it as the host's is refused and leaves it in place
    with pytest.raises(
        MessageError, match="is from guest:9999 to arbiter:10000, not from host:10000"
    ) as info:
        box.take(LOSS, str(HOST), timeout=0.1)
    assert info.value.field == "src"
    assert bytes(box.take(LOSS, str(GUEST), timeout=0.1).contiguous()) == b"loss"


def test_mailbox_refuses_what_the_backend_did_not_authenticate() -> None:
    box = Mailbox(str(ARBITER))

    with pytest.raises(
        MessageError, match="claims to come from guest:9999 but was sent by host:10000"
    ) as info:
        box.deliver(envelope(LOSS, GUEST, ARBITER), sender=str(HOST))
    assert info.value.field == "src"

    box.set_peers([str(GUEST)])
    with pytest.raises(MessageError, match="not a peer of this job"):
        box.deliver(envelope(f"j1/x/{HOST}->{ARBITER}", HOST, ARBITER), sender=str(HOST))
    assert box.deliver(envelope(LOSS, GUEST, ARBITER), sender=str(GUEST))


# -- failure notices -----------------------------------------------------------------------------


def _wait_for(
    transport: Transport, address: str, src: PartyId, timeout: float
) -> tuple[threading.Thread, list[BaseException]]:
    """A started thread receiving ``address``, and the list that gets what it raised."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            transport.recv(address, src, timeout=timeout)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, caught


def test_failure_notices_are_authenticated_under_mutual_tls(pki: dict[str, TlsConfig]) -> None:
    # Prepare: the guest waits on the arbiter; its peers are the host and the arbiter
    with (
        GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest,
        GrpcTransport(ARBITER, tls=pki[str(ARBITER)]) as arb,
    ):
        guest.set_peers({str(ARBITER): arb.address, str(HOST): "127.0.0.1:1"})
        arb.set_peers({str(GUEST): guest.address})
        waiter, outcome = _wait_for(guest, PUBLIC_KEY, ARBITER, timeout=1.5)
        time.sleep(0.05)
        codes = []
        for holder, claimed in ((HOST, ARBITER), (OUTSIDER, OUTSIDER), (OUTSIDER, ARBITER)):
            # Execute: a federation certificate that is not the arbiter's, or a party outside the job
            with open_channel(guest.address, GUEST, pki[str(holder)], 1 << 20) as channel:
                with pytest.raises(grpc.RpcError) as info:
                    send_failure(channel, str(claimed), "arbiter crashed", timeout=3.0).result()
                codes.append((info.value.code(), info.value.details()))

        # Assert: all refused; the guest kept waiting for the arbiter, whose own notice still counts
        assert [c for c, _ in codes] == [grpc.StatusCode.PERMISSION_DENIED] * 3, codes
        assert "not a peer of this job" in codes[1][1]
        waiter.join()
        assert len(outcome) == 1 and isinstance(outcome[0], PartyTimeoutError)
        arb.notify_failure([GUEST], "out of memory")
        with pytest.raises(PartyFailedError, match="out of memory"):
            guest.recv(PUBLIC_KEY, ARBITER, timeout=5.0)


def test_client_without_certificate_cannot_connect(pki: dict[str, TlsConfig]) -> None:
    with GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest:
        credentials = grpc.ssl_channel_credentials(pki[str(GUEST)].ca_cert)  # trusts the CA, no certificate
        options = [("grpc.ssl_target_name_override", GUEST.dns_name)]
        with grpc.secure_channel(guest.address, credentials, options=options) as channel:
            with pytest.raises(grpc.RpcError) as fail:
                channel.unary_unary(FAIL)(msgpack.packb({"s": str(ARBITER), "r": "fake"}), timeout=3.0)
            with pytest.raises(grpc.RpcError) as deliver:
                env = envelope(PUBLIC_KEY, ARBITER, GUEST)
                channel.stream_unary(DELIVER)(iter([env.header_bytes(), b"forged"]), timeout=3.0)

        assert fail.value.code() == deliver.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(PartyTimeoutError):
            guest.recv(PUBLIC_KEY, ARBITER, timeout=0.05)


def test_memory_failure_notice_from_outside_the_job_is_ignored() -> None:
    hub = MemoryHub()
    guest, outsider, arbiter = hub.connect(GUEST), hub.connect(OUTSIDER), hub.connect(ARBITER)
    guest.set_peers([ARBITER, HOST])
    try:
        outsider.notify_failure([GUEST], "fake")  # best effort: logged, never raised

        with pytest.raises(PartyTimeoutError):
            guest.recv(PUBLIC_KEY, ARBITER, timeout=0.05)
        arbiter.notify_failure([GUEST], "real")
        with pytest.raises(PartyFailedError, match="real"):
            guest.recv(PUBLIC_KEY, ARBITER, timeout=1.0)
    finally:
        for t in (guest, outsider, arbiter):
            t.close()
