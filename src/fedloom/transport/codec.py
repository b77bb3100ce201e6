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
envelope header and must be a key this party knows (its own, or one it accepted earlier),
otherwise decoding raises :class:`MessageError` — a ciphertext under an unknown key is useless
at best and an attack at worst.

Decoding is bounded, because a body is untrusted input: the buffer table is checked against the
body's size before anything is read from it; every msgpack container is limited to the size of
the bytes it comes from; lists, maps and records nest at most :data:`MAX_DEPTH` levels (records
are unpacked recursively, so this also bounds the stack); a message holds at most
:data:`MAX_ELEMENTS` elements in all; an array's shape and a ciphertext vector's count must fill
their buffer exactly before the buffer is used, and a buffer backs at most one record. Whatever
is wrong, decoding raises :class:`MessageError` and nothing else.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import struct
from collections.abc import Collection
from typing import Any, NoReturn

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
#: Deepest nesting of lists, maps and records (arrays, ciphertexts, keys, dataclasses) accepted.
MAX_DEPTH = 32
#: Most elements (list items and map entries) in one message, those inside records included.
MAX_ELEMENTS = 1 << 20
#: Most dimensions of a received array.
MAX_NDIM = 32
#: Largest value tree (the msgpack part of a body; bulk data travels in buffers).
MAX_TREE_BYTES = 256 << 20
#: Most buffers one body may declare.
MAX_BUFFERS = 1 << 20
#: A record nested in another is unpacked from a copy of its bytes: all records of a message
#: together may hold this many times the tree's bytes, or _MIN_RECORD_BYTES when that is more.
_RECORD_BYTES_FACTOR = 4
_MIN_RECORD_BYTES = 16 << 20
#: The non-zero dimensions of a received array multiply to at most this.
_MAX_ARRAY_ITEMS = 1 << 48
#: Dataclass records are unpacked recursively (each level costs tens of KB of C stack in
#: msgpack), so their nesting is refused *before* recursing. One is three levels (the record, its
#: ``[name, fields]`` list, its fields map), so deeper nesting would exceed MAX_DEPTH anyway.
_MAX_RECORD_NESTING = MAX_DEPTH // 3
_RECORDS = frozenset({_EXT_ARRAY, _EXT_CIPHER, _EXT_PUBKEY, _EXT_DATACLASS})
_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


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
    """The state of decoding one body: its buffers, its key and the budgets every record draws from.

    The items of every container (list, map) are counted against :data:`MAX_ELEMENTS`, and its
    nesting against :data:`MAX_DEPTH` (a record, i.e. an array, ciphertext vector, key or
    dataclass, is a level too), as soon as the container is complete. A dataclass record is
    refused before its own bytes are unpacked when ``MAX_DEPTH // 3`` of them are already open.
    Containers holding containers are remembered by ``id`` (and kept alive, so no ``id`` is
    reused) to compute their parents' depth without a second walk.
    """

    def __init__(
        self, body: memoryview, offsets: np.ndarray, keys: Keyring, fingerprint: str, tree_len: int
    ) -> None:
        self.body = body
        self.offsets = offsets  # n_buffers + 1 absolute offsets of the buffers in ``body``
        self.keys = keys
        self.fingerprint = fingerprint
        self.used: set[int] = set()
        self.elements_left = MAX_ELEMENTS
        self.record_bytes_left = max(_RECORD_BYTES_FACTOR * tree_len, _MIN_RECORD_BYTES)
        self.records_open = 0
        self.depths: dict[int, int] = {}
        self.alive: list[object] = []

    # -- bounded msgpack ------------------------------------------------------------------------

    def unpack(self, data: bytes, records: bool) -> Any:
        """Unpack one msgpack blob under the limits; ``records``: whether it may hold records."""
        n = len(data)
        try:
            return msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=False,
                use_list=True,
                list_hook=self._list,
                object_hook=self._map,
                ext_hook=self.ext_hook if records else _no_record,
                max_str_len=n,
                max_bin_len=n,
                max_array_len=n,
                max_map_len=n // 2,
                max_ext_len=n,
            )
        except MessageError:
            raise
        except Exception as exc:  # msgpack raises several unrelated types on garbage
            raise MessageError(
                f"payload is not valid msgpack ({type(exc).__name__})", field="payload"
            ) from None

    def _spend(self, n: int) -> None:
        self.elements_left -= n
        if self.elements_left < 0:
            raise MessageError(
                f"payload holds more than {MAX_ELEMENTS} elements (bulk data belongs in arrays)",
                field="payload",
            )

    def _nest(self, obj: object, children: Collection[object]) -> None:
        """Check the depth of ``obj`` (one level above its deepest child) and remember it."""
        kinds = set(map(type, children))
        if kinds <= _SCALARS:
            return  # depth 1: not remembered, a parent counts it from its type
        if msgpack.Timestamp in kinds:
            raise MessageError("payload holds a msgpack timestamp, which is not a wire type", field="payload")
        depth = 1 + max(map(self.depths.get, map(id, children), itertools.repeat(1)))
        self._remember(obj, depth)

    def _remember(self, obj: object, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise MessageError(f"payload nests deeper than {MAX_DEPTH} levels", field="payload")
        self.depths[id(obj)] = depth
        self.alive.append(obj)

    def _list(self, items: list[Any]) -> list[Any]:
        self._spend(len(items))
        self._nest(items, items)
        return items

    def _map(self, entries: dict[Any, Any]) -> dict[Any, Any]:
        self._spend(len(entries))
        if not set(map(type, entries)) <= _SCALARS:
            raise MessageError("payload map has a key that is not a str, bytes or number", field="payload")
        self._nest(entries, entries.values())
        return entries

    # -- records --------------------------------------------------------------------------------

    def ext_hook(self, code: int, data: bytes) -> Any:
        """Rebuild one record (msgpack extension) after checking every budget."""
        if code not in _RECORDS:
            raise MessageError(f"unknown payload extension {code}", field="payload")
        self.record_bytes_left -= len(data)
        if self.record_bytes_left < 0:
            raise MessageError("payload records nest more bytes than the message holds", field="payload")
        if code == _EXT_DATACLASS and self.records_open >= _MAX_RECORD_NESTING:
            raise MessageError(f"payload nests deeper than {MAX_DEPTH} levels", field="payload")
        self.records_open += 1
        try:
            meta = self.unpack(data, records=code == _EXT_DATACLASS)
        finally:
            self.records_open -= 1
        if code == _EXT_ARRAY:
            return self._array(meta)
        if code == _EXT_CIPHER:
            return self._cipher(meta)
        if code == _EXT_PUBKEY:
            return self._pubkey(meta)
        value = self._dataclass(meta)
        self._remember(value, 1 + self.depths.get(id(meta), 1))
        return value

    def _buffer(self, index: object, nbytes: int | None = None) -> memoryview:
        """Buffer ``index`` (each used once); ``nbytes``: the size its record announces."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(self.offsets) - 1:
            raise MessageError(
                f"payload refers to buffer {index!r}, which is not in the message", field="payload"
            )
        if index in self.used:
            raise MessageError(f"payload refers to buffer {index} twice", field="payload")
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        if nbytes is not None and nbytes != end - start:
            raise MessageError(
                f"a record announces {nbytes} bytes, its buffer {index} holds {end - start}", field="payload"
            )
        self.used.add(index)
        return self.body[start:end]

    def _array(self, meta: object) -> np.ndarray:
        if not (isinstance(meta, list) and len(meta) == 3):
            raise MessageError("malformed array record", field="payload")
        dtype_str, shape, index = meta
        if (
            not isinstance(dtype_str, str)
            or dtype_str not in _DTYPES
            or not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(type(d) is int and 0 <= d <= _MAX_ARRAY_ITEMS for d in shape)
            or math.prod(d for d in shape if d) > _MAX_ARRAY_ITEMS
        ):
            raise MessageError(
                f"array of dtype {str(dtype_str)[:16]!r} / shape {str(shape)[:80]} is not accepted",
                field="payload",
            )
        dtype = np.dtype(dtype_str)
        view = self._buffer(index, math.prod(shape) * dtype.itemsize)
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
        if type(frac_bits) is not int or type(count) is not int or count < 0:
            raise MessageError("malformed ciphertext record", field="payload")
        cls: type[EncryptedVector] | type[PlainVector]
        if kind == _KIND_PAILLIER and isinstance(key, PaillierPublicKey):
            cls = EncryptedVector
        elif kind == _KIND_PLAIN and isinstance(key, PlainPublicKey):
            cls = PlainVector
        else:
            raise MessageError("ciphertext record does not match its key type", field="payload")
        # The announced count must fill the buffer exactly before a single value is parsed.
        view = self._buffer(index, count * key.ciphertext_bytes)
        try:
            return cls.from_bytes(key, view, frac_bits)
        except CryptoError as exc:
            raise MessageError(f"invalid ciphertext vector: {exc.message}", field="payload") from None

    def _pubkey(self, meta: object) -> PaillierPublicKey | PlainPublicKey:
        if not (isinstance(meta, list) and len(meta) == 2 and isinstance(meta[1], dict)):
            raise MessageError("malformed public key record", field="payload")
        kind, fields = meta
        cls = PaillierPublicKey if kind == _KIND_PAILLIER else PlainPublicKey
        try:
            key = cls.from_dict(fields)
        except Exception as exc:  # a key from a peer is untrusted input
            raise MessageError(f"invalid public key: {exc}", field="payload") from None
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
                f"unknown message type {name[:128]!r} (is the peer's fedloom version the same?)",
                field="payload",
            )
        try:
            return cls(**fields)
        except Exception as exc:  # the class's own checks run on a peer's untrusted fields
            raise MessageError(
                f"message {name} has wrong fields: {str(exc)[:200]}", field="payload"
            ) from None


def _no_record(code: int, data: bytes) -> NoReturn:
    raise MessageError(f"a record holds a nested record (extension {code})", field="payload")


def _buffer_table(view: memoryview) -> tuple[np.ndarray, int]:
    """``(offsets, tree_len)`` of a body: every size checked against the body before use.

    ``offsets`` holds the ``B + 1`` absolute offsets delimiting the buffers. The table is read
    with numpy (no Python object per entry), only after its announced length fits in the body.
    """
    total = view.nbytes
    if total < 8:
        raise MessageError("message body is shorter than its buffer table", field="payload")
    (n_buffers,) = struct.unpack_from("<I", view, 0)
    start = 8 + 8 * n_buffers
    if n_buffers > MAX_BUFFERS or start > total:
        raise MessageError(
            f"message body of {total} bytes cannot hold the {n_buffers} buffers it declares",
            field="payload",
        )
    lengths = np.frombuffer(view, dtype="<u8", count=n_buffers, offset=4)
    (tree_len,) = struct.unpack_from("<I", view, start - 4)
    if tree_len > MAX_TREE_BYTES or (n_buffers and int(lengths.max()) > total):
        raise MessageError(f"message body of {total} bytes announces larger parts", field="payload")
    # At most 2**20 lengths, each at most the body size: the sum cannot overflow 64 bits.
    ends = np.cumsum(lengths, dtype=np.uint64)
    announced = start + tree_len + (int(ends[-1]) if n_buffers else 0)
    if announced != total:
        raise MessageError(f"message body is {total} bytes, its table announces {announced}", field="payload")
    offsets = np.empty(n_buffers + 1, dtype=np.uint64)
    offsets[0] = 0
    offsets[1:] = ends
    offsets += np.uint64(start + tree_len)
    return offsets, tree_len


def decode(body: Buffer, keys: Keyring, key_fingerprint: str = "") -> Any:
    """Rebuild the value encoded by :func:`encode`; every malformation raises :class:`MessageError`.

    Decoding is bounded before anything is allocated: the buffer table against the body size,
    nesting against :data:`MAX_DEPTH`, elements against :data:`MAX_ELEMENTS`, each array shape and
    ciphertext count against its buffer. Any failure, whatever its cause, is a
    :class:`MessageError` with ``field="payload"`` (or ``"key_fingerprint"`` for a key problem).

    Public keys found in the payload are returned, never added to ``keys``: a key from a peer is
    accepted only by an explicit check (:meth:`fedloom.context.Context.recv_public_key`).
    """
    try:
        view = memoryview(body).cast("B")
    except (TypeError, ValueError):
        raise MessageError("message body is not one contiguous buffer", field="payload") from None
    offsets, tree_len = _buffer_table(view)
    start = int(offsets[0]) - tree_len
    decoder = _Decoder(view, offsets, keys, key_fingerprint, tree_len)
    value = decoder.unpack(bytes(view[start : start + tree_len]), records=True)
    if isinstance(value, msgpack.Timestamp):
        raise MessageError("payload is a msgpack timestamp, which is not a wire type", field="payload")
    return value
