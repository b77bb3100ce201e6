"""The sending side of the gRPC transport: channels, body streaming, retries and error mapping.

A message goes out as one client-streaming ``Deliver`` call (see :mod:`.server`): the header,
then the body cut into ``chunk_bytes`` frames taken straight from the envelope's buffers through
memoryview slices, so a large array is never concatenated into one ``bytes`` first; only the
frame in flight is copied.

How a failed call surfaces to the caller of ``send``:

====================================================  =========================================
``INVALID_ARGUMENT``, ``ALREADY_EXISTS``,             :class:`MessageError` with the peer's
``RESOURCE_EXHAUSTED``, ``PERMISSION_DENIED``,        explanation
``UNAUTHENTICATED``
``UNAVAILABLE`` (peer not up yet, restarting, dead)   retried with capped exponential backoff
                                                      until the timeout, then
                                                      :class:`PartyTimeoutError`
TLS handshake failure (wrong CA, certificate not      :class:`MessageError` saying so, at once
naming the party we mean to reach)
peer keeps closing the connection while connecting    :class:`MessageError` after ~1 s: the two
(it refuses our certificate, or TLS on one side)      sides disagree on TLS or on the CA
``DEADLINE_EXCEEDED``                                 :class:`PartyTimeoutError`
anything else                                         :class:`ProtocolError`
====================================================  =========================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
import msgpack

from fedloom.core.errors import MessageError, PartyTimeoutError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Buffer, Envelope
from fedloom.transport.grpc.server import DELIVER, FAIL, FRAME_SLACK, MAX_REASON_BYTES
from fedloom.transport.grpc.tls import TlsConfig

log = logging.getLogger(__name__)

_REFUSED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
_TLS_WORDS = ("handshake", "ssl", "tls", "certificate", "hostname verification")
#: First and largest pause between attempts to reach a peer that is not up (seconds).
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 1.0
#: How long a peer may keep closing connections during connection setup before we call it a
#: TLS disagreement instead of a peer that is still starting.
CLOSED_WHILE_CONNECTING_S = 1.0


def channel_options(chunk_bytes: int, dst: PartyId, tls: TlsConfig | None) -> list[tuple[str, Any]]:
    """Channel arguments for a channel to ``dst``: frame limits, keepalive, reconnect backoff."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", chunk_bytes + FRAME_SLACK),
        ("grpc.max_receive_message_length", FRAME_SLACK),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        # We retry ourselves (below); reconnect quickly once a peer comes up.
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    if tls is not None:
        # The server must present the certificate of the party we mean to reach, whatever the address.
        options.append(("grpc.ssl_target_name_override", dst.dns_name))
    return options


def open_channel(target: str, dst: PartyId, tls: TlsConfig | None, chunk_bytes: int) -> grpc.Channel:
    """A channel to ``dst`` listening at ``target`` (``host:port``), over TLS when ``tls`` is set."""
    options = channel_options(chunk_bytes, dst, tls)
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(tls.ca_cert, tls.key, tls.cert)
    return grpc.secure_channel(target, credentials, options=options)


def _byte_view(buf: Buffer) -> memoryview:
    view = memoryview(buf)
    if view.format == "B" and view.ndim == 1 and view.c_contiguous:
        return view
    if view.c_contiguous:
        return view.cast("B")
    return memoryview(view.tobytes())  # a strided view: one copy of this buffer only


def body_frames(header: bytes, body: Sequence[Buffer], chunk_bytes: int) -> Iterator[bytes]:
    """The ``Deliver`` stream: ``header``, then the body in frames of ``chunk_bytes``.

    Frames are cut from the buffers through memoryview slices; a frame spanning two buffers is
    joined from its slices. Only the frame being yielded is ever copied.
    """
    yield header
    pending: list[memoryview] = []
    pending_n = 0
    for buf in body:
        view = _byte_view(buf)
        pos, n = 0, view.nbytes
        while pos < n:
            if not pending and n - pos >= chunk_bytes:
                yield bytes(view[pos : pos + chunk_bytes])
                pos += chunk_bytes
                continue
            take = min(chunk_bytes - pending_n, n - pos)
            pending.append(view[pos : pos + take])
            pending_n += take
            pos += take
            if pending_n == chunk_bytes:
                yield b"".join(pending)
                pending, pending_n = [], 0
    if pending:
        yield b"".join(pending)


def _is_tls_failure(details: str) -> bool:
    low = details.lower()
    return any(word in low for word in _TLS_WORDS)


