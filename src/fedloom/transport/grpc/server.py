"""The receiving side of the gRPC transport: the ``fedloom.Transport`` service.

No protobuf code is generated: both methods carry raw bytes (identity serializers).

``Deliver`` (client streaming)
    frame 0 is the envelope header (:meth:`Envelope.header_bytes`, msgpack, at most
    :data:`~fedloom.transport.envelope.MAX_HEADER_BYTES`), frames 1.. are the body in chunks.
    The reply is a tiny msgpack ack ``{"n": bytes_received}``. Checks, in order, each refusing
    the call with a precise status while the server keeps serving:

    ==============================================================  ======================
    header malformed, of another schema version, no message id      ``INVALID_ARGUMENT``
    ``dst`` is not this party                                       ``INVALID_ARGUMENT``
    announced body size above ``max_message_bytes``                 ``RESOURCE_EXHAUSTED``
    mutual TLS: certificate does not name ``src``                   ``PERMISSION_DENIED``
    address does not end in ``{src}->{dst}`` of the header          ``PERMISSION_DENIED``
                                                                    (``src``), else
                                                                    ``INVALID_ARGUMENT``
    ``src`` not a peer of this job (once peers are set)             ``PERMISSION_DENIED``
    address already used by another message id                     ``ALREADY_EXISTS``
    same address, message id and size as a delivered message        acknowledged at once
                                                                    (idempotent resend)
    ``src``'s bytes in flight + unread would exceed its budget      ``RESOURCE_EXHAUSTED``
    no frame for ``stream_idle_timeout_s``                          call cancelled
                                                                    (``CANCELLED``)
    more or fewer body bytes than announced                         ``INVALID_ARGUMENT``
    ==============================================================  ======================

    Every check up to the budget is made on the header alone, before any body byte is read;
    the routing checks are :class:`~fedloom.transport.mailbox.Mailbox`'s (see there), with
    the authenticated sender being the certificate's party under mutual TLS and the declared
    ``src`` otherwise (**plaintext and server-only TLS authenticate no sender**).

    Memory grows only as bytes arrive: the body is received into a ``bytearray`` that is
    extended frame by frame (never allocated at the announced size), so a header announcing
    300 MB followed by nothing costs nothing. The announced size is reserved against the
    sender's budget (``max_pending_bytes_per_peer``) from the header on, and released when the
    stream fails, is cut or is refused; a large message costs one copy of itself (plus the
    growth slack of the ``bytearray``) and one frame in flight.

``Fail`` (unary)
    msgpack ``{"s": src, "r": reason}`` with a reason of at most :data:`MAX_REASON_BYTES`: the
    peer ``src`` failed, so pending and future receives from it raise ``PartyFailedError``.
    Authenticated like a message: under mutual TLS ``src`` must be named by the certificate
    (``PERMISSION_DENIED``), and once peers are set it must be one of them
    (``PERMISSION_DENIED``).
"""

from __future__ import annotations

import logging
import threading
import time
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
#: Seconds a ``Deliver`` stream may go without a frame before the server cuts it.
DEFAULT_STREAM_IDLE_TIMEOUT_S = 60.0

