"""The codec: round trips for every wire type, and rejection of anything malformed."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedloom.core.errors import MessageError
from fedloom.core.wire import wire_type
from fedloom.transport.codec import Keyring, decode, encode


@wire_type("tests.codec.Summary")
@dataclass
class Summary:
    loss: float
    weights: np.ndarray
    tags: list[str] = field(default_factory=list)


def roundtrip(value: object, keys: Keyring | None = None) -> object:
    enc = encode(value)
    body = b"".join(bytes(b) for b in enc.body)
    return decode(bytearray(body), keys or Keyring(), enc.key_fingerprint)


NUMERIC = st.sampled_from(["i1", "i4", "i8", "u1", "u8", "f4", "f8", "?"])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=NUMERIC, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
def test_arrays_round_trip_exactly(arr: np.ndarray) -> None:
    out = roundtrip(arr)
    assert isinstance(out, np.ndarray)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    )
)
def test_msgpack_values_round_trip(value: object) -> None:
    assert roundtrip(value) == value


def test_registered_dataclass_with_nested_array_round_trips() -> None:
    msg = Summary(loss=0.25, weights=np.arange(6, dtype=np.float64).reshape(2, 3), tags=["a", "b"])
    out = roundtrip({"summary": msg, "epoch": 3})
    assert isinstance(out, dict) and isinstance(out["summary"], Summary)
    assert out["summary"].loss == 0.25 and out["summary"].tags == ["a", "b"]
    np.testing.assert_array_equal(out["summary"].weights, msg.weights)


def test_bulk_array_is_sent_as_its_own_buffer_not_copied_into_the_tree() -> None:
    arr = np.ones(1 << 20, dtype=np.float64)
    enc = encode(arr)
    assert enc.payload_type == "ndarray"
    assert len(enc.body) == 2 and memoryview(enc.body[1]).nbytes == arr.nbytes
    assert memoryview(enc.body[0]).nbytes < 100


def test_unregistered_and_object_types_are_refused_at_send() -> None:
    class Opaque:
        pass

    with pytest.raises(MessageError, match="cannot send"):
        encode(Opaque())
    with pytest.raises(MessageError, match="dtype object"):
        encode(np.array([1, "x"], dtype=object))


def _good_body() -> bytearray:
    enc = encode({"w": np.arange(4.0)})
    return bytearray(b"".join(bytes(b) for b in enc.body))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:3],  # shorter than the table
        lambda b: b[:-1],  # a buffer lost a byte
        lambda b: b + b"x",  # trailing garbage
        lambda b: struct.pack("<I", 1 << 30) + b[4:],  # absurd buffer count
        lambda b: b[:16] + b"\xc1" * (len(b) - 16),  # garbage tree and buffers
    ],
)
def test_malformed_bodies_raise_message_error(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MessageError):
        decode(bytearray(mangle(_good_body())), Keyring())


def test_unknown_dataclass_name_is_refused() -> None:
    @wire_type("tests.codec.Temporary")
    @dataclass
    class Temporary:
        x: int

    body = bytearray(b"".join(bytes(b) for b in encode(Temporary(1)).body))
    body = body.replace(b"tests.codec.Temporary", b"tests.codec.Xemporary")
    with pytest.raises(MessageError, match="unknown message type"):
        decode(body, Keyring())