def send_envelope(
    channel: grpc.Channel,
    env: Envelope,
    *,
    target: str,
    chunk_bytes: int,
    timeout: float,
    party: str,
    tls: bool,
    abort: Callable[[], None] | None = None,
) -> None:
    """Stream ``env`` to its destination over ``channel`` within ``timeout`` seconds.

    Parameters
    ----------
    channel
        Channel to the destination party.
    env
        A validated envelope.
    target
        The ``host:port`` the channel points at (for messages).
    chunk_bytes
        Body frame size.
    timeout
        Seconds for the whole send, retries included; each attempt's gRPC deadline is the time left.
    party
        This party, for the errors' context.
    tls
        Whether the channel uses TLS (for messages).
    abort
        Called before each retry; raises to stop retrying (the peer reported a failure).

    Raises
    ------
    MessageError
        The peer refused the message, or the TLS handshake failed.
    PartyTimeoutError
        The peer could not be reached or did not take the message within ``timeout``.
    ProtocolError
        Any other failure of the call.
    """
    deliver = channel.stream_unary(DELIVER)
    header = env.header_bytes()
    deadline = time.monotonic() + timeout
    delay = RETRY_FIRST_S
    closed_since: float | None = None
    last = ""
    attempts = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PartyTimeoutError(
                env.address, timeout, party=party, detail=_unreachable(env.dst, target, last, attempts, tls)
            )
        attempts += 1
        try:
            ack = deliver(body_frames(header, env.body, chunk_bytes), timeout=left, wait_for_ready=False)
        except grpc.RpcError as err:
            code: grpc.StatusCode = err.code()
            details: str = err.details() or ""
            if code in _REFUSED:
                raise MessageError(
                    f"{env.dst} refused message '{env.address}': {details}", party=party
                ) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                why = f"; before that: {last}" if last else ""
                raise PartyTimeoutError(
                    env.address,
                    timeout,
                    party=party,
                    detail=f"{env.dst} at {target} did not take the message in time{why}",
                ) from None
            if code != grpc.StatusCode.UNAVAILABLE:
                raise ProtocolError(
                    f"sending '{env.address}' to {env.dst} at {target} failed: {code.name}: {details}",
                    party=party,
                ) from None
            last = details
            now = time.monotonic()
            if _is_tls_failure(details):
                raise MessageError(
                    f"TLS handshake with {env.dst} at {target} failed: {details.rstrip('. ')}. Check that "
                    "both parties use TLS, that their certificates come from the same CA and that the "
                    f"certificate served at {target} names {PartyId.parse(env.dst).dns_name}",
                    party=party,
                ) from None
            if "socket closed" in details.lower():
                closed_since = now if closed_since is None else closed_since
                if now - closed_since >= CLOSED_WHILE_CONNECTING_S:
                    raise MessageError(
                        f"{env.dst} at {target} keeps closing the connection while it is set up: "
                        + _closed_hint(tls),
                        party=party,
                    ) from None
            else:
                closed_since = None
            log.debug("%s unreachable at %s (%s); retrying in %.2f s", env.dst, target, details, delay)
            time.sleep(max(0.0, min(delay, deadline - now)))
            if abort is not None:
                abort()
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        received = _ack_size(ack)
        if received != env.size:
            raise MessageError(
                f"{env.dst} acknowledged {received} bytes of message '{env.address}' instead of {env.size}",
                party=party,
            )
        return


def _ack_size(ack: bytes) -> int | None:
    try:
        value = msgpack.unpackb(ack, raw=False, max_bin_len=0, max_ext_len=0)
    except Exception:  # a garbled ack is reported by the caller as a size mismatch
        return None
    n = value.get("n") if isinstance(value, dict) else None
    return n if isinstance(n, int) else None


def _closed_hint(tls: bool) -> str:
    if tls:
        return (
            "it probably rejects our TLS certificate (is it signed by the CA the peer trusts?) "
            "or does not use TLS itself"
        )
    return "it probably requires TLS (a certificate), which this party is not configured with"


def _unreachable(dst: str, target: str, last: str, attempts: int, tls: bool) -> str:
    detail = f"peer {dst} unreachable at {target}"
    if last:
        detail += f" after {attempts} attempts; last error: {last}"
        if "socket closed" in last.lower():
            detail += "; " + _closed_hint(tls)
    return detail


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "..."


def send_failure(channel: grpc.Channel, src: str, reason: str, timeout: float) -> grpc.Future:
    """Start a ``Fail`` call telling the peer that ``src`` failed; returns the call's future."""
    payload = msgpack.packb({"s": src, "r": _truncate_utf8(reason, MAX_REASON_BYTES)})
    call = channel.unary_unary(FAIL)
    return call.future(payload, timeout=timeout, wait_for_ready=False)
