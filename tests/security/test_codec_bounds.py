"""Finding 2: decoding a peer's bytes is bounded (depth, element count, every size) and never crashes.

Before the fix, ~300 nested dataclass records (a 22 KB message) overflowed the C stack and killed
the receiving process (SIGSEGV); an announced shape ``[2**32, 2**32]`` overflowed int64 and
escaped as a ``ValueError``. Every malformed body must now raise :class:`MessageError` with
``field="payload"`` (or ``"key_fingerprint"``) and nothing else, quickly.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedloom.core.errors import MessageError
from fedloom.core.wire import wire_type
from fedloom.crypto.paillier import generate_keypair
from fedloom.transport.codec import MAX_DEPTH, MAX_ELEMENTS, Keyring, decode, encode

_EXT_ARRAY, _EXT_CIPHER, _EXT_DATACLASS = 1, 2, 4


@wire_type("tests.security.Node")
@dataclass
class Node:
    child: Any = None


@wire_type("tests.security.Checked")
@dataclass
class Checked:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must be >= 0")


@wire_type("tests.security.Rich")
@dataclass
class Rich:
    weights: np.ndarray
    tags: list[str] = field(default_factory=list)
    extra: Any = None


def body_of(tree: object, buffers: list[bytes] | None = None) -> bytearray:
    """A body holding the msgpack ``tree`` (records as ExtType) and raw ``buffers``."""
    buffers = buffers or []
    packed = msgpack.packb(tree, use_bin_type=True)
    head = struct.pack(f"<I{len(buffers)}QI", len(buffers), *(len(b) for b in buffers), len(packed))
    return bytearray(head + packed + b"".join(buffers))


def nested_records(depth: int) -> msgpack.ExtType:
    """``depth`` dataclass records, each the only field of the one around it."""
    tree = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Node", {"child": 1}]))
    for _ in range(depth - 1):
        tree = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Node", {"child": tree}]))
    return tree


def nested_lists(depth: int) -> bytes:
    """msgpack bytes of ``depth`` lists, each holding the next (built as bytes: no recursion)."""
    return b"\x91" * (depth - 1) + b"\x90"


def refused(body: bytearray, keys: Keyring | None = None, fingerprint: str = "") -> MessageError:
    with pytest.raises(MessageError) as info:
        decode(body, keys or Keyring(), fingerprint)
    assert type(info.value) is MessageError
    assert info.value.field in ("payload", "key_fingerprint")
    return info.value


# -- depth ----------------------------------------------------------------------------------------

_SUBPROCESS_DECODE = textwrap.dedent(
    """
    import struct, sys, msgpack
    from dataclasses import dataclass
    from typing import Any
    from fedloom.core.errors import MessageError
    from fedloom.core.wire import wire_type
    from fedloom.transport.codec import Keyring, decode

    @wire_type("tests.security.Node")
    @dataclass
    class Node:
        child: Any = None

    tree = msgpack.ExtType(4, msgpack.packb(["tests.security.Node", {"child": 1}]))
    for _ in range(int(sys.argv[1]) - 1):
        tree = msgpack.ExtType(4, msgpack.packb(["tests.security.Node", {"child": tree}]))
    packed = msgpack.packb(tree)
    body = bytearray(struct.pack("<II", 0, len(packed)) + packed)
    try:
        decode(body, Keyring())
    except MessageError as exc:
        print("refused:", exc.field)
    else:
        print("decoded")
    """
)


@pytest.mark.parametrize("depth", [300, 10_000])
def test_deep_dataclass_records_are_refused_in_a_fresh_process(depth: int) -> None:
    # In a subprocess, so a stack overflow shows as a failed test instead of killing pytest.
    proc = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS_DECODE, str(depth)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"decoder process died with {proc.returncode}: {proc.stderr[-500:]}"
    assert proc.stdout.strip() == "refused: payload"


def test_ten_thousand_nested_records_are_refused_quickly() -> None:
    body = body_of(nested_records(10_000))
    assert len(body) > 300_000
    start = time.perf_counter()
    refused(body)
    assert time.perf_counter() - start < 2.0


def test_an_array_inside_records_nested_to_the_limit_decodes() -> None:
    value: object = np.arange(3.0)
    for _ in range(MAX_DEPTH // 3):
        value = Node(value)
    enc = encode(value)
    out = decode(bytearray(b"".join(bytes(b) for b in enc.body)), Keyring())
    for _ in range(MAX_DEPTH // 3):
        assert isinstance(out, Node)
        out = out.child
    np.testing.assert_array_equal(out, np.arange(3.0))


def test_records_nested_to_the_limit_decode_and_one_more_is_refused() -> None:
    # A dataclass record is three levels (record, [name, fields], fields): 10 fit in 32.
    ok = decode(body_of(nested_records(MAX_DEPTH // 3)), Keyring())
    for _ in range(MAX_DEPTH // 3 - 1):
        assert isinstance(ok, Node)
        ok = ok.child
    assert ok.child == 1
    assert "deeper" in refused(body_of(nested_records(MAX_DEPTH // 3 + 1))).message


def _raw(packed: bytes, buffers: list[bytes] | None = None) -> bytearray:
    """A body around already packed tree bytes."""
    buffers = buffers or []
    head = struct.pack(f"<I{len(buffers)}QI", len(buffers), *(len(b) for b in buffers), len(packed))
    return bytearray(head + packed + b"".join(buffers))


def test_plain_lists_nested_to_the_limit_decode_and_deeper_ones_are_refused() -> None:
    value = decode(_raw(nested_lists(MAX_DEPTH)), Keyring())
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []
    for depth in (MAX_DEPTH + 1, 1000, 100_000):  # 100_000 is past msgpack's own stack limit too
        refused(_raw(nested_lists(depth)))


def test_lists_inside_records_count_towards_the_same_depth() -> None:
    # Fine alone (MAX_DEPTH lists), too deep as the field of a record.
    fields = b"\x81" + msgpack.packb("child") + nested_lists(MAX_DEPTH)
    record = msgpack.ExtType(_EXT_DATACLASS, b"\x92" + msgpack.packb("tests.security.Node") + fields)
    assert "deeper" in refused(body_of(record)).message


# -- element count ----------------------------------------------------------------------------------


def test_more_elements_than_the_budget_are_refused() -> None:
    refused(body_of(list(range(MAX_ELEMENTS + 1))))
    refused(body_of([{} for _ in range(MAX_ELEMENTS + 1)]))  # 1 byte each, a dict each


def test_the_element_budget_spans_nested_records() -> None:
    half = list(range(MAX_ELEMENTS // 2 + 1))
    record = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Node", {"child": half}]))
    decode(body_of([record]), Keyring())  # one is fine
    refused(body_of([record, record]))  # two are over the budget together


# -- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        [2**40, 2**40],  # product far beyond int64
        [2**32, 2**32],  # product wraps to 0 in int64
        [2**63, 2],
        [2**64 - 1],
        [0, 2**62],  # empty, but a dimension no array can have
        [-1, 0],
        [1.5],
        [True],
        [1] * 65,  # more dimensions than numpy has
        "8",
        None,
    ],
    ids=str,
)
def test_huge_or_malformed_announced_shapes_are_refused(shape: object) -> None:
    record = msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", shape, 0]))
    refused(body_of(record, [b""]))
    refused(body_of(record, [b"\0" * 64]))


def test_array_shape_must_fill_its_buffer_exactly() -> None:
    record = msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", [3], 0]))
    assert decode(body_of(record, [b"\0" * 24]), Keyring()).shape == (3,)
    refused(body_of(record, [b"\0" * 16]))
    refused(body_of(record, [b"\0" * 32]))


@pytest.mark.parametrize("index", [1, -1, 2**40, True, "0", None, 0.0])
def test_records_must_name_a_buffer_that_exists(index: object) -> None:
    record = msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", [1], index]))
    refused(body_of(record, [b"\0" * 8]))


def test_one_buffer_cannot_back_two_arrays() -> None:
    record = msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", [1], 0]))
    assert "twice" in refused(body_of([record, record], [b"\0" * 8])).message


def _table(n_buffers: int, lengths: list[int], tree_len: int, rest: bytes = b"") -> bytearray:
    return bytearray(
        struct.pack("<I", n_buffers)
        + b"".join(struct.pack("<Q", n) for n in lengths)
        + struct.pack("<I", tree_len)
        + rest
    )


@pytest.mark.parametrize(
    "body",
    [
        bytearray(),
        bytearray(b"\0" * 7),
        _table(1 << 20, [], 0),  # a million buffers announced in 8 bytes: nothing allocated
        _table(2**32 - 1, [], 0),
        _table(1, [2**64 - 1], 1, b"\xc0"),  # a length beyond any body
        _table(2, [2**63, 2**63], 1, b"\xc0"),  # sum wraps to 0 in 64 bits
        _table(0, [], 2**32 - 1, b"\xc0"),  # tree longer than the body
        _table(0, [], 0),  # no tree at all
        _table(1, [3], 1, b"\xc0" + b"ab"),  # buffers shorter than announced
        _table(1, [1], 1, b"\xc0" + b"ab"),  # trailing bytes
    ],
    ids=[
        "empty",
        "short",
        "million-buffers",
        "max-buffers",
        "huge-length",
        "wrapping-sum",
        "long-tree",
        "no-tree",
        "short-buffer",
        "trailing",
    ],
)
def test_buffer_table_lies_are_refused(body: bytearray) -> None:
    start = time.perf_counter()
    refused(body)
    assert time.perf_counter() - start < 1.0


def test_announced_container_sizes_are_checked_before_allocation() -> None:
    refused(_raw(b"\xdd\xff\xff\xff\xff"))  # array of 2**32-1 items in 5 bytes
    refused(_raw(b"\xdf\xff\xff\xff\xff"))  # map of 2**32-1 entries
    refused(_raw(b"\xdb\xff\xff\xff\xff"))  # str of 4 GiB
    refused(_raw(b"\xc6\xff\xff\xff\xff"))  # bin of 4 GiB
    refused(_raw(b"\xc9\xff\xff\xff\xff\x04"))  # ext of 4 GiB


# -- types ----------------------------------------------------------------------------------------


def test_foreign_msgpack_types_and_keys_are_refused() -> None:
    refused(_raw(msgpack.packb(msgpack.Timestamp(1, 0))))
    refused(_raw(msgpack.packb([msgpack.Timestamp(1, 0)])))
    refused(_raw(msgpack.packb(msgpack.ExtType(99, b"x"))))
    array = msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", [1], 0]))
    refused(body_of({array: 1}, [b"\0" * 8]))  # a record as a map key
    nested = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Node", {"child": 1}]))
    refused(body_of(msgpack.ExtType(_EXT_ARRAY, msgpack.packb(["<f8", [1], nested])), [b"\0" * 8]))


def test_a_dataclass_that_rejects_its_fields_becomes_a_message_error() -> None:
    record = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Checked", {"n": -1}]))
    assert "wrong fields" in refused(body_of(record)).message
    record = msgpack.ExtType(_EXT_DATACLASS, msgpack.packb(["tests.security.Checked", {1: 2}]))
    refused(body_of(record))


# -- anything at all ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich_wire() -> tuple[bytes, str, Keyring]:
    pk, _ = generate_keypair(1024)
    ring = Keyring()
    ring.add(pk)
    value = {
        "rich": Rich(np.arange(6, dtype=np.float32).reshape(2, 3), ["a", "b"], extra=Node(Node([1, 2.5]))),
        "enc": pk.encrypt(np.array([1.0, -2.0, 3.5])),
        "ids": np.array([3, 1, 2], dtype=">i8"),
        "meta": {"epoch": 3, "ok": True, "none": None, "raw": b"\x00\xff"},
    }
    enc = encode(value)
    return b"".join(bytes(b) for b in enc.body), enc.key_fingerprint, ring


def _decodes_or_refuses(body: bytes, ring: Keyring, fingerprint: str) -> None:
    try:
        decode(bytearray(body), ring, fingerprint)
    except MessageError as exc:
        assert type(exc) is MessageError and exc.field in ("payload", "key_fingerprint")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_valid_bodies_decode_or_raise_message_error(
    rich_wire: tuple[bytes, str, Keyring], data: st.DataObject
) -> None:
    body, fingerprint, ring = rich_wire
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        pos = data.draw(st.integers(0, len(mutated) - 1), label="pos")
        mutated[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    cut = data.draw(st.integers(0, len(mutated)), label="cut")
    if data.draw(st.booleans(), label="truncate"):
        mutated = mutated[:cut]
    _decodes_or_refuses(bytes(mutated), ring, fingerprint)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=512), tree=st.binary(max_size=256))
def test_random_bytes_decode_or_raise_message_error(raw: bytes, tree: bytes) -> None:
    _decodes_or_refuses(raw, Keyring(), "")
    _decodes_or_refuses(bytes(_raw(tree)), Keyring(), "")  # a valid table around a random tree
