"""The arbiter's encryptions of zero: made ahead in the background, fresh, handed out once."""

from __future__ import annotations

import time

import numpy as np
import pytest

from fedloom.core.errors import MessageError
from fedloom.crypto.cipher import generate_keypair
from fedloom.crypto.paillier import ObfuscatorPool
from fedloom.ml.hetero.glm import zeros as supply


@pytest.fixture(scope="module")
def keys() -> tuple[object, object]:
    return generate_keypair("paillier", 1024)


def test_zero_maker_makes_fresh_zeros_ahead_and_stops_at_the_plan(keys: tuple[object, object]) -> None:
    pk, sk = keys
    zeros = supply.ZeroMaker(sk, ahead=300)
    try:
        zeros.plan(50)  # the row count is known: no more than 50 beyond those taken
        a = zeros.take(30)
        b = zeros.take(20)
        values = a.ciphertexts + b.ciphertexts
        assert len(set(values)) == 50
        assert np.all(sk.decrypt(a) == 0) and np.all(sk.decrypt(b) == 0)
        assert a.public_key == pk and a.frac_bits == 0
        c = zeros.take(10)  # beyond the plan: made on demand
        assert len(c) == 10 and not set(c.ciphertexts) & set(values)
        assert len(zeros.take(0)) == 0
        time.sleep(0.05)
        assert zeros._produced <= 300  # never beyond what was asked for
    finally:
        zeros.close()


def test_zero_maker_splits_the_first_batch_with_a_helper(keys: tuple[object, object]) -> None:
    _, sk = keys
    zeros = supply.ZeroMaker(sk, ahead=100)
    try:
        zeros.take(100)
        since = time.perf_counter()
        share = zeros.share(1000, since)
        assert 0 <= share <= 1000
        assert zeros.share(1000, since - 3600) == min(len(zeros._queue), 1000)  # the helper is done
    finally:
        zeros.close()


def test_complete_zeros_tops_up_from_the_party_own_pool(keys: tuple[object, object]) -> None:
    pk, sk = keys
    part = sk.encrypt_ints(np.zeros(3, dtype=np.int64))
    with ObfuscatorPool(pk, capacity=8, batch=4) as own:
        full = supply.complete_zeros(part, pk, 8, own)
        assert len(full) == 8 and full.ciphertexts[:3] == part.ciphertexts
        assert np.all(sk.decrypt(full) == 0) and len(set(full.ciphertexts)) == 8
        assert supply.complete_zeros(full, pk, 8, own) is full
        with pytest.raises(MessageError, match="where 8 were expected"):
            supply.complete_zeros(sk.encrypt_ints(np.zeros(9, dtype=np.int64)), pk, 8, own)
        other, _ = generate_keypair("paillier", 1024)
        with pytest.raises(MessageError, match="another key"):
            supply.complete_zeros(part, other, 8, own)
    with pytest.raises(MessageError, match="where 8 were expected"):
        supply.complete_zeros(part, pk, 8, None)  # without a pool every zero must come from the arbiter
