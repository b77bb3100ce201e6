"""The unit that travels between parties: an address, a typed body and the checks around it.

An :class:`Envelope` carries one encoded payload (see :mod:`fedloom.transport.codec`) from one
party to another. Its header is small and validated before the body is looked at; the body is a
list of buffers so a large array can be streamed without first copying it into one ``bytes``.

Header on the wire (msgpack map, at most :data:`MAX_HEADER_BYTES`)::

    {"a": address, "s": src, "d": dst, "t": payload_type, "v": schema_version,
     "k": key_fingerprint, "n": body_size, "m": message_id}

``m`` (32 lower-case hex digits, 16 random bytes drawn when the envelope is created) makes
delivery idempotent: a receiver acknowledges a second delivery of the same address with the
same id and size as a success without storing it twice, so a sender may safely resend a message
whose acknowledgement was lost. It is required; :data:`SCHEMA_VERSION` stays 1 (every peer of
this schema sends it).

The address ends in ``{src}->{dst}``; :func:`address_parties` reads that tail back so that a
receiver can check it against the authenticated sender (see :class:`~fedloom.transport.mailbox.Mailbox`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from fedloom.core.errors import MessageError

#: Version of the envelope/codec format; a peer speaking another major version is refused.
SCHEMA_VERSION = 1
MAX_HEADER_BYTES = 4096
_ADDRESS = re.compile(r"^[A-Za-z0-9_.:/<>\-]{1,1024}$")
_PARTY = re.compile(r"^(guest|host|arbiter):[A-Za-z0-9_.-]{1,64}$")
_TYPE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{0,64}$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")

Buffer = bytes | bytearray | memoryview


def new_message_id() -> str:
    """A fresh message id: 16 random bytes as 32 lower-case hex digits."""
    return os.urandom(16).hex()


def address_parties(address: str) -> tuple[str, str] | None:
    """The ``(src, dst)`` named by the ``{src}->{dst}`` tail of ``address``; ``None`` without one."""
    tail = address.rpartition("/")[2]
    src, sep, dst = tail.partition("->")
    if not sep or not src or not dst:
        return None
    return src, dst


@dataclass(frozen=True)
class Envelope:
    """One message from ``src`` to ``dst`` at a unique ``address``.

    Parameters
    ----------
    address
        Deterministic wire address, ``{job}/{namespace...}/{channel}/{src}->{dst}``.
    src, dst
        Party ids written ``role:id``.
    payload_type
        What the body holds, as named by the codec (``ndarray``, ``paillier.vector`` ...).
    key_fingerprint
        Fingerprint of the public key the body's ciphertexts are under, ``""`` when none.
    body
        The encoded payload as a sequence of buffers (concatenated on the wire).
    schema_version
        :data:`SCHEMA_VERSION` of the sender.
    message_id
        32 hex digits naming this message; drawn at random when omitted. A resend of the same
        envelope object carries the same id, which is what makes delivery idempotent.
    """

    address: str
    src: str
    dst: str
    payload_type: str
    key_fingerprint: str
    body: Sequence[Buffer] = field(repr=False)
    schema_version: int = SCHEMA_VERSION
    message_id: str = field(default_factory=new_message_id)

    @property
    def size(self) -> int:
        """Body size in bytes."""
        return sum(memoryview(b).nbytes for b in self.body)

    def contiguous(self) -> memoryview:
        """The body as one buffer (no copy when it already is one)."""
        if len(self.body) == 1:
            return memoryview(self.body[0]).cast("B")
        return memoryview(b"".join(self.body))

    @property
    def channel(self) -> str:
        """The channel name: the address segment before ``src->dst``."""
        parts = self.address.rsplit("/", 2)
        return parts[-2] if len(parts) >= 2 else self.address

    def header(self) -> dict[str, Any]:
        return {
            "a": self.address,
            "s": self.src,
            "d": self.dst,
            "t": self.payload_type,
            "v": self.schema_version,
            "k": self.key_fingerprint,
            "n": self.size,
            "m": self.message_id,
        }

    def header_bytes(self) -> bytes:
        return msgpack.packb(self.header(), use_bin_type=True)

    def validate(self) -> None:
        """Raise :class:`MessageError` unless every header field is well formed and of our schema."""
        validate_header(self.header())


def validate_header(header: object) -> dict[str, Any]:
    """Check a decoded header map; returns it or raises :class:`MessageError` naming the field."""
    if not isinstance(header, dict):
        raise MessageError("envelope header is not a map", field="header")
    checks: list[tuple[str, str, re.Pattern[str] | None]] = [
        ("a", "address", _ADDRESS),
        ("s", "src", _PARTY),
        ("d", "dst", _PARTY),
        ("t", "payload_type", _TYPE),
        ("k", "key_fingerprint", _FINGERPRINT),
    ]
    for key, name, pattern in checks:
        value = header.get(key)
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise MessageError(f"envelope {name} is missing or malformed: {str(value)[:80]!r}", field=name)
    version = header.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MessageError("envelope schema_version is missing", field="schema_version")
    if version != SCHEMA_VERSION:
        raise MessageError(
            f"envelope schema version {version} is not supported (this party speaks {SCHEMA_VERSION}); "
            "upgrade fedloom on both parties",
            field="schema_version",
        )
    size = header.get("n")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise MessageError("envelope body size is missing or negative", field="size")
    message_id = header.get("m")
    if not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
        raise MessageError(
            f"envelope message_id is missing or not 32 hex digits: {str(message_id)[:80]!r}",
            field="message_id",
        )
    return header


def decode_header(raw: Buffer) -> dict[str, Any]:
    """Parse and validate header bytes received from a peer."""
    if memoryview(raw).nbytes > MAX_HEADER_BYTES:
        raise MessageError(f"envelope header larger than {MAX_HEADER_BYTES} bytes", field="header")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=0, max_ext_len=0)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise MessageError(
            f"envelope header is not valid msgpack ({type(exc).__name__})", field="header"
        ) from None
    return validate_header(header)


def envelope_from_header(header: dict[str, Any], body: Sequence[Buffer]) -> Envelope:
    """Build an envelope from a validated header and the received body."""
    env = Envelope(
        address=header["a"],
        src=header["s"],
        dst=header["d"],
        payload_type=header["t"],
        key_fingerprint=header["k"],
        body=body,
        schema_version=header["v"],
        message_id=header["m"],
    )
    if env.size != header["n"]:
        raise MessageError(
            f"envelope body is {env.size} bytes but its header announced {header['n']}", field="size"
        )
    return env
