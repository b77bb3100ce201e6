"""Ciphertext vectors and public keys on the wire: fixed width, one buffer, key checked."""

from __future__ import annotations

import struct

import msgpack
import numpy as np
import pytest

from fedloom.core.errors import MessageError
from fedloom.crypto.paillier import generate_keypair
from fedloom.transport.codec import Keyring, decode, encode


@pytest.fixture(scope="module")
def keys():  # type: ignore[no-untyped-def]
    return generate_keypair(1024)


def wire(value: object) -> tuple[bytearray, str]:
    enc = encode(value)
    return bytearray(b"".join(bytes(b) for b in enc.body)), enc.key_fingerprint


def test_a_received_public_key_is_returned_but_not_trusted(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    receiver = Keyring()
    body, fp = wire(pk)
    got_pk = decode(body, receiver, fp)
    assert got_pk.fingerprint == pk.fingerprint
    assert pk.fingerprint not in receiver and len(receiver) == 0


def test_ciphertexts_decode_under_an_accepted_key(keys) -> None:  # type: ignore[no-untyped-def]
    pk, sk = keys
    receiver = Keyring()
    body, fp = wire(pk)
    receiver.add(decode(body, receiver, fp))  # what Context.recv_public_key does after its checks

    x = np.array([1.5, -2.25, 0.0, 1e6])
    enc_x = pk.encrypt(x)
    body, fp = wire({"g": enc_x})
    assert fp == pk.fingerprint
    out = decode(body, receiver, fp)["g"]
    np.testing.assert_allclose(sk.decrypt(out), x)


def test_ciphertexts_are_fixed_width_in_one_buffer(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    enc = encode(pk.encrypt(np.arange(10.0)))
    assert len(enc.body) == 2
    assert memoryview(enc.body[1]).nbytes == 10 * pk.ciphertext_bytes


def test_ciphertexts_under_an_unknown_key_are_refused(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    body, fp = wire(pk.encrypt(np.arange(3.0)))
    with pytest.raises(MessageError, match="does not know"):
        decode(body, Keyring(), fp)


def test_envelope_fingerprint_must_match_the_ciphertexts(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    ring = Keyring()
    ring.add(pk)
    body, _ = wire(pk.encrypt(np.arange(3.0)))
    with pytest.raises(MessageError, match="fingerprint"):
        decode(body, ring, "0" * 32)


def test_two_keys_in_one_message_are_refused_at_send(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    other, _ = generate_keypair(1024)
    with pytest.raises(MessageError, match="two different keys"):
        encode([pk.encrypt(np.ones(1)), other.encrypt(np.ones(1))])


@pytest.mark.parametrize(
    ("field", "value"),
    [(3, 11), (3, 9), (3, -1), (3, 1 << 60), (4, 1), (4, -1), (2, -1), (2, "x")],
    ids=[
        "count-high",
        "count-low",
        "count-negative",
        "count-huge",
        "buffer-missing",
        "buffer-negative",
        "frac-negative",
        "frac-str",
    ],
)
def test_ciphertext_record_lies_are_refused_before_parsing(keys, field: int, value: object) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    ring = Keyring()
    ring.add(pk)
    vec = pk.encrypt(np.arange(10.0))
    meta = ["paillier", pk.fingerprint, int(vec.frac_bits), 10, 0]
    meta[field] = value
    record = msgpack.ExtType(2, msgpack.packb(meta))
    tree = msgpack.packb(record)
    data = vec.to_bytes()
    body = struct.pack("<IQI", 1, len(data), len(tree)) + tree + data
    with pytest.raises(MessageError):
        decode(bytearray(body), ring, pk.fingerprint)


def test_one_buffer_cannot_back_two_ciphertext_vectors(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    ring = Keyring()
    ring.add(pk)
    vec = pk.encrypt(np.arange(3.0))
    record = msgpack.ExtType(2, msgpack.packb(["paillier", pk.fingerprint, int(vec.frac_bits), 3, 0]))
    tree = msgpack.packb([record, record])
    data = vec.to_bytes()
    body = struct.pack("<IQI", 1, len(data), len(tree)) + tree + data
    with pytest.raises(MessageError, match="twice"):
        decode(bytearray(body), ring, pk.fingerprint)
