"""Fuzz benchmark: a live party endpoint under ``n`` malformed envelopes, over mutual TLS.

Set-up
    A CA and certificates for ``guest:9999`` (the endpoint) and ``host:10000`` (the fuzzer) are
    made with :func:`~fedloom.transport.grpc.tls.make_pki`. The endpoint is a
    :class:`~fedloom.transport.grpc.GrpcTransport` for ``guest:9999`` in its **own OS process**
    (multiprocessing, spawn), so a crash is a dead process, not a dead benchmark. It accepts
    bodies of at most :data:`MAX_MESSAGE_BYTES` and knows one Paillier public key (the fuzzer's),
    so ciphertext records are parsed too. The fuzzer holds the valid ``host:10000`` certificate
    and calls ``/fedloom.Transport/Deliver`` with raw frames (header, then body chunks; see
    :mod:`fedloom.transport.grpc.server`), so it can send anything, at most :data:`WINDOW` calls
    at a time.

Envelopes (``by_kind`` in the report), drawn with a seeded RNG: ``valid`` ones; bit flips of the
``body`` or of the ``header`` of valid ones; ``header_field`` (one header field of a wrong type or
value, missing or extra); ``truncated`` frames (header cut, body cut with or without a matching
announced size, no frame at all); ``wrong_type`` (another payload type, another body, random
bytes); ``huge_size`` (announced body sizes up to 2**64 - 1, shapes such as ``[2**40, 2**40]``,
buffer tables that lie, more elements than the codec's budget); ``deep_nesting`` (records and
lists nested 33 to 100,000 deep); ``random_bytes`` (random header and body frames);
``foreign_address`` (the certificate's own ``src``, but an address whose ``src->dst`` names
another sender or receiver, e.g. ``.../arbiter:10000->guest:9999``); ``spoofed_src`` (a ``src``
the certificate does not name); ``wrong_dst``; ``duplicate`` (an address already delivered: the
same message again, or another message under a fresh message id); ``extra_frames`` (more body
than announced, or tiny frames).

Every envelope the endpoint accepts (the call is acknowledged) is then taken from its mailbox
(``transport.recv``) and decoded with :func:`fedloom.transport.codec.decode` and a
:class:`~fedloom.transport.codec.Keyring` *inside the endpoint process*.

Report (JSON)
    ``n``
        Envelopes sent.
    ``crashes``
        Times the endpoint process died, or stopped answering (a call timed out and neither a
        valid message nor a command got through within :data:`CALL_TIMEOUT_S`); the endpoint is
        restarted after each and the fuzzing goes on.
    ``rejected``
        Envelopes refused by the transport (the call failed with a gRPC status other than
        ``UNAVAILABLE``, ``DEADLINE_EXCEEDED`` or ``CANCELLED``), plus accepted envelopes whose
        decoding raised :class:`~fedloom.core.errors.MessageError`. A valid envelope may be
        refused too, when the fuzzer's bytes in flight and unread exceed the endpoint's per-peer
        budget (``RESOURCE_EXHAUSTED``).
    ``accepted_wrongly``
        Accepted envelopes that the rules of DESIGN.md §3 say must be refused, that is, whose
        header, as the server parses it, (a) is malformed, (b) names a ``src`` other than the
        authenticated sender ``host:10000``, (c) names a ``dst`` other than ``guest:9999``,
        (d) has an address whose ``{src}->{dst}`` tail is not ``host:10000->guest:9999``,
        (e) announces another body size than the bytes sent, or more than
        :data:`MAX_MESSAGE_BYTES`, or (f) reuses an address already accepted, unless it is the
        same message again (same message id and size: an idempotent resend, acknowledged without
        being stored twice); plus accepted envelopes whose decoding raised anything but
        ``MessageError``. A mutated body that still decodes (to another value than was sent) is
        *not* counted: it is well formed, and nothing in it is trusted.
    ``rss_growth_mb``
        The endpoint's ``VmRSS`` after the fuzzing (after ``gc.collect()``) minus before it
        (after a warm-up of valid messages); the last endpoint's, if it was restarted.
    ``still_serving``
        After the fuzzing, a valid message is accepted, taken and decodes to the value sent.
    ``job_after``
        A real exchange then runs on the same endpoint objects (the fuzzed guest's
        ``GrpcTransport`` and a legitimate ``host:10000`` peer, through
        :class:`~fedloom.context.Context`): the host sends its Paillier key (accepted with
        ``recv_public_key``) and an array with its encryption; the guest answers ``2x`` and
        ``E(3x)``; the host checks both.
    ``seconds``, ``by_kind``
        Wall time of the fuzzing; per kind: ``sent``, and the outcome of each envelope:
        ``rejected``, ``decoded``, ``accepted_wrongly``, ``resent`` (idempotent resend
        acknowledged), ``lost`` (in flight when the endpoint crashed, or acknowledged but not
        found in the mailbox); and two details: ``server_errors`` (refused with status
        ``UNKNOWN``, i.e. an exception in the server's handler; among ``rejected``) and
        ``mismatch`` (a valid envelope that decoded to another value than sent; among
        ``decoded``).

``fedloom bench fuzz --n 10000 --json``
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import logging
import multiprocessing
import random
import struct
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import grpc
import msgpack
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fedloom.context import Channel, Context
from fedloom.core.errors import FedloomError, MessageError, ProtocolError
from fedloom.core.roles import GUEST, HOST, PartyId
from fedloom.core.validation import validate
from fedloom.core.wire import wire_type
from fedloom.crypto.paillier import (
    EncryptedVector,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_keypair,
)
from fedloom.transport.codec import MAX_ELEMENTS, Keyring, decode, encode
from fedloom.transport.envelope import Envelope, decode_header
from fedloom.transport.grpc import GrpcTransport, TlsConfig, make_pki
from fedloom.transport.grpc.client import body_frames
from fedloom.transport.grpc.server import DELIVER

GUEST_PARTY = PartyId.parse("guest:9999")
HOST_PARTY = PartyId.parse("host:10000")
ARBITER_PARTY = PartyId.parse("arbiter:10000")
#: Largest body the fuzzed endpoint accepts (a party's ``max_message_bytes``).
MAX_MESSAGE_BYTES = 4 << 20
#: Calls in flight at once.
WINDOW = 8
#: Seconds one call, or one command to the endpoint process, may take before it counts as hung.
CALL_TIMEOUT_S = 10.0
#: Accepted envelopes are taken and decoded in batches of at most this many (or bytes).
TAKE_BATCH = 32
TAKE_BATCH_BYTES = 1 << 20
#: Envelope kinds and their weights.
KINDS: dict[str, int] = {
    "valid": 2,
    "body_bitflip": 4,
    "header_bitflip": 2,
    "header_field": 2,
    "truncated": 2,
    "wrong_type": 1,
    "huge_size": 1,
    "deep_nesting": 1,
    "random_bytes": 1,
    "foreign_address": 1,
    "spoofed_src": 1,
    "wrong_dst": 1,
    "duplicate": 1,
    "extra_frames": 1,
}
_REFUSAL_UNCLEAR = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
_OUTCOMES = ("rejected", "decoded", "accepted_wrongly", "resent", "lost")
#: A ``by_kind`` row: ``sent``, the outcomes, and two details (``server_errors``: refusals with
#: status ``UNKNOWN``, an exception in the server's handler, counted in ``rejected`` too;
#: ``mismatch``: valid envelopes that decoded to another value than sent, counted in ``decoded``).
_ROW = ("sent", *_OUTCOMES, "server_errors", "mismatch")

log = logging.getLogger(__name__)

_JOB_KEY = Channel("fuzz_job_public_key", src=HOST, dst=GUEST, disclosure="the host's Paillier public key")
_JOB_PING = Channel(
    "fuzz_job_ping", src=HOST, dst=GUEST, disclosure="a test array and its encryption: no private data"
)
_JOB_PONG = Channel(
    "fuzz_job_pong", src=GUEST, dst=HOST, disclosure="2x in clear and E(3x): derived from test data only"
)


@wire_type("fedloom.bench.fuzz.Probe")
@dataclasses.dataclass
class Probe:
    """A registered message type for the fuzzer's valid payloads and nested records."""

    value: Any = None


