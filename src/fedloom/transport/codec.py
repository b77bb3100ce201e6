"""Encoding of payloads for the wire: msgpack for structure, raw buffers for bulk data, no pickle.

A party must never be able to run code on another by sending bytes, so the codec rebuilds only
a closed set of types: msgpack's own (None, bool, int, float, str, bytes, list, dict), numpy
arrays of numeric dtypes, ciphertext vectors, public keys and dataclasses registered with
:func:`fedloom.core.wire.wire_type`. Tuples arrive as lists.

Body layout (one envelope body; integers little-endian)::

    u32                 number of buffers B
    B × u64             length of each buffer
    u32                 length T of the value tree
    T bytes             the value tree, msgpack
    len_0 bytes         buffer 0 (an array's data, a ciphertext vector's fixed-width integers)
    len_1 bytes         buffer 1 ...

Bulk data never passes through msgpack: an array in the tree is an extension record
``[dtype, shape, buffer index]`` and its bytes are sent as they lie in memory, so a 200 MB array
is streamed without being copied into one message first. On receipt arrays are views of the
received buffer.

Every ciphertext in one payload must be under one public key; its fingerprint goes into the
envelope header and must be a key this party knows (its own, or one it received earlier),
otherwise decoding raises :class:`MessageError` — a ciphertext under an unknown key is useless
at best and an attack at worst.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import msgpack
import numpy as np

from fedloom.core.errors import CryptoError, MessageError
from fedloom.core.wire import wire_class, wire_name
from fedloom.crypto.paillier import EncryptedVector, PaillierPublicKey
from fedloom.crypto.paillier.plain import PlainPublicKey, PlainVector

Buffer = bytes | bytearray | memoryview

_EXT_ARRAY = 1
_EXT_CIPHER = 2
_EXT_PUBKEY = 3
_EXT_DATACLASS = 4

_KIND_PAILLIER = "paillier"
_KIND_PLAIN = "plain"

#: numpy dtypes allowed on the wire (object arrays could smuggle anything).
_DTYPES = frozenset(
    np.dtype(t).str
    for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16")
) | frozenset(np.dtype(t).newbyteorder(">").str for t in ("i2", "i4", "i8", "u2", "u4", "u8", "f4", "f8"))
_MAX_TREE_BYTES = 256 << 20
_MAX_BUFFERS = 1 << 20


class Keyring:
    """Public keys this party may decode ciphertexts under, by fingerprint."""

    def __init__(self) -> None:
        self._keys: dict[str, Any] = {}

    def add(self, key: Any) -> None:
        self._keys[key.fingerprint] = key

    def get(self, fingerprint: str) -> Any | None:
        return self._keys.get(fingerprint)

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self._keys

    def __len__(self) -> int:
        return len(self._keys)


@dataclasses.dataclass
class Encoded:
    """Output of :func:`encode`: what goes into an :class:`Envelope`."""

    payload_type: str
    key_fingerprint: str
    body: list[Buffer]
    #: Public keys in the payload: a party that sends its key will receive ciphertexts under it.
    public_keys: list[Any] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(memoryview(b).nbytes for b in self.body)


def _top_type(value: object) -> str:
    if isinstance(value, np.ndarray):
        return "ndarray"
    if isinstance(value, EncryptedVector):
        return "paillier.vector"
    if isinstance(value, PlainVector):
        return "plain.vector"
    if isinstance(value, PaillierPublicKey | PlainPublicKey):
        return "public_key"
    name = wire_name(type(value))
    if name is not None:
        return name
    return "msgpack"


class _Encoder:
    def __init__(self) -> None:
        self.buffers: list[Buffer] = []
        self.fingerprint = ""
        self.public_keys: list[Any] = []

    def _add_buffer(self, buf: Buffer) -> int:
        self.buffers.append(buf)
        return len(self.buffers) - 1

    def _note_key(self, fingerprint: str) -> None:
        if self.fingerprint and self.fingerprint != fingerprint:
            raise MessageError(
                "one message holds ciphertexts under two different keys; send them separately",
                field="key_fingerprint",
            )
        self.fingerprint = fingerprint

    def default(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return self._array(obj)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, EncryptedVector | PlainVector):
            kind = _KIND_PAILLIER if isinstance(obj, EncryptedVector) else _KIND_PLAIN
            fp = obj.public_key.fingerprint
            self._note_key(fp)
            meta = [kind, fp, int(obj.frac_bits), len(obj), self._add_buffer(obj.to_bytes())]
            return msgpack.ExtType(_EXT_CIPHER, msgpack.packb(meta))
        if isinstance(obj, PaillierPublicKey | PlainPublicKey):
            kind = _KIND_PAILLIER if isinstance(obj, PaillierPublicKey) else _KIND_PLAIN
            self.public_keys.append(obj)
            return msgpack.ExtType(_EXT_PUBKEY, msgpack.packb([kind, obj.to_dict()]))
        name = wire_name(type(obj))
        if name is not None:
            fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
            inner = msgpack.packb([name, fields], default=self.default, use_bin_type=True)
            return msgpack.ExtType(_EXT_DATACLASS, inner)
        if isinstance(obj, tuple | set | frozenset):
            return list(obj)
        raise MessageError(
            f"cannot send a {type(obj).__qualname__}: send numpy arrays, ciphertext vectors, msgpack types "
            "or dataclasses registered with @wire_type",
            field="payload",
        )

    def _array(self, arr: np.ndarray) -> msgpack.ExtType:
        if arr.dtype.str not in _DTYPES:
            raise MessageError(f"arrays of dtype {arr.dtype} cannot be sent", field="payload")
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        index = self._add_buffer(arr.reshape(-1).view(np.uint8).data if arr.size else b"")
        return msgpack.ExtType(_EXT_ARRAY, msgpack.packb([arr.dtype.str, list(arr.shape), index]))


def encode(value: object) -> Encoded:
    """Encode ``value`` for the wire without copying bulk buffers."""
    enc = _Encoder()
    tree = msgpack.packb(value, default=enc.default, use_bin_type=True)
    lengths = [memoryview(b).nbytes for b in enc.buffers]
    head = struct.pack(f"<I{len(lengths)}QI", len(lengths), *lengths, len(tree))
    return Encoded(_top_type(value), enc.fingerprint, [head + tree, *enc.buffers], enc.public_keys)


class _Decoder:
    def __init__(
        self, body: memoryview, lengths: list[int], start: int, keys: Keyring, fingerprint: str
    ) -> None:
        self.keys = keys
        self.fingerprint = fingerprint
        self.views: list[memoryview] = []
        offset = start
        for n in lengths:
            self.views.append(body[offset : offset + n])
            offset += n

    def _buffer(self, index: object) -> memoryview:
        if not isinstance(index, int) or not 0 <= index < len(self.views):
            raise MessageError(
                f"payload refers to buffer {index!r}, which is not in the message", field="payload"
            )
        return self.views[index]

    def ext_hook(self, code: int, data: bytes) -> Any:
        meta = _unpack_small(data, self.ext_hook if code == _EXT_DATACLASS else None)
        if code == _EXT_ARRAY:
            return self._array(meta)
        if code == _EXT_CIPHER:
            return self._cipher(meta)
        if code == _EXT_PUBKEY:
            return self._pubkey(meta)
        if code == _EXT_DATACLASS:
            return self._dataclass(meta)
        raise MessageError(f"unknown payload extension {code}", field="payload")

    def _array(self, meta: object) -> np.ndarray:
        if not (isinstance(meta, list) and len(meta) == 3):
            raise MessageError("malformed array record", field="payload")
        dtype_str, shape, index = meta
        if (
            dtype_str not in _DTYPES
            or not isinstance(shape, list)
            or not all(isinstance(d, int) and d >= 0 for d in shape)
        ):
            raise MessageError(
                f"array of dtype {dtype_str!r} / shape {shape!r} is not accepted", field="payload"
            )
        dtype = np.dtype(dtype_str)
        view = self._buffer(index)
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if expected != view.nbytes:
            raise MessageError(
                f"array of shape {tuple(shape)} needs {expected} bytes, the message has {view.nbytes}",
                field="payload",
            )
        return np.frombuffer(view, dtype=dtype).reshape(shape)

    def _key(self, fingerprint: object) -> Any:
        if not isinstance(fingerprint, str) or fingerprint != self.fingerprint:
            raise MessageError(
                "ciphertext key does not match the envelope's key fingerprint", field="key_fingerprint"
            )
        key = self.keys.get(fingerprint)
        if key is None:
            raise MessageError(
                f"ciphertexts under key {fingerprint[:12]}…, which this party does not know "
                "(wrong job, wrong peer, or the public key was never exchanged)",
                field="key_fingerprint",
            )
        return key

    def _cipher(self, meta: object) -> EncryptedVector | PlainVector:
        if not (isinstance(meta, list) and len(meta) == 5):
            raise MessageError("malformed ciphertext record", field="payload")
        kind, fingerprint, frac_bits, count, index = meta
        key = self._key(fingerprint)
        if not isinstance(frac_bits, int) or not isinstance(count, int):
            raise MessageError("malformed ciphertext record", field="payload")
        try:
            if kind == _KIND_PAILLIER and isinstance(key, PaillierPublicKey):
                vec: EncryptedVector | PlainVector = EncryptedVector.from_bytes(
                    key, self._buffer(index), frac_bits
                )
            elif kind == _KIND_PLAIN and isinstance(key, PlainPublicKey):
                vec = PlainVector.from_bytes(key, self._buffer(index), frac_bits)
            else:
                raise MessageError("ciphertext record does not match its key type", field="payload")
        except CryptoError as exc:
            raise MessageError(f"invalid ciphertext vector: {exc.message}", field="payload") from None
        if len(vec) != count:
            raise MessageError(
                f"ciphertext vector announced {count} values, holds {len(vec)}", field="payload"
            )
        return vec

    def _pubkey(self, meta: object) -> PaillierPublicKey | PlainPublicKey:
        if not (isinstance(meta, list) and len(meta) == 2 and isinstance(meta[1], dict)):
            raise MessageError("malformed public key record", field="payload")
        kind, fields = meta
        cls = PaillierPublicKey if kind == _KIND_PAILLIER else PlainPublicKey
        try:
            key = cls.from_dict(fields)
        except Exception as exc:  # a key from a peer is untrusted input
            raise MessageError(f"invalid public key: {exc}", field="payload") from None
        self.keys.add(key)
        return key

    def _dataclass(self, meta: object) -> Any:
        if not (
            isinstance(meta, list)
            and len(meta) == 2
            and isinstance(meta[0], str)
            and isinstance(meta[1], dict)
        ):
            raise MessageError("malformed dataclass record", field="payload")
        name, fields = meta
        cls = wire_class(name)
        if cls is None:
            raise MessageError(
                f"unknown message type {name!r} (is the peer's fedloom version the same?)", field="payload"
            )
        try:
            return cls(**fields)
        except TypeError as exc:
            raise MessageError(f"message {name} has wrong fields: {exc}", field="payload") from None


def _unpack_small(data: bytes, ext_hook: Any) -> Any:
    try:
        if ext_hook is None:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=ext_hook)
    except MessageError:
        raise
    except Exception as exc:
        raise MessageError(
            f"payload record is not valid msgpack ({type(exc).__name__})", field="payload"
        ) from None


def decode(body: Buffer, keys: Keyring, key_fingerprint: str = "") -> Any:
    """Rebuild the value encoded by :func:`encode`; every malformation raises :class:`MessageError`.

    Public keys found in the payload are added to ``keys``, so later ciphertexts under them decode.
    """
    view = memoryview(body).cast("B")
    try:
        (n_buffers,) = struct.unpack_from("<I", view, 0)
        if n_buffers > _MAX_BUFFERS:
            raise MessageError(f"message declares {n_buffers} buffers", field="payload")
        *lengths, tree_len = struct.unpack_from(f"<{n_buffers}QI", view, 4)
    except struct.error:
        raise MessageError("message body is shorter than its buffer table", field="payload") from None
    start = 4 + 8 * n_buffers + 4
    if tree_len > _MAX_TREE_BYTES or start + tree_len + sum(lengths) != view.nbytes:
        raise MessageError(
            f"message body is {view.nbytes} bytes, its table announces {start + tree_len + sum(lengths)}",
            field="payload",
        )
    decoder = _Decoder(view, lengths, start + tree_len, keys, key_fingerprint)
    return _unpack_small(bytes(view[start : start + tree_len]), decoder.ext_hook)
