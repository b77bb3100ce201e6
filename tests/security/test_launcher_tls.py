"""Launched jobs talk mutual TLS by default: a per-job CA, one certificate per party, files 0600.

Finding 3: without TLS any local process can inject messages into a job or forge a failure notice.
Each test plays that local process against parties started by the launcher, at the moment every
party listens and before any of them has sent a message (``launch(on_ready=...)``).
"""

from __future__ import annotations

import logging
import stat
import tempfile
from pathlib import Path

import grpc
import pytest

from fedloom.core import FedloomError, PartyId
from fedloom.runner.launcher import PLAINTEXT_WARNING, PartySpec, launch, write_job_pki
from fedloom.transport.codec import encode
from fedloom.transport.envelope import Envelope
from fedloom.transport.grpc import GrpcTransport
from fedloom.transport.grpc.server import DELIVER
from fedloom.transport.grpc.tls import cert_dns_names

RUNNER_TESTS = str(Path(__file__).resolve().parents[1] / "runner")
G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
JOB = "tlsjob"
#: What a two-party job's TLS folder holds.
FILES = {"ca.crt", "guest-9999.crt", "guest-9999.key", "host-10000.crt", "host-10000.key"}


def echo_specs() -> list[PartySpec]:
    return [PartySpec(G, "party_targets:echo_guest"), PartySpec(H, "party_targets:echo_host")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def forged_ping() -> Envelope:
    """The guest's first message to the host, as a local process would forge it (value 1000)."""
    encoded = encode(1000)
    return Envelope(
        address=f"{JOB}/ping/{G}->{H}",
        src=str(G),
        dst=str(H),
        payload_type=encoded.payload_type,
        key_fingerprint=encoded.key_fingerprint,
        body=encoded.body,
    )


def plaintext_deliver(address: str) -> None:
    """One raw ``Deliver`` call over a plaintext channel (raises grpc.RpcError when refused)."""
    with grpc.insecure_channel(address) as channel:
        deliver = channel.stream_unary(DELIVER)
        deliver(iter([forged_ping().header_bytes(), b"\x00"]), timeout=3)


def test_a_launched_job_uses_mutual_tls_and_refuses_a_local_impostor(tmp_path: Path) -> None:
    refused: dict[str, BaseException] = {}

    def impostor(addresses: dict[str, str]) -> None:
        host = addresses[str(H)]
        try:
            plaintext_deliver(host)
        except grpc.RpcError as exc:
            refused["plaintext Deliver"] = exc
        with GrpcTransport(G, peers={str(H): host}) as fake_guest:  # plaintext, claims to be the guest
            try:
                fake_guest.send(forged_ping(), 3.0)
            except FedloomError as exc:
                refused["plaintext transport"] = exc
            fake_guest.notify_failure([H], "forged by a local process")
        ca = (tmp_path / "tls" / "ca.crt").read_bytes()  # the CA certificate alone is not enough
        no_client_cert = grpc.ssl_channel_credentials(root_certificates=ca)
        options = [("grpc.ssl_target_name_override", H.dns_name)]
        with grpc.secure_channel(host, no_client_cert, options=options) as channel:
            try:
                channel.stream_unary(DELIVER)(iter([forged_ping().header_bytes()]), timeout=3)
            except grpc.RpcError as exc:
                refused["TLS without a client certificate"] = exc

    res = launch(echo_specs(), job_id=JOB, python_path=[RUNNER_TESTS], job_dir=tmp_path, timeout=30,
                 on_ready=impostor, log_level="INFO")  # fmt: skip

    assert set(refused) == {"plaintext Deliver", "plaintext transport", "TLS without a client certificate"}
    res.raise_for_failure()  # the forged failure notice did not reach the host
    assert res.tls
    assert res.results()[G] == 41  # the host answered the guest's 20, not the forged 1000
    tls = tmp_path / "tls"
    assert {p.name for p in tls.iterdir()} == FILES  # the CA's private key is never written
    assert mode(tls) == 0o700
    assert all(mode(tls / name) == 0o600 for name in FILES)
    assert "(mutual TLS)" in (tmp_path / "logs" / "host-10000.log").read_text()


def test_plaintext_is_opt_in_loud_and_lets_a_local_process_forge_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def forge(addresses: dict[str, str]) -> None:
        with GrpcTransport(G, peers={str(H): addresses[str(H)]}) as fake_guest:
            fake_guest.notify_failure([H], "forged by a local process")

    with caplog.at_level(logging.WARNING, logger="fedloom.runner.launcher"):
        res = launch(echo_specs(), job_id=JOB, python_path=[RUNNER_TESTS], job_dir=tmp_path, timeout=30,
                     tls=False, on_ready=forge, grace=1.0)  # fmt: skip

    assert PLAINTEXT_WARNING in caplog.text and "PLAINTEXT" in PLAINTEXT_WARNING
    assert not res.tls and not (tmp_path / "tls").exists()
    assert res.outcomes[H].error_type == "PartyFailedError"
    assert "forged by a local process" in res.outcomes[H].message  # what mutual TLS prevents


def test_without_a_job_folder_the_tls_files_live_in_a_private_folder_removed_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: str, **kwargs: str) -> str:
        made.append(Path(real_mkdtemp(*args, **kwargs)))
        return str(made[-1])

    seen: dict[str, int] = {}

    def look(addresses: dict[str, str]) -> None:
        seen.update({p.name: mode(p) for p in made[0].iterdir()}, folder=mode(made[0]))

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    res = launch(echo_specs(), job_id=JOB, python_path=[RUNNER_TESTS], timeout=30, on_ready=look)

    res.raise_for_failure()
    assert len(made) == 1 and not made[0].exists()
    assert seen.pop("folder") == 0o700
    assert seen == dict.fromkeys(FILES, 0o600)


def test_host_and_arbiter_sharing_a_party_id_get_their_own_certificates(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    folder.mkdir()
    stale = folder / "host-10000.key"
    stale.write_bytes(b"old")
    stale.chmod(0o644)

    files = write_job_pki([G, H, A], folder)

    host, arbiter = (Path(files[str(p)]["cert"]).read_bytes() for p in (H, A))
    assert cert_dns_names(host) == ["host-10000.fedloom"]
    assert cert_dns_names(arbiter) == ["arbiter-10000.fedloom"]
    assert Path(files[str(H)]["key"]).read_bytes() != Path(files[str(A)]["key"]).read_bytes()
    assert {files[str(p)]["ca"] for p in (G, H, A)} == {str(folder / "ca.crt")}
    assert mode(stale) == 0o600 and stale.read_bytes() != b"old"  # replaced, not widened