class _Args(BaseModel):
    """Arguments of :func:`run`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    n: int = Field(ge=1, le=10_000_000)
    seed: int = Field(ge=0)


# -- the endpoint (its own process) ---------------------------------------------------------------


def _rss_kb() -> int:
    """This process's resident set size in KiB (``VmRSS``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource  # not Linux: the peak, the best there is

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _digest(value: Any) -> str:
    """A short hash of a decoded value, equal for equal values (arrays by dtype, shape, bytes)."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()[:16]


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(b"A" + value.dtype.str.encode() + repr(value.shape).encode() + value.tobytes())
    elif isinstance(value, EncryptedVector):
        h.update(b"C" + value.to_bytes())
    elif isinstance(value, PaillierPublicKey):
        h.update(b"K" + value.fingerprint.encode())
    elif isinstance(value, dict):
        h.update(b"D%d" % len(value))
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, list):
        h.update(b"L%d" % len(value))
        for item in value:
            _feed(h, item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(b"O" + type(value).__qualname__.encode())
        _feed(h, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    else:
        h.update(b"S" + repr(value).encode())


def _take(transport: GrpcTransport, keyring: Keyring, items: list[tuple[str, str]]) -> list[str]:
    """Take and decode each ``(address, src)``: ``decoded:<digest>``, ``refused``, ``error:<type>``."""
    out = []
    for address, src in items:
        try:
            env = transport.recv(address, src, 1.0)
        except FedloomError as exc:
            out.append(f"missing:{type(exc).__name__}")
            continue
        try:
            value = decode(env.contiguous(), keyring, env.key_fingerprint)
        except MessageError:
            out.append("refused")
        except Exception as exc:  # what the benchmark looks for: anything but MessageError
            out.append(f"error:{type(exc).__name__}")
        else:
            out.append(f"decoded:{_digest(value)}")
    return out


def _job_guest(transport: GrpcTransport, host_address: str) -> str:
    """The guest's side of the job run after the fuzzing; ``"ok"`` or the error."""
    try:
        transport.set_peers({str(HOST_PARTY): host_address})
        ctx = Context(GUEST_PARTY, [GUEST_PARTY, HOST_PARTY], transport, job_id="fuzz-job-after", timeout=30)
        ctx.recv_public_key(_JOB_KEY, scheme="paillier", min_bits=1024)
        ping = ctx.recv(_JOB_PING)
        ctx.send(_JOB_PONG, {"x": ping["x"] * 2, "enc": ping["enc"] * 3})
    except Exception as exc:  # reported to the benchmark, which reports job_after = false
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _tls(pem: dict[str, bytes]) -> TlsConfig:
    """Mutual-TLS material from its PEM parts."""
    return TlsConfig(ca_cert=pem["ca_cert"], cert=pem["cert"], key=pem["key"])


