"""Packing several small integers into one plaintext: round trips, sums, capacity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fedloom.core.errors import ConfigError, CryptoError, DecryptionOverflowError
from fedloom.crypto.paillier import Packer, PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier.packing import capacity_bits

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.data())
def test_pack_unpack_round_trip(data: st.DataObject) -> None:
    slot_bits = data.draw(st.integers(1, 70))
    n_slots = data.draw(st.integers(1, 9))
    shape = data.draw(st.tuples(st.integers(1, 6), st.integers(1, 12)))
    elems = st.integers(0, 2**slot_bits - 1)
    m = data.draw(hnp.arrays(object, shape, elements=elems))
    packer = Packer(slot_bits, n_slots)
    raw = packer.pack(m)
    assert len(raw) == shape[0] * packer.plaintexts_per_row(shape[1])
    assert all(0 <= v < 2 ** (slot_bits * n_slots) for v in raw)
    assert packer.unpack(raw, shape[1]).tolist() == m.tolist()


def test_first_column_in_most_significant_slot() -> None:
    assert Packer(4, 3).pack(np.array([[1, 2, 3]])) == [(1 << 8) | (2 << 4) | 3]
    assert Packer(4, 3).pack(np.array([1, 2])) == [(1 << 8) | (2 << 4)]


@FAST
@given(st.data())
def test_packed_sums_equal_unpacked_sums(
    pk: PaillierPublicKey, sk: PaillierPrivateKey, data: st.DataObject
) -> None:
    n_rows = data.draw(st.integers(1, 30))
    n_cols = data.draw(st.integers(1, 5))
    max_value = data.draw(st.integers(1, 2**20))
    m = data.draw(hnp.arrays(np.int64, (n_rows, n_cols), elements=st.integers(0, max_value)))
    n_seg = data.draw(st.integers(1, 4))
    seg = data.draw(hnp.arrays(np.int64, n_rows, elements=st.integers(0, n_seg - 1)))
    packer = Packer.for_sums(max_value, n_rows, None, pk)
    ev = pk.encrypt_ints(packer.pack(m))
    sums = packer.unpack(sk.decrypt_packed_raw(ev.segment_sum(seg, n_seg)), n_cols)
    expect = np.zeros((n_seg, n_cols), dtype=np.int64)
    np.add.at(expect, seg, m)
    assert sums.tolist() == expect.tolist()
    total = packer.unpack(sk.decrypt_packed_raw(ev.sum()), n_cols)
    assert total.tolist() == [m.sum(axis=0).tolist()]


def test_worst_case_sum_fills_but_does_not_overflow_a_slot(
    pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:

    packer = Packer.for_sums(max_value=255, n_terms=16, n_slots=None, pk=pk)
    assert packer.slot_bits == (255 * 16).bit_length() == 12
    m = np.full((16, packer.n_slots), 255)
    total = packer.unpack(sk.decrypt_packed_raw(pk.encrypt_ints(packer.pack(m)).sum()), packer.n_slots)
    assert total.tolist() == [[255 * 16] * packer.n_slots]


def test_capacity_and_config_errors(pk: PaillierPublicKey) -> None:
    cap = capacity_bits(pk)
    assert cap >= pk.key_size - 3 and 2**cap <= int(pk.n) // 3 < 2 ** (cap + 1)
    packer = Packer.for_sums(1, 1, None, pk)
    assert packer.slot_bits == 1 and packer.n_slots == cap
    assert Packer.for_sums(1000, 1000, 5, pk).n_slots == 5
    with pytest.raises(ConfigError, match="n_slots"):
        Packer.for_sums(2**20, 2**10, 1000, pk)
    with pytest.raises(ConfigError, match="does not fit"):
        Packer.for_sums(2**2000, 1, None, pk)
    with pytest.raises(ConfigError):
        Packer.for_sums(-1, 3, None, pk)
    with pytest.raises(ConfigError):
        Packer.for_sums(1, 0, None, pk)
    with pytest.raises(ConfigError):
        Packer.for_sums(1, 1, None, None)
    with pytest.raises(ConfigError):
        Packer(0, 3)


def test_pack_rejects_bad_values() -> None:
    packer = Packer(4, 2)
    with pytest.raises(CryptoError, match=r"\[0, 15\]"):
        packer.pack(np.array([[16]]))
    with pytest.raises(CryptoError, match=r"\[0, 15\]"):
        packer.pack(np.array([[-1]]))
    with pytest.raises(CryptoError, match="integers"):
        packer.pack(np.array([[0.5]]))
    with pytest.raises(DecryptionOverflowError):
        packer.unpack([1 << 8], 2)
    with pytest.raises(CryptoError, match="multiple"):
        packer.unpack([1, 2, 3], 3)  # 2 plaintexts per row


def test_pack_encrypted(pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    packer = Packer(10, 3)
    values = np.array([5, 0, 1023, 7, 9])
    packed = packer.pack_encrypted(pk.encrypt(values))
    assert len(packed) == 2
    assert packer.unpack(sk.decrypt_packed_raw(packed), 3).tolist() == [[5, 0, 1023], [7, 9, 0]]
    with pytest.raises(CryptoError, match="frac_bits"):
        packer.pack_encrypted(pk.encrypt(np.array([0.5])))