#: gRPC status for a mailbox refusal, by the :class:`MessageError` field it names.
_CODE_BY_FIELD = {
    "src": grpc.StatusCode.PERMISSION_DENIED,
    "message_id": grpc.StatusCode.ALREADY_EXISTS,
    "size": grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class PeerRefused(Exception):
    """Internal: a call must be refused with ``code`` and ``reason``."""

    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _refusal(exc: MessageError) -> PeerRefused:
    return PeerRefused(_CODE_BY_FIELD.get(exc.field or "", grpc.StatusCode.INVALID_ARGUMENT), exc.message)


class _Stream:
    """One ``Deliver`` call being watched: when it last made progress, and whether it was cut."""

    __slots__ = ("context", "expired", "last")

    def __init__(self, context: grpc.ServicerContext) -> None:
        self.context = context
        self.last = time.monotonic()
        self.expired = False


class StreamWatchdog:
    """Cuts ``Deliver`` streams that receive no frame for ``idle_timeout_s`` seconds.

    A sync gRPC handler blocked on the next frame cannot time out by itself, so one thread
    (running only while streams are open) cancels idle calls; the handler then sees its stream
    end, finds it marked expired, and unwinds, releasing the partial body and its reservation.
    """

    def __init__(self, idle_timeout_s: float, owner: str) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.owner = owner
        self._tick = max(0.01, min(1.0, idle_timeout_s / 4))
        self._lock = threading.Lock()
        self._streams: set[_Stream] = set()
        self._thread: threading.Thread | None = None

    def watch(self, context: grpc.ServicerContext) -> _Stream:
        """Start watching the call of ``context``."""
        stream = _Stream(context)
        with self._lock:
            self._streams.add(stream)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"fedloom-grpc-watchdog-{self.owner}", daemon=True
                )
                self._thread.start()
        return stream

    def unwatch(self, stream: _Stream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                if not self._streams:
                    self._thread = None
                    return
                idle = [s for s in self._streams if not s.expired and now - s.last > self.idle_timeout_s]
                for s in idle:
                    s.expired = True
            for s in idle:
                log.warning(
                    "%s: cut a message stream from %s: no data for %g s",
                    self.owner,
                    s.context.peer(),
                    self.idle_timeout_s,
                )
                s.context.cancel()


class TransportService:
    """Implementation of ``fedloom.Transport`` for one party.

    Parameters
    ----------
    party
        The party this server receives for.
    mailbox
        Where accepted envelopes go; it makes the routing checks and holds the per-peer budget.
    max_message_bytes
        Largest body accepted.
    check_identity
        Compare every ``src`` with the client certificate's DNS SAN names (mutual TLS).
    idle_timeout_s
        Seconds a ``Deliver`` stream may go without a frame before it is cut.
    """

    def __init__(
        self,
        party: PartyId,
        mailbox: Mailbox,
        *,
        max_message_bytes: int,
        check_identity: bool,
        idle_timeout_s: float = DEFAULT_STREAM_IDLE_TIMEOUT_S,
    ) -> None:
        self.party = party
        self.mailbox = mailbox
        self.max_message_bytes = max_message_bytes
        self.check_identity = check_identity
        self.watchdog = StreamWatchdog(idle_timeout_s, str(party))

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
        stream = self.watchdog.watch(context)
        try:
            nbytes = self._deliver(self._timed(frames, stream), context)
        except PeerRefused as refused:
            self._refuse(context, refused.code, refused.reason)
        except grpc.RpcError:  # the client cancelled or timed out mid-stream; nothing to answer
            log.warning("%s: %s gave up on a message while sending it", self.party, peer)
            return b""
        finally:
            self.watchdog.unwatch(stream)
        return msgpack.packb({"n": nbytes})

    def fail(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """``Fail``: record that the calling peer failed (authenticated like a message)."""
        try:
            src, reason = self._parse_failure(request)
            self._check_identity(src, context)
            try:
                self.mailbox.fail(src, reason)
            except MessageError as exc:
                raise PeerRefused(grpc.StatusCode.PERMISSION_DENIED, exc.message) from None
        except PeerRefused as refused:
            self._refuse(context, refused.code, refused.reason)
        log.warning("%s: peer %s reported a failure: %s", self.party, src, reason)
        return b""

    # -- steps --------------------------------------------------------------------------------

    def _timed(self, frames: Iterator[bytes], stream: _Stream) -> Iterator[bytes]:
        """``frames``, noting progress for the watchdog; a stream it cut ends in a refusal."""
        for frame in frames:
            stream.last = time.monotonic()
            yield frame
        if stream.expired:
            raise PeerRefused(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"no data for {self.watchdog.idle_timeout_s:g} s: message stream cut",
            )

    def _deliver(self, frames: Iterator[bytes], context: grpc.ServicerContext) -> int:
        header = self._read_header(frames)
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
        sender = src  # the certificate's party under mutual TLS; merely declared otherwise
        try:
            if not self.mailbox.admit(address, src, header["d"], header["m"], size, sender=sender):
                log.debug("%s: %s resent %s; acknowledged again", self.party, context.peer(), address)
                return size
            reservation = self.mailbox.reserve(sender, size)
        except MessageError as exc:
            raise _refusal(exc) from None
        with reservation:
            body = self._receive_body(frames, address, size)
            try:
                env = envelope_from_header(header, [body])
            except MessageError as exc:
                raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from None
            try:
                self.mailbox.deliver(env, sender=sender, reservation=reservation)
            except MessageError as exc:
                raise _refusal(exc) from None
        log.debug("%s: accepted %s (%d bytes) from %s", self.party, address, size, context.peer())
        return size

    @staticmethod
    def _read_header(frames: Iterator[bytes]) -> dict[str, Any]:
        first = next(frames, None)
        if first is None:
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, "empty Deliver stream: no envelope header")
        try:
            return decode_header(first)
        except MessageError as exc:
            raise PeerRefused(grpc.StatusCode.INVALID_ARGUMENT, exc.message) from None

    @staticmethod
    def _receive_body(frames: Iterator[bytes], address: str, size: int) -> bytearray:
        """The body, grown frame by frame: memory follows the bytes that actually arrived."""
        body = bytearray()
        for chunk in frames:
            if len(body) + len(chunk) > size:
                raise PeerRefused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"message '{address}' carries more than the {size} bytes its header announced",
                )
            body += chunk
        if len(body) != size:
            raise PeerRefused(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"message '{address}' carries {len(body)} bytes but its header announced {size}",
            )
        return body

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