def _endpoint_main(conn: Connection, pem: dict[str, bytes], key_n: str) -> None:
    """The endpoint process: serve ``guest:9999`` and answer the fuzzer's commands on ``conn``."""
    logging.getLogger("fedloom").setLevel(logging.CRITICAL)  # thousands of refusals are expected
    transport = GrpcTransport(
        GUEST_PARTY, listen="127.0.0.1:0", tls=_tls(pem), max_message_bytes=MAX_MESSAGE_BYTES
    )
    keyring = Keyring()
    keyring.add(PaillierPublicKey.from_dict({"n": key_n}))
    conn.send(transport.address)
    handlers: dict[str, Callable[..., Any]] = {
        "ping": lambda: True,
        "rss": lambda: (gc.collect(), _rss_kb())[1],
        "take": lambda items: _take(transport, keyring, items),
        "job": lambda host_address: _job_guest(transport, host_address),
    }
    while True:
        command, args = conn.recv()
        if command == "stop":
            transport.close()
            conn.send(True)
            return
        conn.send(handlers[command](*args))


class _EndpointDown(Exception):
    """Internal: the endpoint process is dead or does not answer."""


class _Endpoint:
    """The fuzzer's handle on the endpoint process."""

    def __init__(self, pem: dict[str, bytes], key_n: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_endpoint_main, args=(child, pem, key_n), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(60.0):
            self.kill()
            raise ProtocolError("the fuzz endpoint did not start within 60 s")
        self.address: str = self.conn.recv()

    def call(self, command: str, *args: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run ``command`` in the endpoint process; raises _EndpointDown if it cannot answer."""
        try:
            self.conn.send((command, args))
            if not self.conn.poll(timeout):
                raise _EndpointDown(f"no answer to {command!r} in {timeout:g} s")
            return self.conn.recv()
        except (OSError, EOFError) as exc:
            raise _EndpointDown(f"{type(exc).__name__} on {command!r}") from None

    def kill(self) -> None:
        """Stop the process at once."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)

    def stop(self) -> None:
        """Close the transport and let the process exit; kill it if it does not."""
        with contextlib.suppress(_EndpointDown):
            self.call("stop", timeout=5.0)
        self.proc.join(5.0)
        self.kill()


# -- envelopes ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Case:
    """One envelope to send: its frames and what the server will make of its header."""

    kind: str
    frames: list[bytes]
    header: dict[str, Any] | None = None  # as the server parses it; None: malformed
    digest: str | None = None  # the value's digest, when the body is a valid sample's

    def __post_init__(self) -> None:
        if self.frames:
            try:
                self.header = decode_header(self.frames[0])
            except MessageError:
                self.header = None

    @property
    def body_bytes(self) -> int:
        return sum(len(f) for f in self.frames[1:])


@dataclasses.dataclass
class _Sample:
    body: bytes
    payload_type: str
    fingerprint: str
    digest: str


def _packed_body(tree: bytes, buffers: tuple[bytes, ...] = ()) -> bytes:
    head = struct.pack(f"<I{len(buffers)}QI", len(buffers), *(len(b) for b in buffers), len(tree))
    return head + tree + b"".join(buffers)


def _nested_records(depth: int) -> bytes:
    tree = msgpack.ExtType(4, msgpack.packb(["fedloom.bench.fuzz.Probe", {"value": 1}]))
    for _ in range(depth - 1):
        tree = msgpack.ExtType(4, msgpack.packb(["fedloom.bench.fuzz.Probe", {"value": tree}]))
    return _packed_body(msgpack.packb(tree))


def _codec_bombs(fingerprint: str) -> list[tuple[bytes, str]]:
    """Bodies that are valid frames but lie to the codec: ``(body, key fingerprint)``."""
    array = msgpack.ExtType(1, msgpack.packb(["<f8", [2**40, 2**40], 0]))
    wrap = msgpack.ExtType(1, msgpack.packb(["<f8", [2**32, 2**32], 0]))
    cipher = msgpack.ExtType(2, msgpack.packb(["paillier", fingerprint, 32, 2**40, 0]))
    return [
        (_packed_body(msgpack.packb(array), (b"",)), ""),
        (_packed_body(msgpack.packb(wrap), (b"",)), ""),
        (_packed_body(msgpack.packb(cipher), (b"\x01" * 512,)), fingerprint),
        (struct.pack("<II", 1 << 20, 0), ""),  # a million buffers announced in 8 bytes
        (struct.pack("<IQI", 1, 2**64 - 1, 1) + b"\xc0", ""),
        (_packed_body(b"\xdc\xff\xff" + b"\x00" * 16), ""),  # a list longer than its bytes
        (_packed_body(b"\xdd" + struct.pack(">I", MAX_ELEMENTS + 1) + b"\x00" * (MAX_ELEMENTS + 1)), ""),
        (_packed_body(b"\xc9\xff\xff\xff\xff\x04"), ""),  # a 4 GiB record announced
    ]


def _deep_bodies() -> list[bytes]:
    return [
        _nested_records(11),
        _nested_records(300),
        _nested_records(10_000),
        _packed_body(b"\x91" * 32 + b"\x90"),
        _packed_body(b"\x91" * 99_999 + b"\x90"),
    ]


def _samples(pk: PaillierPublicKey) -> list[_Sample]:
    ring = Keyring()
    ring.add(pk)
    values: list[Any] = [
        np.arange(16.0),
        {"w": np.ones((3, 4), dtype=np.float32), "epoch": 3, "tags": ["a", "b"]},
        pk.encrypt(np.arange(4.0)),
        Probe(Probe({"x": np.arange(3, dtype=np.int64), "y": np.zeros((2, 0, 3), dtype=">f8")})),
        pk,
        ["text", b"bytes", None, 1.5, True, -(2**63)],
    ]
    out = []
    for value in values:
        enc = encode(value)
        body = b"".join(bytes(b) for b in enc.body)
        digest = _digest(decode(bytearray(body), ring, enc.key_fingerprint))
        out.append(_Sample(body, enc.payload_type, enc.key_fingerprint, digest))
    return out


class _Cases:
    """Draws the envelopes from a seeded RNG (see the module docstring for the kinds)."""

    def __init__(self, rng: random.Random, samples: list[_Sample], fingerprint: str) -> None:
        self.rng = rng
        self.samples = samples
        self.bombs = _codec_bombs(fingerprint)
        self.deep = _deep_bodies()
        self.accepted: deque[_Case] = deque(maxlen=256)  # recent accepted cases, for duplicates
        self.makers: dict[str, Callable[[int], _Case]] = {k: getattr(self, f"_{k}") for k in KINDS}

    def make(self, i: int) -> _Case:
        """Envelope number ``i``, of a kind drawn by :data:`KINDS` weights."""
        kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
        return self.makers[kind](i)

    def valid(self, name: str) -> _Case:
        """A valid envelope at ``fuzz/<name>/probe/host:10000->guest:9999``."""
        sample = self.rng.choice(self.samples)
        return _Case("valid", self._frames(self._header(name, sample), sample.body), digest=sample.digest)

    # -- helpers ----------------------------------------------------------------------------------

    def _header(
        self, i: int | str, sample: _Sample, src: str = "", dst: str = "", tail: str = ""
    ) -> dict[str, Any]:
        src, dst = src or str(HOST_PARTY), dst or str(GUEST_PARTY)
        env = Envelope(
            address=f"fuzz/{i}/probe/{tail or f'{src}->{dst}'}",
            src=src,
            dst=dst,
            payload_type=sample.payload_type,
            key_fingerprint=sample.fingerprint,
            body=[sample.body],
        )
        return env.header()

    def _frames(self, header: dict[str, Any] | bytes, body: bytes, chunk: int = 0) -> list[bytes]:
        raw = header if isinstance(header, bytes) else msgpack.packb(header, use_bin_type=True)
        return list(body_frames(raw, [body], chunk or self.rng.choice((1 << 20, 4096, 509))))

    def _flip(self, data: bytes, most: int) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, most)):
            pos = self.rng.randrange(len(out))
            out[pos] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    def _pick(self) -> _Sample:
        return self.rng.choice(self.samples)

    # -- kinds ------------------------------------------------------------------------------------

    def _valid(self, i: int) -> _Case:
        return self.valid(str(i))

    def _body_bitflip(self, i: int) -> _Case:
        s = self._pick()
        return _Case("body_bitflip", self._frames(self._header(i, s), self._flip(s.body, 8)))

    def _header_bitflip(self, i: int) -> _Case:
        s = self._pick()
        raw = self._flip(msgpack.packb(self._header(i, s), use_bin_type=True), 4)
        return _Case("header_bitflip", self._frames(raw, s.body))

    def _header_field(self, i: int) -> _Case:
        s = self._pick()
        h = self._header(i, s)
        key = self.rng.choice([*h, "zz"])
        wrong = [None, 1, -1, "x", b"x", [1], {"a": 1}, 2**64 - 1, True, 1.5, "\u00e9" * 300, "x" * 5000, 2]
        if key in h and self.rng.random() < 0.25:
            del h[key]
        else:
            h[key] = self.rng.choice(wrong)
        return _Case("header_field", self._frames(h, s.body))

    def _truncated(self, i: int) -> _Case:
        s = self._pick()
        h = self._header(i, s)
        raw = msgpack.packb(h, use_bin_type=True)
        cut = self.rng.randrange(len(s.body))
        variant = self.rng.randrange(5)
        if variant == 0:
            frames = self._frames(raw[: self.rng.randrange(len(raw))], s.body)
        elif variant == 1:
            frames = self._frames(h, s.body[:cut])  # the header still announces the whole body
        elif variant == 2:
            frames = self._frames({**h, "n": cut}, s.body[:cut])
        else:
            frames = [] if variant == 3 else [raw]
        return _Case("truncated", frames)

    def _wrong_type(self, i: int) -> _Case:
        s, other = self._pick(), self._pick()
        if self.rng.random() < 0.5:
            body = other.body
            h = {**self._header(i, s), "n": len(body)}
        else:
            body = self.rng.randbytes(self.rng.randint(1, 2000))
            h = {**self._header(i, s), "n": len(body), "t": other.payload_type}
        return _Case("wrong_type", self._frames(h, body))

    def _huge_size(self, i: int) -> _Case:
        s = self._pick()
        if self.rng.random() < 0.5:
            n = self.rng.choice([2**40, 2**63 - 1, 2**64 - 1, MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES])
            return _Case("huge_size", self._frames({**self._header(i, s), "n": n}, s.body))
        body, fingerprint = self.rng.choice(self.bombs)
        h = {**self._header(i, s), "n": len(body), "k": fingerprint, "t": "ndarray"}
        return _Case("huge_size", self._frames(h, body))

    def _deep_nesting(self, i: int) -> _Case:
        s = self._pick()
        body = self.rng.choice(self.deep)
        h = {**self._header(i, s), "n": len(body), "k": "", "t": "fedloom.bench.fuzz.Probe"}
        return _Case("deep_nesting", self._frames(h, body))

    def _random_bytes(self, i: int) -> _Case:
        frames = [self.rng.randbytes(self.rng.randint(0, 300))]
        frames += [self.rng.randbytes(self.rng.randint(0, 2000)) for _ in range(self.rng.randint(0, 3))]
        return _Case("random_bytes", frames)

    def _foreign_address(self, i: int) -> _Case:
        s = self._pick()
        host, guest = str(HOST_PARTY), str(GUEST_PARTY)
        tails = [
            f"{ARBITER_PARTY}->{guest}",
            f"{guest}->{guest}",
            f"{host}->{host}",
            f"{host}->{ARBITER_PARTY}",
            f"{host}->guest:1",
            f"{host}-{guest}",
            f"{host}->{guest}/more",
        ]
        return _Case("foreign_address", self._frames(self._header(i, s, tail=self.rng.choice(tails)), s.body))

    def _spoofed_src(self, i: int) -> _Case:
        s = self._pick()
        src = self.rng.choice([str(ARBITER_PARTY), str(GUEST_PARTY), "host:1"])
        return _Case("spoofed_src", self._frames(self._header(i, s, src=src), s.body))

    def _wrong_dst(self, i: int) -> _Case:
        s = self._pick()
        dst = self.rng.choice([str(HOST_PARTY), str(ARBITER_PARTY), "guest:1"])
        return _Case("wrong_dst", self._frames(self._header(i, s, dst=dst), s.body))

    def _duplicate(self, i: int) -> _Case:
        if not self.accepted:
            case = self.valid(str(i))
            return _Case("duplicate", case.frames, digest=case.digest)
        prev = self.rng.choice(self.accepted)
        if self.rng.random() < 0.5:
            return _Case("duplicate", list(prev.frames))  # the same message again (same id)
        assert prev.header is not None
        s = self._pick()
        fresh = self._header(i, s)  # another message, with a fresh message id, at the same address
        return _Case("duplicate", self._frames({**fresh, "a": prev.header["a"]}, s.body))

    def _extra_frames(self, i: int) -> _Case:
        s = self._pick()
        if self.rng.random() < 0.5:
            extra = self.rng.randbytes(self.rng.randint(1, 100))
            return _Case("extra_frames", self._frames(self._header(i, s), s.body + extra))
        return _Case("extra_frames", self._frames(self._header(i, s), s.body, chunk=self.rng.randint(1, 64)))


