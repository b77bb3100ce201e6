"""The sending side of the gRPC transport: channels, body streaming, retries and error mapping.

A message goes out as one client-streaming ``Deliver`` call (see :mod:`.server`): the header,
then the body cut into ``chunk_bytes`` frames taken straight from the envelope's buffers through
memoryview slices, so a large array is never concatenated into one ``bytes`` first; only the
frame in flight is copied.

Retries
-------
Every header carries the envelope's message id, and the receiver acknowledges a resend of a
message it already stored (same address, id and size) as a success, so sending a message again
is always safe. Retries are gRPC's own:

* **gRPC's retry policy** (:data:`SERVICE_CONFIG`, ``retryPolicy`` on ``UNAVAILABLE``, up to
  :data:`RETRY_MAX_ATTEMPTS` attempts with capped exponential backoff) retries a call that
  failed before it was committed. For a client-streaming call that is only while everything sent
  so far fits in the per-call retry buffer (``grpc.per_rpc_retry_buffer_size``, 256 KiB): the
  header and a small body, not a large one, which gRPC would otherwise hold in memory a second
  time. So the policy covers a connection that breaks as a call starts.
* **A peer that is not up yet**, or a connection lost mid-body: the call is made once more with
  ``wait_for_ready=True`` and the time left as its deadline, so gRPC itself waits for the peer
  and reconnects (with the channel's reconnect backoff). It is made again only if that call too
  loses its connection, never more often than every :data:`POLL_S`.

While waiting, every :data:`POLL_S` the ``abort`` callback runs (a peer that reported a failure
stops the wait at once), and while the channel is failing to connect a harmless probe call
(``/fedloom.Transport/Probe``, which no server implements) reads the connection error, so a TLS
failure still surfaces at once instead of as a timeout.

How a failed call surfaces to the caller of ``send``:

====================================================  =========================================
``INVALID_ARGUMENT``, ``ALREADY_EXISTS``,             :class:`MessageError` with the peer's
``RESOURCE_EXHAUSTED``, ``PERMISSION_DENIED``,        explanation
``UNAUTHENTICATED``
``UNAVAILABLE`` (peer not up yet, restarting, dead)   retried as above until the timeout, then
                                                      :class:`PartyTimeoutError` ("peer ...
                                                      unreachable at ...")
TLS handshake failure (wrong CA, certificate not      :class:`MessageError` saying so, at once
naming the party we mean to reach)
peer keeps closing the connection while connecting    :class:`MessageError` after ~1 s: the two
(it refuses our certificate, or TLS on one side)      sides disagree on TLS or on the CA
``DEADLINE_EXCEEDED``                                 :class:`PartyTimeoutError`
a peer we wait for reported a failure                 what ``abort`` raises
                                                      (:class:`PartyFailedError`)
anything else (e.g. ``CANCELLED``: the receiver cut   :class:`ProtocolError`
a stream that stalled)
====================================================  =========================================
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import msgpack

from fedloom.core.errors import MessageError, PartyTimeoutError, ProtocolError
from fedloom.core.roles import PartyId
from fedloom.transport.envelope import Buffer, Envelope
from fedloom.transport.grpc.server import DELIVER, FAIL, FRAME_SLACK, MAX_REASON_BYTES, SERVICE
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
#: A method no server implements: calling it reads the channel's connection error, nothing else.
PROBE = f"/{SERVICE}/Probe"
#: gRPC retry policy of ``Deliver`` and ``Fail`` (attempts include the first; gRPC caps them at 5).
#: Short pauses: the policy only rides over a connection that breaks as a call starts (longer
#: outages are waited out with ``wait_for_ready``), and a TLS failure, which gRPC also reports
#: as ``UNAVAILABLE``, must not be held back by it (at most ~0.3 s).
RETRY_MAX_ATTEMPTS = 5
RETRY_POLICY: dict[str, Any] = {
    "maxAttempts": RETRY_MAX_ATTEMPTS,
    "initialBackoff": "0.02s",
    "maxBackoff": "0.2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": SERVICE, "method": "Deliver"}, {"service": SERVICE, "method": "Fail"}],
                "retryPolicy": RETRY_POLICY,
            }
        ]
    }
)
#: Seconds between checks of ``abort`` and of the connection while waiting for a peer.
POLL_S = 0.1
#: Least seconds between two probes of a channel that fails to connect.
PROBE_EVERY_S = 0.25
#: How long a peer may keep closing connections during connection setup before we call it a
#: TLS disagreement instead of a peer that is still starting.
CLOSED_WHILE_CONNECTING_S = 1.0


def channel_options(chunk_bytes: int, dst: PartyId, tls: TlsConfig | None) -> list[tuple[str, Any]]:
    """Channel arguments for a channel to ``dst``: frame limits, keepalive, retries, reconnect backoff."""
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", chunk_bytes + FRAME_SLACK),
        ("grpc.max_receive_message_length", FRAME_SLACK),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", SERVICE_CONFIG),
        # Reconnect quickly once a peer comes up (wait_for_ready calls wait for this).
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
        Channel to the destination party (from :func:`open_channel`: it carries the retry policy).
    env
        A validated envelope.
    target
        The ``host:port`` the channel points at (for messages).
    chunk_bytes
        Body frame size.
    timeout
        Seconds for the whole send, waiting for the peer included.
    party
        This party, for the errors' context.
    tls
        Whether the channel uses TLS (for messages).
    abort
        Called before the call is made again and every :data:`POLL_S` while waiting for the
        peer; raises to stop (the peer reported a failure).

    Raises
    ------
    MessageError
        The peer refused the message, or the TLS handshake failed.
    PartyTimeoutError
        The peer could not be reached or did not take the message within ``timeout``.
    ProtocolError
        Any other failure of the call.
    """
    _Send(channel, env, target, chunk_bytes, timeout, party, tls, abort).run()


