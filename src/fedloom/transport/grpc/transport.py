"""gRPC transport: each party runs a small ``fedloom.Transport`` server and keeps one channel per peer.

Used by the local launcher (loopback) and across machines (with mutual TLS). See
:mod:`.server` for the wire protocol and its checks, :mod:`.client` for streaming, retries and
error mapping, and :mod:`.tls` for how a party's identity is bound to its certificate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Unpack

import grpc

from fedloom.core.errors import ConfigError, MessageError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.transport.base import Limits, Transport
from fedloom.transport.envelope import Envelope
from fedloom.transport.grpc.client import open_channel, send_envelope, send_failure
from fedloom.transport.grpc.server import DEFAULT_STREAM_IDLE_TIMEOUT_S, TransportService, server_options
from fedloom.transport.grpc.tls import TlsConfig

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 64 << 20
#: Seconds a failure notice may take per peer.
FAIL_NOTICE_TIMEOUT_S = 2.0
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


class GrpcTransport(Transport):
    """A party's gRPC endpoint: a server receiving into its mailbox, channels to its peers.

    Parameters
    ----------
    party
        This party.
    listen
        ``host:port`` to bind; port ``0`` picks a free one (read it back from :attr:`port`).
    peers
        ``{"host:10000": "127.0.0.1:5001", ...}``: where each peer listens. May be given later,
        or extended, with :meth:`set_peers`.
    tls
        TLS material; ``None`` for plaintext (loopback only). With ``tls.mutual`` every sender's
        claimed ``src`` is checked against its certificate (see :mod:`.tls`). Plaintext and
        server-only TLS authenticate no sender: any client that reaches the port may claim any
        ``src``, and only the routing checks of the mailbox (a party may write only to addresses
        naming it as the sender, only peers may write) still hold.
    max_message_bytes
        Largest message body this party accepts; larger ones are refused before their body is read.
    chunk_bytes
        Size of the frames a body is streamed in (1 B to 64 MiB; default 1 MiB). Peers accept
        frames of up to ``max(their chunk_bytes, 4 MiB)``.
    max_pending_bytes_per_peer
        Budget of bytes each peer may have in flight to this party plus delivered and unread;
        a message that would exceed it is refused with ``RESOURCE_EXHAUSTED`` before its body is
        read. Default: ``max_message_bytes``.
    stream_idle_timeout_s
        Seconds a peer's message stream may go without a frame before this server cuts it and
        drops its partial body (default 60).

    Attributes
    ----------
    port : int
        The bound port.
    address : str
        ``host:port`` at which peers on this machine reach this party (a wildcard listen host is
        reported as ``127.0.0.1``).

    Raises
    ------
    ConfigError
        A bad parameter, a port that cannot be bound, or a certificate that does not name ``party``.
    """

    def __init__(
        self,
        party: PartyId,
        *,
        listen: str = "127.0.0.1:0",
        peers: Mapping[str, str] | None = None,
        tls: TlsConfig | None = None,
        chunk_bytes: int = 1 << 20,
        stream_idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_S,
        **limits: Unpack[Limits],
    ) -> None:
        super().__init__(party, **limits)
        _check_params(party, chunk_bytes, stream_idle_timeout_s, tls)
        self.tls = tls
        self.chunk_bytes = chunk_bytes
        self.stream_idle_timeout_s = float(stream_idle_timeout_s)
        self._lock = threading.Lock()
        self._peers: dict[str, str] = {}
        self._channels: dict[str, tuple[str, grpc.Channel]] = {}
        self._closed = False

        host, _ = _split_hostport(listen, "listen", str(party))
        self._service = TransportService(
            party,
            self.mailbox,
            max_message_bytes=self.max_message_bytes,
            check_identity=tls is not None and tls.mutual,
            idle_timeout_s=self.stream_idle_timeout_s,
        )
        self._server, bound = _start_server(self._service, listen, tls, chunk_bytes, str(party))
        self.port: int = bound
        self.address: str = f"{'127.0.0.1' if host in _WILDCARD_HOSTS else host}:{bound}"
        log.info("%s listening on %s (%s)", party, listen.rpartition(":")[0] + f":{bound}", _mode(tls))
        if peers:
            self.set_peers(peers)

    def set_peers(self, peers: Mapping[str, str] | Iterable[PartyId | str]) -> None:
        """Add or update peers' addresses: ``{"host:10000": "127.0.0.1:5001"}``.

        Can be called at any time; a peer whose address changes gets a fresh channel. The
        parties in the peer table are the peers of this job: from the first call on, messages
        and failure notices from any other party are refused (``PERMISSION_DENIED``).

        Raises
        ------
        ConfigError
            ``peers`` is not a mapping to ``host:port`` addresses, or names a bad party.
        """
        if not isinstance(peers, Mapping):
            raise ConfigError(
                "GrpcTransport.set_peers takes each peer's address: {'host:10000': '127.0.0.1:5001'}. "
                f"Got {type(peers).__name__}.",
                party=str(self.party),
                field="peers",
            )
        parsed: dict[str, str] = {}
        for name, target in peers.items():
            key = str(PartyId.parse(str(name)))
            _split_hostport(target, f"peers[{key!r}]", str(self.party))
            parsed[key] = target
        stale: list[grpc.Channel] = []
        with self._lock:
            for key, target in parsed.items():
                self._peers[key] = target
                cached = self._channels.get(key)
                if cached is not None and cached[0] != target:
                    stale.append(self._channels.pop(key)[1])
            known = list(self._peers)
        self.mailbox.set_peers(known)
        for channel in stale:
            channel.close()

    def _channel(self, dst: str) -> tuple[str, grpc.Channel]:
        with self._lock:
            if self._closed:
                raise ProtocolError(f"the transport of {self.party} is closed", party=str(self.party))
            target = self._peers.get(dst)
            if target is None:
                known = ", ".join(sorted(self._peers)) or "none"
                raise ProtocolError(
                    f"{self.party} has no address for {dst} (known peers: {known}); "
                    "call set_peers() before sending",
                    party=str(self.party),
                )
            cached = self._channels.get(dst)
            if cached is None:
                cached = (target, open_channel(target, PartyId.parse(dst), self.tls, self.chunk_bytes))
                self._channels[dst] = cached
            return cached

    def _send(self, env: Envelope, timeout: float) -> None:
        if env.src != str(self.party):
            raise MessageError(
                f"{self.party} cannot send a message from {env.src}", party=str(self.party), field="src"
            )
        target, channel = self._channel(env.dst)
        send_envelope(
            channel,
            env,
            target=target,
            chunk_bytes=self.chunk_bytes,
            timeout=timeout,
            party=str(self.party),
            tls=self.tls is not None,
            abort=lambda: self.mailbox.raise_if_failed(env.dst),
        )

    def notify_failure(
        self, peers: list[PartyId], reason: str, *, timeout: float = FAIL_NOTICE_TIMEOUT_S
    ) -> None:
        """Tell ``peers`` that this party failed (best effort, all at once, never raises).

        Parameters
        ----------
        peers
            Parties to notify; those without a known address are skipped.
        reason
            One line a user can act on; cut to 4 KiB.
        timeout
            Seconds allowed for the notices.
        """
        calls: list[tuple[str, grpc.Future]] = []
        for peer in peers:
            try:
                _, channel = self._channel(str(peer))
                calls.append((str(peer), send_failure(channel, str(self.party), reason, timeout)))
            except Exception as exc:  # best effort: a notice must never mask the real failure
                log.warning("%s could not tell %s that it failed: %s", self.party, peer, exc)
        for peer_name, call in calls:
            try:
                call.result()
            except Exception as exc:  # grpc.RpcError, or a timeout
                log.warning("%s could not tell %s that it failed: %s", self.party, peer_name, _rpc_text(exc))

    def close(self) -> None:
        """Stop the server (1 s grace for calls in flight), close every channel and the mailbox."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            channels = [ch for _, ch in self._channels.values()]
            self._channels.clear()
        self._server.stop(grace=1.0).wait(2.0)
        for channel in channels:
            channel.close()
        super().close()

    def __repr__(self) -> str:
        return f"GrpcTransport({self.party}, address={self.address!r}, {_mode(self.tls)})"


