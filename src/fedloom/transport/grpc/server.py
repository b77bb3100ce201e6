"""The receiving side of the gRPC transport: the ``fedloom.Transport`` service.

No protobuf code is generated: both methods carry raw bytes (identity serializers).

``Deliver`` (client streaming)
    frame 0 is the envelope header (:meth:`Envelope.header_bytes`, msgpack, at most
    :data:`~fedloom.transport.envelope.MAX_HEADER_BYTES`), frames 1.. are the body in chunks.
    The reply is a tiny msgpack ack ``{"n": bytes_received}``. Checks, in order, each refusing
    the call with a precise status while the server keeps serving:

    ===============================================  ======================
    header malformed or of another schema version    ``INVALID_ARGUMENT``
    ``dst`` is not this party                        ``INVALID_ARGUMENT``
    announced body size above ``max_message_bytes``  ``RESOURCE_EXHAUSTED`` (body never read)
    mutual TLS: certificate does not name ``src``    ``PERMISSION_DENIED``
    more or fewer body bytes than announced          ``INVALID_ARGUMENT``
    address already used                             ``ALREADY_EXISTS``
    ===============================================  ======================

    The body is reassembled into one ``bytearray`` allocated at the announced size, so a large
    message costs one copy of itself plus one chunk in flight.

``Fail`` (unary)
    msgpack ``{"s": src, "r": reason}`` with a reason of at most :data:`MAX_REASON_BYTES`: the
    peer ``src`` failed, so pending and future receives from it raise ``PartyFailedError``.
    Under mutual TLS, ``src`` is checked against the certificate like a message's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
import msgpack

from fedloom.core.errors import ConfigError, MessageError
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import MAX_HEADER_BYTES, decode_header, envelope_from_header
from fedloom.transport.mailbox import Mailbox

log = logging.getLogger(__name__)

SERVICE = "fedloom.Transport"
DELIVER = f"/{SERVICE}/Deliver"
FAIL = f"/{SERVICE}/Fail"
#: Largest failure reason carried by ``Fail`` (UTF-8 bytes).
MAX_REASON_BYTES = 4096
#: Room for gRPC framing and the header on top of a body chunk.
FRAME_SLACK = 64 * 1024


class PeerRefused(Exception):
    """Internal: a call must be refused with ``code`` and ``reason``."""

    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TransportService:
    """Implementation of ``fedloom.Transport`` for one party.

    Parameters
    ----------
    party
        The party this server receives for.
    mailbox
        Where accepted envelopes go.
    max_message_bytes
        Largest body accepted.
    check_identity
        Compare every ``src`` with the client certificate's DNS SAN names (mutual TLS).
    """

    def __init__(
        self, party: PartyId, mailbox: Mailbox, *, max_message_bytes: int, check_identity: bool
    ) -> None:
        self.party = party
        self.mailbox = mailbox
        self.max_message_bytes = max_message_bytes
        self.check_identity = check_identity

    def handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to register on a ``grpc.Server``."""
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Deliver": grpc.stream_unary_rpc_method_handler(self.deliver),
                "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            },
        )

    # -- RPCs ---------------------------------------------------------------------------------

    def deliver(self, frames: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        """``Deliver``: receive one envelope; see the module docstring for the checks."""
        peer = context.peer()
        try:
            nbytes = self._deliver(frames, context)
        except PeerRefused as refused:
            self._refuse(context, refused.code, refused.reason)
        except grpc.RpcError:  # the client cancelled or timed out mid-stream; nothing to answer
            log.warning("%s: %s gave up on a message while sending it", self.party, peer)
            return b""
        return msgpack.packb({"n": nbytes})

    def fail(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """``Fail``: record that the calling peer failed."""
        try:
            src, reason = self._parse_failure(request)
            self._check_identity(src, context)
        except PeerRefused as refused:
            self._refuse(context, refused.code, refused.reason)
        log.warning("%s: peer %s reported a failure: %s", self.party, src, reason)
        self.mailbox.fail(src, reason)
        return b""

    # -- steps --------------------------------------------------------------------------------

    def _deliver(self, frames: Iterator[bytes], context: grpc.ServicerContext) -> int:
        first = next(frames, None)
        if first is None:
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, "empty Deliver stream: no envelope header")
        try:
            header = decode_header(first)
        except MessageError as exc:
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from None
        address, src, size = header["a"], header["s"], header["n"]
        if header["d"] != str(self.party):
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message '{address}' is for {header['d']}, but this is {self.party}",
            )
        if size > self.max_message_bytes:
            raise PeerRefused(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"message '{address}' of {size} bytes exceeds {self.party}'s limit "
                f"of {self.max_message_bytes}",
            )
        self._check_identity(src, context)

        body = bytearray(size)
        view = memoryview(body)
        filled = 0
        for chunk in frames:
            end = filled + len(chunk)
            if end > size:
                raise PeerRefused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"message '{address}' carries more than the {size} bytes its header announced",
                )
            view[filled:end] = chunk
            filled = end
        view.release()
        if filled != size:
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message '{address}' carries {filled} bytes but its header announced {size}",
            )
        try:
            self.mailbox.deliver(envelope_from_header(header, [body]))
        except MessageError as exc:
            code = (
                grpc.StatusCode.ALREADY_EXISTS if exc.field == "address" else grpc.StatusCode.INVALID_ARGUMENT
            )
            raise PeerRefused(code, exc.message) from None
        log.debug("%s: accepted %s (%d bytes) from %s", self.party, address, size, context.peer())
        return size

    def _parse_failure(self, request: bytes) -> tuple[str, str]:
        if len(request) > MAX_REASON_BYTES + MAX_HEADER_BYTES:
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, "failure notice too large")
        try:
            notice: Any = msgpack.unpackb(
                request, raw=False, strict_map_key=True, max_bin_len=0, max_ext_len=0
            )
        except Exception as exc:  # msgpack raises several unrelated types on garbage
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failure notice is not valid msgpack ({type(exc).__name__})",
            ) from None
        src = notice.get("s") if isinstance(notice, dict) else None
        reason = notice.get("r") if isinstance(notice, dict) else None
        if not isinstance(src, str) or not isinstance(reason, str):
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, "failure notice needs a src and a reason")
        try:
            PartyId.parse(src)
        except ConfigError:
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT, f"failure notice src is not a party: {src[:80]!r}"
            ) from None
        if len(reason.encode("utf-8")) > MAX_REASON_BYTES:
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT, f"failure reason longer than {MAX_REASON_BYTES} bytes"
            )
        return src, reason

    def _check_identity(self, src: str, context: grpc.ServicerContext) -> None:
        """Under mutual TLS, ``src`` must be named by the client certificate."""
        if not self.check_identity:
            return
        expected = PartyId.parse(src).dns_name.lower()
        names = peer_cert_names(context)
        if expected not in names:
            shown = ", ".join(sorted(names)) or "no DNS name"
            raise PeerRefused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"sender claims to be {src} but its TLS certificate names {shown}, not {expected}",
            )

    def _refuse(self, context: grpc.ServicerContext, code: grpc.StatusCode, reason: str) -> NoReturn:
        log.warning("%s refused a call from %s: %s: %s", self.party, context.peer(), code.name, reason)
        context.abort(code, f"{self.party}: {reason}")
        raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


def peer_cert_names(context: grpc.ServicerContext) -> set[str]:
    """Lower-cased DNS SAN names of the client certificate of this call (empty without one)."""
    auth = context.auth_context()
    values = auth.get("peer_dns") or auth.get("x509_subject_alternative_name") or []
    return {v.decode("ascii", "replace").lower() for v in values}


def server_options(chunk_bytes: int) -> list[tuple[str, Any]]:
    """Channel arguments of the server: frame limits sized to the chunks, keepalive."""
    # Accept frames up to 4 MiB even when this party sends smaller chunks: peers may be configured
    # with a larger chunk size than ours.
    limit = max(chunk_bytes, 4 << 20, MAX_HEADER_BYTES) + FRAME_SLACK
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", FRAME_SLACK),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 5),
        ("grpc.so_reuseport", 0),
    ]