@dataclass
class _Send:
    """One :func:`send_envelope` (its arguments), the calls, the waiting and what we learnt about the peer."""

    channel: grpc.Channel
    env: Envelope
    target: str
    chunk_bytes: int
    timeout: float
    party: str
    tls: bool
    abort: Callable[[], None] | None
    deadline: float = field(init=False)
    deliver: grpc.StreamUnaryMultiCallable = field(init=False)
    header: bytes = field(init=False)
    last: str = field(init=False, default="")  # the last connection error seen
    closed_since: float | None = field(init=False, default=None)
    watch: _Connectivity | None = field(init=False, default=None)  # set once we wait for the peer

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout
        self.deliver = self.channel.stream_unary(DELIVER)
        self.header = self.env.header_bytes()

    def run(self) -> None:
        try:
            ack = self._first_call()
            if ack is None:
                ack = self._call_when_reachable()
        except grpc.RpcError as err:
            raise self._error(err) from None
        received = _ack_size(ack)
        if received != self.env.size:
            raise MessageError(
                f"{self.env.dst} acknowledged {received} bytes of message '{self.env.address}' "
                f"instead of {self.env.size}",
                party=self.party,
            )

    def _frames(self) -> Iterator[bytes]:
        return body_frames(self.header, self.env.body, self.chunk_bytes)

    def _first_call(self) -> bytes | None:
        """The call as usual (gRPC's retry policy applies); ``None`` when the peer is unreachable."""
        try:
            ack: bytes = self.deliver(self._frames(), timeout=self.timeout, wait_for_ready=False)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            self._diagnose(err.details() or "")
            return None
        return ack

    def _call_when_reachable(self) -> bytes:
        """Call again, letting gRPC wait for the peer until the deadline (a resend is idempotent)."""
        watch = self.watch = _Connectivity(self.channel)
        try:
            while True:
                if self.abort is not None:
                    self.abort()
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise PartyTimeoutError(
                        self.env.address, self.timeout, party=self.party, detail=self._late()
                    )
                log.debug("%s not reachable at %s (%s); waiting for it", self.env.dst, self.target, self.last)
                future = self.deliver.future(self._frames(), timeout=left, wait_for_ready=True)
                try:
                    return self._wait(future, watch)
                except grpc.RpcError as err:
                    if err.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    self._diagnose(err.details() or "")
                    time.sleep(max(0.0, min(POLL_S, self.deadline - time.monotonic())))
        finally:
            watch.close()

    def _wait(self, future: Any, watch: _Connectivity) -> bytes:
        """The call's result; meanwhile run ``abort`` and probe a channel that fails to connect."""
        probed = 0.0
        try:
            while True:
                try:
                    ack: bytes = future.result(timeout=POLL_S)
                    return ack
                except grpc.FutureTimeoutError:
                    pass
                if self.abort is not None:
                    self.abort()
                now = time.monotonic()
                failing = watch.state == grpc.ChannelConnectivity.TRANSIENT_FAILURE
                if failing and now - probed >= PROBE_EVERY_S:
                    probed = now
                    self._probe()
        except BaseException:
            future.cancel()
            raise

    def _probe(self) -> None:
        """Read the channel's connection error with a call no server implements."""
        try:
            self.channel.unary_unary(PROBE)(b"", timeout=PROBE_EVERY_S, wait_for_ready=False)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                self._diagnose(err.details() or "")

    def _diagnose(self, details: str) -> None:
        """Raise at once when a connection error means TLS trouble; else remember it."""
        self.last = details
        if _is_tls_failure(details):
            raise MessageError(
                f"TLS handshake with {self.env.dst} at {self.target} failed: {details.rstrip('. ')}. Check "
                "that both parties use TLS, that their certificates come from the same CA and that the "
                f"certificate served at {self.target} names {PartyId.parse(self.env.dst).dns_name}",
                party=self.party,
            )
        now = time.monotonic()
        if "socket closed" not in details.lower():
            self.closed_since = None
            return
        self.closed_since = now if self.closed_since is None else self.closed_since
        if now - self.closed_since >= CLOSED_WHILE_CONNECTING_S:
            raise MessageError(
                f"{self.env.dst} at {self.target} keeps closing the connection while it is set up: "
                + _closed_hint(self.tls),
                party=self.party,
            )

    def _late(self) -> str:
        if self.watch is not None and not self.watch.reached:
            return _unreachable(self.env.dst, self.target, self.last, self.tls)
        why = f"; before that: {self.last}" if self.last else ""
        return f"{self.env.dst} at {self.target} did not take the message in time{why}"

    def _error(self, err: grpc.RpcError) -> Exception:
        code: grpc.StatusCode = err.code()
        details: str = err.details() or ""
        env = self.env
        if code in _REFUSED:
            return MessageError(f"{env.dst} refused message '{env.address}': {details}", party=self.party)
        if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
            return PartyTimeoutError(env.address, self.timeout, party=self.party, detail=self._late())
        return ProtocolError(
            f"sending '{env.address}' to {env.dst} at {self.target} failed: {code.name}: {details}",
            party=self.party,
        )


class _Connectivity:
    """The connectivity state of a channel, followed while we wait for a peer."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.state: grpc.ChannelConnectivity | None = None
        self.reached = False
        channel.subscribe(self._update, try_to_connect=True)

    def _update(self, state: grpc.ChannelConnectivity) -> None:
        self.state = state
        if state == grpc.ChannelConnectivity.READY:
            self.reached = True

    def close(self) -> None:
        self.channel.unsubscribe(self._update)


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


def _unreachable(dst: str, target: str, last: str, tls: bool) -> str:
    detail = f"peer {dst} unreachable at {target}"
    if last:
        detail += f"; last error: {last}"
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
