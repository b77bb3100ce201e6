"""TLS and mutual TLS on the gRPC transport: who may talk to whom, and how refusals surface."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fedloom.core.errors import ConfigError, MessageError, PartyFailedError, PartyTimeoutError
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Envelope
from fedloom.transport.grpc import GrpcTransport, TlsConfig, make_pki
from fedloom.transport.grpc.client import open_channel, send_envelope, send_failure
from fedloom.transport.grpc.tls import cert_dns_names

GUEST = PartyId.parse("guest:9999")
HOST = PartyId.parse("host:10000")
ARBITER = PartyId.parse("arbiter:10000")  # same organisation as HOST
HOST2 = PartyId.parse("host:10001")
_seq = itertools.count()


def envelope(src: PartyId, dst: PartyId, body: bytes = b"payload") -> Envelope:
    return Envelope(f"j1/lr_0/m-{next(_seq)}/{src}->{dst}", str(src), str(dst), "bytes", "", [body])


@pytest.fixture(scope="module")
def pki() -> dict[str, TlsConfig]:
    return make_pki([GUEST, [HOST, ARBITER], HOST2])


@pytest.fixture(scope="module")
def foreign_pki() -> dict[str, TlsConfig]:
    """Certificates with the right names, signed by another CA."""
    return make_pki([GUEST, HOST])


@pytest.fixture
def host(pki: dict[str, TlsConfig]) -> Iterator[GrpcTransport]:
    with GrpcTransport(HOST, tls=pki[str(HOST)]) as transport:
        yield transport


def assert_accepted(sender: GrpcTransport, receiver: GrpcTransport) -> None:
    env = envelope(sender.party, receiver.party)
    sender.send(env, timeout=5.0)
    assert bytes(receiver.recv(env.address, sender.party, timeout=5.0).contiguous()) == b"payload"


def assert_refused_quickly(sender: GrpcTransport, dst: PartyId, *, timeout: float = 3.0) -> str:
    """The send fails within a few seconds with an error that speaks of TLS or certificates."""
    start = time.monotonic()
    with pytest.raises((MessageError, PartyTimeoutError)) as info:
        sender.send(envelope(sender.party, dst), timeout=timeout)
    assert time.monotonic() - start < timeout + 1.0
    text = str(info.value)
    assert "TLS" in text or "certificate" in text, text
    return text


def test_make_pki_names_every_role_of_an_organisation(pki: dict[str, TlsConfig]) -> None:
    assert sorted(pki) == sorted(map(str, [GUEST, HOST, ARBITER, HOST2]))
    assert pki[str(HOST)] is pki[str(ARBITER)]
    assert sorted(cert_dns_names(pki[str(HOST)].cert)) == ["arbiter-10000.fedloom", "host-10000.fedloom"]
    assert cert_dns_names(pki[str(GUEST)].cert) == ["guest-9999.fedloom"]
    assert len({c.ca_cert for c in pki.values()}) == 1


def test_tls_config_from_files_and_bad_pem(tmp_path: Path, pki: dict[str, TlsConfig]) -> None:
    cfg = pki[str(GUEST)]
    for name, blob in (("ca.pem", cfg.ca_cert), ("cert.pem", cfg.cert), ("key.pem", cfg.key)):
        (tmp_path / name).write_bytes(blob)

    loaded = TlsConfig.from_files(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")

    assert loaded == cfg
    with pytest.raises(ConfigError, match="PEM"):
        TlsConfig(b"not a cert", cfg.cert, cfg.key)
    with pytest.raises(ConfigError, match="cannot read TLS key"):
        TlsConfig.from_files(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "missing.pem")
    assert "BEGIN PRIVATE KEY" not in repr(loaded)


def test_certificate_must_name_the_party(pki: dict[str, TlsConfig]) -> None:
    with pytest.raises(ConfigError, match=r"names guest-9999\.fedloom, not host-10000\.fedloom"):
        GrpcTransport(HOST, tls=pki[str(GUEST)])


def test_mutual_tls_accepts_the_right_parties_both_ways(
    pki: dict[str, TlsConfig], host: GrpcTransport
) -> None:
    with (
        GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest,
        GrpcTransport(ARBITER, tls=pki[str(ARBITER)]) as arbiter,
    ):
        # every party's peer table names all the others, as in a launched job
        guest.set_peers({str(HOST): host.address, str(ARBITER): arbiter.address})
        host.set_peers({str(GUEST): guest.address, str(ARBITER): arbiter.address})
        arbiter.set_peers({str(HOST): host.address, str(GUEST): guest.address})

        assert_accepted(guest, host)
        assert_accepted(host, guest)
        assert_accepted(guest, arbiter)
        assert_accepted(arbiter, host)  # the organisation's one certificate serves both its roles


def test_server_tls_without_client_certificates(pki: dict[str, TlsConfig]) -> None:
    one_way = {name: TlsConfig(c.ca_cert, c.cert, c.key, mutual=False) for name, c in pki.items()}
    with (
        GrpcTransport(HOST, tls=one_way[str(HOST)]) as host,
        GrpcTransport(GUEST, tls=one_way[str(GUEST)]) as guest,
    ):
        guest.set_peers({str(HOST): host.address})
        assert_accepted(guest, host)


def test_spoofed_src_is_refused(pki: dict[str, TlsConfig], host: GrpcTransport) -> None:
    # Prepare: host:10001 holds a valid certificate of the federation, and claims to be the guest
    spoof = envelope(GUEST, HOST)
    caught: list[BaseException] = []

    def wait_for_guest() -> None:
        try:
            host.recv(f"j1/lr_0/never/{GUEST}->{HOST}", GUEST, timeout=1.5)
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=wait_for_guest)
    waiter.start()
    with open_channel(host.address, HOST, pki[str(HOST2)], 1 << 20) as channel:
        # Execute: a message and a failure notice, both in the guest's name
        start = time.monotonic()
        with pytest.raises(MessageError) as info:
            send_envelope(
                channel,
                spoof,
                target=host.address,
                chunk_bytes=1 << 20,
                timeout=3.0,
                party=str(HOST2),
                tls=True,
            )
        with pytest.raises(grpc.RpcError) as notice:
            send_failure(channel, str(GUEST), "fake failure", timeout=3.0).result()

    # Assert
    assert time.monotonic() - start < 3.0
    assert "claims to be guest:9999 but its TLS certificate names host-10001.fedloom" in str(info.value)
    assert notice.value.code() == grpc.StatusCode.PERMISSION_DENIED
    waiter.join()
    assert len(caught) == 1 and isinstance(caught[0], PartyTimeoutError)  # not woken by the fake notice
    with pytest.raises(PartyTimeoutError):
        host.recv(spoof.address, GUEST, timeout=0.05)

    with GrpcTransport(HOST2, tls=pki[str(HOST2)]) as honest:
        honest.set_peers({str(HOST): host.address})
        assert_accepted(honest, host)


def test_failure_notice_over_mutual_tls(pki: dict[str, TlsConfig], host: GrpcTransport) -> None:
    with GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest:
        guest.set_peers({str(HOST): host.address})
        guest.notify_failure([HOST], "disk full")
        with pytest.raises(PartyFailedError, match="disk full"):
            host.recv(f"j1/lr_0/x/{GUEST}->{HOST}", GUEST, timeout=5.0)


def test_client_certificate_from_another_ca_is_refused(
    pki: dict[str, TlsConfig], foreign_pki: dict[str, TlsConfig], host: GrpcTransport
) -> None:
    # trusts the federation's CA, but presents a certificate the host cannot verify
    intruder_cfg = TlsConfig(
        pki[str(GUEST)].ca_cert, foreign_pki[str(GUEST)].cert, foreign_pki[str(GUEST)].key
    )
    with GrpcTransport(GUEST, tls=intruder_cfg) as intruder:
        intruder.set_peers({str(HOST): host.address})
        assert_refused_quickly(intruder, HOST)

    with GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest:
        guest.set_peers({str(HOST): host.address})
        assert_accepted(guest, host)


def test_server_from_another_ca_is_refused(
    foreign_pki: dict[str, TlsConfig], pki: dict[str, TlsConfig]
) -> None:
    with (
        GrpcTransport(HOST, tls=foreign_pki[str(HOST)]) as impostor,
        GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest,
    ):
        guest.set_peers({str(HOST): impostor.address})
        assert "CERTIFICATE_VERIFY_FAILED" in assert_refused_quickly(guest, HOST)


def test_server_must_be_the_party_we_mean_to_reach(pki: dict[str, TlsConfig], host: GrpcTransport) -> None:
    # the guest's peer table wrongly points host:10001 at host:10000's server
    with GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest:
        guest.set_peers({str(HOST2): host.address})
        assert "host-10001.fedloom" in assert_refused_quickly(guest, HOST2)


def test_plaintext_client_to_tls_server_is_refused(host: GrpcTransport) -> None:
    with GrpcTransport(GUEST) as plain:
        plain.set_peers({str(HOST): host.address})
        assert_refused_quickly(plain, HOST)


def test_tls_client_to_plaintext_server_is_refused(pki: dict[str, TlsConfig]) -> None:
    with GrpcTransport(HOST) as plain_host, GrpcTransport(GUEST, tls=pki[str(GUEST)]) as guest:
        guest.set_peers({str(HOST): plain_host.address})
        assert_refused_quickly(guest, HOST)