# -- the fuzzer -----------------------------------------------------------------------------------


def _verdict(case: _Case, accepted: dict[str, tuple[Any, int]]) -> str:
    """For an accepted ``case``: ``"new"`` (fine), ``"resend"`` (idempotent) or ``"refuse"`` (wrong)."""
    h = case.header
    if h is None or h["s"] != str(HOST_PARTY) or h["d"] != str(GUEST_PARTY):
        return "refuse"
    if h["a"].rpartition("/")[2] != f"{HOST_PARTY}->{GUEST_PARTY}":
        return "refuse"
    if h["n"] != case.body_bytes or h["n"] > MAX_MESSAGE_BYTES:
        return "refuse"
    prior = accepted.get(h["a"])
    if prior is None:
        return "new"
    return "resend" if h.get("m") is not None and prior == (h.get("m"), h["n"]) else "refuse"


def _open_channel(address: str, pem: dict[str, bytes]) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(pem["ca_cert"], pem["key"], pem["cert"])
    options = [
        ("grpc.ssl_target_name_override", GUEST_PARTY.dns_name),
        ("grpc.max_send_message_length", 8 << 20),
        ("grpc.max_receive_message_length", 1 << 16),
        ("grpc.enable_retries", 0),
    ]
    return grpc.secure_channel(address, credentials, options=options)


