"""PSI's loops on an executor (:mod:`fedloom.compute.psi`) equal the single-process loops."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from fedloom.compute import psi as compute_psi
from fedloom.compute.executor import LocalExecutor
from fedloom.core.errors import MessageError
from fedloom.crypto.ecdh import EcdhKey, hash_ids
from fedloom.crypto.modp import DhKey, group_for


@pytest.fixture(scope="module")
def ex() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as executor:
        yield executor


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test sizes are small; still cut them into several tasks.
    monkeypatch.setattr(compute_psi, "PARALLEL_MIN_IDS", 0)
    monkeypatch.setattr(compute_psi, "BLOCK_MIN", 7)


def test_blocks_cover_the_range_coarsely(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compute_psi.blocks(0, 4) == []
    assert compute_psi.blocks(100, 4) == [(0, 100)]  # below BLOCK_MIN per task: one task
    b = compute_psi.blocks(10_000, 4)
    assert b[0][0] == 0 and b[-1][1] == 10_000 and all(x[1] == y[0] for x, y in itertools.pairwise(b))
    assert len(b) == 4
    monkeypatch.setattr(compute_psi, "BLOCK_MAX", 1000)
    assert len(compute_psi.blocks(10_000, 2)) == 10  # a task never exceeds BLOCK_MAX


def test_ids_buffer_round_trip() -> None:
    ids = ["a", "", "é≈", "id-123"]
    buf, offsets = compute_psi.ids_to_buffer(ids)
    assert buf.dtype.name == "uint8" and offsets.tolist() == [0, 1, 1, 6, 12]
    assert compute_psi.buffer_to_ids(buf, offsets) == ids


@pytest.mark.parametrize("curve", ["curve25519", "edwards25519"])
def test_ecdh_on_executor_equals_one_process(ex: LocalExecutor, small_blocks: None, curve: str) -> None:
    ids = [f"user{i}" for i in range(50)]
    key = EcdhKey(curve)
    expected_points = key.hash_to_group(hash_ids(ids, "sha256", "s"))
    tasks = ex.stats["tasks"]
    points = compute_psi.ecdh_hash(curve, ids, "sha256", "s", ex)
    doubled = compute_psi.ecdh_multiply(key, points, ex)
    assert ex.stats["tasks"] - tasks >= 4  # both loops ran as several tasks
    assert points == expected_points
    assert doubled == key.multiply(expected_points)


def test_ecdh_bad_point_raises_in_the_caller(ex: LocalExecutor, small_blocks: None) -> None:
    key = EcdhKey("curve25519")
    points = key.hash_to_group(hash_ids([f"u{i}" for i in range(20)]))
    points[15] = bytes(32)  # the zero point: small order
    with pytest.raises(MessageError):
        compute_psi.ecdh_multiply(key, points, ex)


def test_dh_on_executor_equals_one_process(ex: LocalExecutor, small_blocks: None) -> None:
    group = group_for(2048)
    ids = [f"user{i}" for i in range(30)]
    key = DhKey(group)
    hashed = compute_psi.dh_hash(group, ids, "sha256", "", ex)
    assert hashed == group.hash_ids(ids, "sha256", "")
    assert compute_psi.dh_power(key, hashed, ex) == [pow(int(m), int(key._k), int(group.p)) for m in hashed]