def _check_params(party: PartyId, chunk_bytes: int, idle_timeout_s: float, tls: TlsConfig | None) -> None:
    if (
        not isinstance(chunk_bytes, int)
        or isinstance(chunk_bytes, bool)
        or not 1 <= chunk_bytes <= MAX_CHUNK_BYTES
    ):
        raise ConfigError(
            f"The 'chunk_bytes' parameter of GrpcTransport must be an int in [1, {MAX_CHUNK_BYTES}]. "
            f"Got {chunk_bytes!r}.",
            party=str(party),
            field="chunk_bytes",
        )
    if (
        not isinstance(idle_timeout_s, int | float)
        or isinstance(idle_timeout_s, bool)
        or not idle_timeout_s > 0
    ):
        raise ConfigError(
            "The 'stream_idle_timeout_s' parameter of GrpcTransport must be a number > 0. "
            f"Got {idle_timeout_s!r}.",
            party=str(party),
            field="stream_idle_timeout_s",
        )
    if tls is not None and party.dns_name.lower() not in {n.lower() for n in tls.dns_names()}:
        raise ConfigError(
            f"the TLS certificate names {', '.join(tls.dns_names()) or 'no DNS name'}, not "
            f"{party.dns_name}: peers would refuse {party}",
            party=str(party),
            field="cert",
        )


def _start_server(
    service: TransportService, listen: str, tls: TlsConfig | None, chunk_bytes: int, party: str
) -> tuple[grpc.Server, int]:
    """A started server for ``service`` bound to ``listen``, and the port it bound."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"fedloom-grpc-{party}"),
        handlers=[service.handler()],
        options=server_options(chunk_bytes),
    )
    try:
        if tls is None:
            bound = server.add_insecure_port(listen)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key, tls.cert)], root_certificates=tls.ca_cert, require_client_auth=tls.mutual
            )
            bound = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {listen!r}: {exc}", party=party, field="listen") from None
    if bound == 0:
        raise ConfigError(f"cannot listen on {listen!r}", party=party, field="listen")
    server.start()
    return server, bound


def _mode(tls: TlsConfig | None) -> str:
    if tls is None:
        return "plaintext"
    return "mutual TLS" if tls.mutual else "TLS"


def _rpc_text(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


def _split_hostport(text: str, field: str, party: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(
            f"{field} must be 'host:port', e.g. '127.0.0.1:9360'. Got {text!r}.", party=party, field=field
        )
    return host, int(port)
