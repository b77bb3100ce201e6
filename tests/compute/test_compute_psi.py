"""PSI's loops on an executor (:mod:`fedloom.compute.psi`) equal the single-process loops."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from fedloom.compute import psi as compute_psi
from fedloom.compute.executor import Broadcast, LocalExecutor
from fedloom.core import GUEST, HOST
from fedloom.core.errors import MessageError
from fedloom.crypto.ecdh import EcdhKey, hash_ids
from fedloom.crypto.modp import DhKey, group_for
from fedloom.crypto.rsa_blind import RsaPrivateKey, generate_key, hash_to_zn
from fedloom.protocols.psi import RsaPsiGuest, RsaPsiHost
from fedloom.testing import run_parties


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


# -- RSA blind signatures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> RsaPrivateKey:
    return generate_key(1024)


def test_rsa_on_executor_equals_one_process(
    ex: LocalExecutor, small_blocks: None, rsa_key: RsaPrivateKey
) -> None:
    ids = [f"user{i}" for i in range(40)] + ["é≈", ""]
    expected = hash_to_zn(ids, rsa_key.public, "sha384", "s")
    tasks, broadcasts = ex.stats["tasks"], ex.stats["broadcasts"]
    hashed = compute_psi.rsa_hash(rsa_key.public, ids, "sha384", "s", ex)
    signed = compute_psi.rsa_sign(rsa_key, hashed, ex)
    assert ex.stats["tasks"] - tasks >= 4  # both loops ran as several tasks
    assert ex.stats["broadcasts"] - broadcasts == 1  # the key, once per signing call
    assert not ex._segments  # and released on return
    assert hashed == expected
    assert signed == rsa_key.sign_ints(expected)
    assert all(
        pow(int(s), rsa_key.public.e, rsa_key.public.n) == m for s, m in zip(signed, hashed, strict=True)
    )


class _ForeignExecutor:
    """An Executor of unknown provenance (not ``trusted_local``, not the party's Ray cluster)."""

    trusted_local = False

    def __init__(self, inner: LocalExecutor) -> None:
        self.inner = inner
        self.n_partitions = inner.n_partitions
        self.broadcasts = 0

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return self.inner.map(fn, items)

    def broadcast(self, value: Any) -> Broadcast[Any]:
        self.broadcasts += 1
        return self.inner.broadcast(value)

    def release(self, handle: Broadcast[Any]) -> None:
        self.inner.release(handle)

    def close(self) -> None:
        pass


def test_rsa_key_never_goes_to_an_executor_not_known_to_be_the_partys(
    ex: LocalExecutor, small_blocks: None, rsa_key: RsaPrivateKey
) -> None:
    foreign = _ForeignExecutor(ex)
    hashed = compute_psi.rsa_hash(rsa_key.public, [f"u{i}" for i in range(30)], "sha256", "", foreign)
    assert compute_psi.rsa_sign(rsa_key, hashed, foreign) == rsa_key.sign_ints(hashed)
    assert foreign.broadcasts == 0  # signed in this process


def _rsa_run(split: bool, guest_ids: list[str], host_ids: list[str]) -> tuple[list[str], list[str]]:
    settings = {"key_length": 1024, "salt": "s", "split_calculation": split}
    out = run_parties(
        {
            GUEST: lambda c: RsaPsiGuest(**settings).run(c, guest_ids),
            HOST: lambda c: RsaPsiHost(**settings).run(c, host_ids),
        },
        timeout=60,
    )
    return sorted(guest_ids[i] for i in out[GUEST].index), sorted(host_ids[i] for i in out[HOST].index)


@pytest.mark.parametrize("split", [False, True], ids=["host-key", "split"])
def test_rsa_psi_intersection_identical_on_executor(
    ex: LocalExecutor, small_blocks: None, monkeypatch: pytest.MonkeyPatch, split: bool
) -> None:
    rng = np.random.default_rng(3)
    guest_ids = [f"u{i}" for i in rng.choice(200, 60, replace=False)]
    host_ids = [f"u{i}" for i in rng.choice(200, 70, replace=False)]
    expected = sorted(set(guest_ids) & set(host_ids))
    monkeypatch.setattr(compute_psi, "default_executor", lambda: LocalExecutor(1))
    inline = _rsa_run(split, guest_ids, host_ids)
    monkeypatch.setattr(compute_psi, "default_executor", lambda: ex)
    tasks, broadcasts = ex.stats["tasks"], ex.stats["broadcasts"]
    routed = _rsa_run(split, guest_ids, host_ids)
    assert ex.stats["tasks"] - tasks >= 8  # hashing and signing ran as tasks
    assert ex.stats["broadcasts"] - broadcasts == (4 if split else 2)  # one per signing call
    assert routed == inline == (expected, expected)


@pytest.mark.parametrize(
    "bad",
    [
        lambda n, w: np.full((20, w), 0xFF, dtype=np.uint8),  # values >= n
        lambda n, w: np.zeros((20, w), dtype=np.uint8),  # zero
        lambda n, w: np.ones((20, w - 1), dtype=np.uint8),  # wrong width
        lambda n, w: np.ones((20, w), dtype=np.int64),  # wrong dtype
        lambda n, w: np.ones((n + 1, w), dtype=np.uint8),  # more values than the guest has ids
    ],
    ids=["too-large", "zero", "width", "dtype", "count"],
)
def test_rsa_malformed_blinded_matrix_raises_message_error(
    ex: LocalExecutor,
    small_blocks: None,
    monkeypatch: pytest.MonkeyPatch,
    rsa_key: RsaPrivateKey,
    bad: Callable[[int, int], np.ndarray],
) -> None:
    monkeypatch.setattr(compute_psi, "default_executor", lambda: ex)
    host = RsaPsiHost(key_length=1024)
    with pytest.raises(MessageError):
        host._sign_blinded(rsa_key, bad(20, rsa_key.public.nbytes), 20, "rsa_blinded")