class _Fuzzer:
    """Sends the cases, settles each call, has the endpoint decode what it accepted, counts."""

    def __init__(
        self, cases: _Cases, start_endpoint: Callable[[], _Endpoint], client_pem: dict[str, bytes]
    ) -> None:
        self.cases = cases
        self.start_endpoint = start_endpoint
        self.client_pem = client_pem
        self.by_kind: dict[str, dict[str, int]] = {k: dict.fromkeys(_ROW, 0) for k in KINDS}
        self.crashes = 0
        self.pending: deque[tuple[_Case, grpc.Future]] = deque()
        self.to_take: list[tuple[_Case, bool]] = []
        self.accepted: dict[str, tuple[Any, int]] = {}
        self.rss_before = 0
        self.probes = 0
        self._connect(start_endpoint())

    def _connect(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint
        self.channel = _open_channel(endpoint.address, self.client_pem)
        self.deliver = self.channel.stream_unary(DELIVER)

    def send(self, case: _Case) -> None:
        """Send ``case``, keeping at most :data:`WINDOW` calls in flight."""
        self.by_kind[case.kind]["sent"] += 1
        while len(self.pending) >= WINDOW:
            self._settle(*self.pending.popleft())
        self.pending.append((case, self.deliver.future(iter(case.frames), timeout=CALL_TIMEOUT_S)))

    def drain(self) -> None:
        """Settle every call in flight and decode everything accepted so far."""
        while self.pending:
            self._settle(*self.pending.popleft())
        self._flush()

    def _count(self, case: _Case, outcome: str) -> None:
        self.by_kind[case.kind][outcome] += 1

    def _settle(self, case: _Case, call: grpc.Future) -> None:
        try:
            call.result()
        except grpc.RpcError as err:
            code = err.code()
            if code in _REFUSAL_UNCLEAR:
                self._unclear(case, code)
                return
            if code == grpc.StatusCode.UNKNOWN:  # an exception in the server's handler
                self._count(case, "server_errors")
            self._count(case, "rejected")
            return
        verdict = _verdict(case, self.accepted)
        if verdict == "resend":
            self._count(case, "resent")
            return
        if case.header is None:  # accepted, but not even a header the server could parse
            self._count(case, "accepted_wrongly")
            return
        self.accepted.setdefault(case.header["a"], (case.header.get("m"), case.header["n"]))
        if verdict == "new":
            self.cases.accepted.append(case)
        self.to_take.append((case, verdict == "refuse"))
        if len(self.to_take) >= TAKE_BATCH or sum(c.body_bytes for c, _ in self.to_take) >= TAKE_BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        batch, self.to_take = self.to_take, []
        if not batch:
            return
        items = [(c.header["a"], c.header["s"]) for c, _ in batch if c.header is not None]
        try:
            outcomes = self.endpoint.call("take", items)
        except _EndpointDown:
            for case, _ in batch:
                self._count(case, "lost")
            self._restart()
            return
        for (case, wrong), outcome in zip(batch, outcomes, strict=True):
            self._count(case, _outcome(case, wrong, outcome))
            if (
                case.digest is not None
                and outcome.startswith("decoded:")
                and outcome != f"decoded:{case.digest}"
            ):
                self._count(case, "mismatch")

    def _unclear(self, case: _Case, code: grpc.StatusCode) -> None:
        """A call neither accepted nor refused: the endpoint may be dead or hung."""
        self._count(case, "lost")
        if not self.endpoint.proc.is_alive():
            self._restart()
            return
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            # Stopped answering? Its command loop and its gRPC server must both still work.
            self.probes += 1
            probe = self.cases.valid(f"probe-{self.probes}")
            if self._exchange(probe) != f"decoded:{probe.digest}":
                self._restart()

    def _restart(self) -> None:
        """Count a crash, drop what was in flight, start a fresh endpoint."""
        self.crashes += 1
        log.warning("the fuzzed endpoint crashed or hung (%d so far); restarting it", self.crashes)
        self.endpoint.kill()
        self.channel.close()
        for case, _ in self.pending:
            self._count(case, "lost")
        for case, _ in self.to_take:
            self._count(case, "lost")
        self.pending.clear()
        self.to_take = []
        self.accepted.clear()
        self.cases.accepted.clear()
        self._connect(self.start_endpoint())
        self.rss_before = _call_or(self.endpoint, "rss", 0)  # growth is measured on the last endpoint

    def round_trip(self, case: _Case) -> str:
        """Send one case alone and take it: the endpoint's outcome (``decoded:<digest>``, ...)."""
        self.drain()
        return self._exchange(case)

    def _exchange(self, case: _Case) -> str:
        try:
            self.deliver(iter(case.frames), timeout=CALL_TIMEOUT_S)
            assert case.header is not None
            outcome: str = self.endpoint.call("take", [(case.header["a"], case.header["s"])])[0]
        except (grpc.RpcError, _EndpointDown) as exc:
            return f"failed: {type(exc).__name__}"
        self.accepted[case.header["a"]] = (case.header.get("m"), case.header["n"])
        return outcome


def _outcome(case: _Case, wrong: bool, taken: str) -> str:
    """The one outcome of an accepted case, from the endpoint's result of taking it."""
    if wrong or taken.startswith("error:"):
        return "accepted_wrongly"
    if taken == "refused":
        return "rejected"
    return "decoded" if taken.startswith("decoded:") else "lost"


# -- the job afterwards -----------------------------------------------------------------------------


def _job_host(transport: GrpcTransport, pk: PaillierPublicKey, sk: PaillierPrivateKey) -> bool:
    """The host's side of the job run after the fuzzing: true if the guest answered right."""
    ctx = Context(HOST_PARTY, [GUEST_PARTY, HOST_PARTY], transport, job_id="fuzz-job-after", timeout=30)
    x = np.array([-2.0, -0.5, 0.0, 1.25, 3.0])
    ctx.send(_JOB_KEY, pk)
    ctx.send(_JOB_PING, {"x": x, "enc": pk.encrypt(x)})
    pong = ctx.recv(_JOB_PONG)
    return bool(np.array_equal(pong["x"], 2 * x) and np.allclose(sk.decrypt(pong["enc"]), 3 * x))


def _job_after(
    endpoint: _Endpoint, pem: dict[str, bytes], pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> bool:
    """Run the small real job between the fuzzed endpoint and a legitimate host."""
    host = GrpcTransport(HOST_PARTY, tls=_tls(pem), peers={str(GUEST_PARTY): endpoint.address})
    try:
        endpoint.conn.send(("job", (host.address,)))
        try:
            host_ok = _job_host(host, pk, sk)
        except FedloomError as exc:
            log.warning("the job after the fuzzing failed at the host: %s", exc)
            host_ok = False
        guest = endpoint.conn.recv() if endpoint.conn.poll(60.0) else "no answer"
    except (OSError, EOFError) as exc:
        guest = type(exc).__name__
        host_ok = False
    finally:
        host.close()
    if guest != "ok":
        log.warning("the job after the fuzzing failed at the guest: %s", guest)
    return host_ok and guest == "ok"


# -- run ------------------------------------------------------------------------------------------


def run(n: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Fuzz a live ``guest:9999`` endpoint with ``n`` envelopes over mutual TLS.

    Parameters
    ----------
    n
        Envelopes to send (1 to 10,000,000).
    seed
        Seed of the envelope generator (>= 0); the same seed sends the same envelopes, apart from
        message ids and Paillier randomness.

    Returns
    -------
    dict
        ``{"n", "crashes", "rejected", "accepted_wrongly", "rss_growth_mb", "still_serving",
        "job_after", "seconds", "by_kind"}``, as defined in the module docstring.

    Raises
    ------
    ConfigError
        ``n`` or ``seed`` out of range.
    """
    validate(_Args, {"n": n, "seed": seed}, owner="the fuzz benchmark")
    pki = make_pki([GUEST_PARTY, HOST_PARTY])
    pem = {s: dataclasses.asdict(pki[s]) for s in (str(GUEST_PARTY), str(HOST_PARTY))}
    for entry in pem.values():
        entry.pop("mutual")
    pk, sk = generate_keypair(2048)
    key_n = pk.to_dict()["n"]
    cases = _Cases(random.Random(seed), _samples(pk), pk.fingerprint)
    fuzzer = _Fuzzer(cases, lambda: _Endpoint(pem[str(GUEST_PARTY)], key_n), pem[str(HOST_PARTY)])
    try:
        for i in range(50):  # warm-up: the endpoint's allocator and caches reach their steady state
            fuzzer.round_trip(cases.valid(f"warmup-{i}"))
        fuzzer.rss_before = fuzzer.endpoint.call("rss")
        start = time.perf_counter()
        for i in range(n):
            fuzzer.send(cases.make(i))
        fuzzer.drain()
        seconds = time.perf_counter() - start
        final = cases.valid("final")
        still_serving = fuzzer.round_trip(final) == f"decoded:{final.digest}"
        rss_after = _call_or(fuzzer.endpoint, "rss", fuzzer.rss_before)
        job_after = _job_after(fuzzer.endpoint, pem[str(HOST_PARTY)], pk, sk)
    finally:
        fuzzer.endpoint.stop()
        fuzzer.channel.close()
    totals = {o: sum(k[o] for k in fuzzer.by_kind.values()) for o in _OUTCOMES}
    return {
        "n": n,
        "crashes": fuzzer.crashes,
        "rejected": totals["rejected"],
        "accepted_wrongly": totals["accepted_wrongly"],
        "rss_growth_mb": round((rss_after - fuzzer.rss_before) / 1024, 1),
        "still_serving": still_serving,
        "job_after": job_after,
        "seconds": round(seconds, 2),
        "by_kind": fuzzer.by_kind,
    }


def _call_or(endpoint: _Endpoint, command: str, default: Any) -> Any:
    try:
        return endpoint.call(command)
    except _EndpointDown:
        return default
