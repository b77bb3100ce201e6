"""Crypto primitives of PSI: commutative ECDH on both groups, RSA blind signatures, wire helpers."""

from __future__ import annotations

from collections.abc import Iterator

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core import ConfigError, MessageError
from fedloom.crypto.ecdh import EcdhKey, array_to_points, hash_ids, points_to_array
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.crypto.rsa_blind import (
    BlindingPool,
    RsaPrivateKey,
    RsaPublicKey,
    array_to_ints,
    final_hash,
    generate_key,
    hash_to_zn,
    id_parity,
    ints_to_array,
)

IDS = st.lists(st.text(max_size=12), min_size=1, max_size=8, unique=True)


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


@pytest.fixture(scope="module")
def rsa_key() -> RsaPrivateKey:
    return generate_key(1024)


# -- ECDH ------------------------------------------------------------------------------------
@pytest.mark.parametrize("curve", ["curve25519", "edwards25519"])
@settings(max_examples=25, deadline=None)
@given(ids=IDS)
def test_scalar_multiplication_commutes(curve: str, ids: list[str]) -> None:
    # Prepare
    a, b = EcdhKey(curve), EcdhKey(curve)
    points = a.hash_to_group(hash_ids(ids))
    # Execute
    ab = a.multiply(b.multiply(points))
    ba = b.multiply(a.multiply(points))
    # Assert
    assert ab == ba
    assert len(set(ab)) == len(ids)  # distinct ids stay distinct
    assert a.multiply(points) != b.multiply(points)


def test_hashing_is_deterministic_and_domain_separated() -> None:
    assert hash_ids(["a", "b"]) == hash_ids(["a", "b"])
    assert hash_ids(["a"])[0] != hash_ids(["a"], salt="s")[0]
    assert hash_ids(["a"])[0] != hash_ids(["a"], hash_method="sha512")[0][:32]
    assert all(len(d) >= 32 for d in hash_ids(["x", "é", ""], hash_method="md5"))


def test_unknown_hash_or_curve_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        hash_ids(["a"], hash_method="sha3")
    assert err.value.field == "hash_method"
    with pytest.raises(ConfigError) as err:
        EcdhKey("p256")
    assert err.value.field == "curve"


def test_invalid_peer_points_are_refused() -> None:
    small_order = bytes(32)  # u = 0: X25519 gives all zeros
    with pytest.raises(MessageError):
        EcdhKey("curve25519").multiply([small_order])
    not_in_subgroup = (1).to_bytes(32, "little")  # the identity: small order on edwards25519
    with pytest.raises(MessageError):
        EcdhKey("edwards25519").multiply([not_in_subgroup])


def test_point_arrays_round_trip_and_are_checked() -> None:
    pts = EcdhKey().encrypt_ids(["1", "2", "3"])
    arr = points_to_array(pts)
    assert arr.shape == (3, 32) and arr.dtype == np.uint8
    assert array_to_points(arr) == pts
    with pytest.raises(MessageError):
        array_to_points(arr.astype(np.int16))
    with pytest.raises(MessageError):
        array_to_points(arr, count=4)
    with pytest.raises(MessageError):
        array_to_points(np.zeros((2, 31), dtype=np.uint8))


# -- RSA -------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(ids=IDS, fraction=st.one_of(st.none(), st.floats(0.01, 1.0)))
def test_blind_signature_unblinds_to_the_plain_signature(
    rsa_key: RsaPrivateKey, ids: list[str], fraction: float | None
) -> None:
    # Prepare
    pub = rsa_key.public
    hashed = hash_to_zn(ids, pub)
    pool = BlindingPool(pub, len(ids), fraction)
    # Execute
    blinded = pool.blind(hashed)
    unblinded = pool.unblind(rsa_key.sign_ints(blinded))
    # Assert
    plain = [gmpy2.powmod(m, gmpy2.invert(pub.e, (rsa_key.p - 1) * (rsa_key.q - 1)), pub.n) for m in hashed]
    assert unblinded == plain == rsa_key.sign_ints(hashed)
    assert all(gmpy2.powmod(s, pub.e, pub.n) == m for s, m in zip(unblinded, hashed, strict=True))


def test_fresh_blinding_hides_equal_ids(rsa_key: RsaPrivateKey) -> None:
    hashed = hash_to_zn(["same", "same"], rsa_key.public)
    blinded = BlindingPool(rsa_key.public, 2).blind(hashed)
    assert blinded[0] != blinded[1]


def test_random_base_fraction_precomputes_fewer_factors(rsa_key: RsaPrivateKey) -> None:
    pool = BlindingPool(rsa_key.public, 1000, 0.1)
    assert pool.reused and len(pool._r_e) == 100
    assert set(pool.choice.tolist()) <= set(range(100))
    assert len(BlindingPool(rsa_key.public, 1000, 0.995)._r_e) == 1000  # FATE: > 0.99 means 1


def test_hash_into_zn_is_full_width_and_salted(rsa_key: RsaPrivateKey) -> None:
    pub = rsa_key.public
    values = hash_to_zn([str(i) for i in range(200)], pub)
    assert all(0 <= v < pub.n for v in values)
    assert max(v.bit_length() for v in values) > pub.bits - 8  # not a 256-bit hash
    assert hash_to_zn(["a"], pub, salt="x") != hash_to_zn(["a"], pub)
    assert hash_to_zn(["a"], pub, hash_method="sha512") != hash_to_zn(["a"], pub)


@pytest.mark.parametrize("method,size", [("sha256", 32), ("md5", 16), ("sha1", 20), ("sha512", 64)])
def test_final_hash_sizes(rsa_key: RsaPrivateKey, method: str, size: int) -> None:
    sigs = rsa_key.sign_ints(hash_to_zn(["a", "b"], rsa_key.public))
    out = final_hash(sigs, rsa_key.public, method)
    assert [len(d) for d in out] == [size, size] and out[0] != out[1]


def test_parity_split_is_key_independent_and_balanced() -> None:
    ids = [str(i) for i in range(2000)]
    parity = id_parity(ids)
    assert np.array_equal(parity, id_parity(ids))
    assert 800 < int(parity.sum()) < 1200


def test_integer_arrays_round_trip_and_are_range_checked(rsa_key: RsaPrivateKey) -> None:
    pub = rsa_key.public
    values = hash_to_zn(["a", "b", "c"], pub)
    arr = ints_to_array(values, pub.nbytes)
    assert arr.shape == (3, pub.nbytes)
    assert array_to_ints(arr, pub) == values
    too_big = ints_to_array([pub.n], pub.nbytes)
    with pytest.raises(MessageError):
        array_to_ints(too_big, pub)
    with pytest.raises(MessageError):
        array_to_ints(arr, pub, count=2)


def test_received_public_keys_are_checked() -> None:
    with pytest.raises(MessageError):
        RsaPublicKey.from_wire((3).to_bytes(1, "big"), 65537)  # far too small
    with pytest.raises(MessageError):
        RsaPublicKey.from_wire(((1 << 1023) + 1).to_bytes(128, "big"), 4)  # even exponent
    with pytest.raises(MessageError):
        RsaPublicKey.from_wire("n", 65537)
    with pytest.raises(ConfigError):
        generate_key(512)


def test_parallel_and_sequential_multiplication_agree() -> None:
    key = EcdhKey()
    points = key.hash_to_group(hash_ids([str(i) for i in range(5000)]))
    sequential = key.multiply(points)
    set_num_workers(2)  # chunks in threads, through libsodium
    assert key.multiply(points) == sequential
