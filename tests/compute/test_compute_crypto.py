"""parallel_encrypt / parallel_histograms: same results as the single-process crypto functions."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from fedloom.compute import LocalExecutor, parallel_encrypt, parallel_histograms, parallel_pack
from fedloom.compute import crypto as compute_crypto
from fedloom.compute.executor import _InlineBroadcast, worker_stats
from fedloom.core.errors import CryptoError
from fedloom.crypto.paillier import (
    EncryptedVector,
    Packer,
    PaillierPrivateKey,
    PaillierPublicKey,
    PlainPrivateKey,
    PlainPublicKey,
    generate_keypair,
)
from fedloom.crypto.paillier.histogram import column_histograms

T = TypeVar("T")
R = TypeVar("R")


@pytest.fixture(scope="module")
def ex() -> Iterator[LocalExecutor]:
    with LocalExecutor(2) as executor:
        yield executor


@pytest.fixture(scope="module")
def keys() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="module")
def plain() -> tuple[PlainPublicKey, PlainPrivateKey]:
    pk = PlainPublicKey(1024)
    return pk, PlainPrivateKey(pk)


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test sizes are small; take the worker path anyway.
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_ADDITIONS", 0)


def reference_histograms(
    y: np.ndarray, bins: np.ndarray, n_bins: Sequence[int], skip: Sequence[int], rows: np.ndarray
) -> list[int]:
    """Independent reference: per column, per bin ascending (left-out bin omitted), Σ y over rows."""
    out: list[int] = []
    for j, nb in enumerate(n_bins):
        sums = [int(y[rows][bins[rows, j] == v].sum()) for v in range(nb)]
        out.extend(s for v, s in enumerate(sums) if v != skip[j])
    return out


# -- encryption ---------------------------------------------------------------------------------------


def test_parallel_encrypt_public_key_decrypts_to_the_values(
    ex: LocalExecutor, keys: tuple[PaillierPublicKey, PaillierPrivateKey]
) -> None:
    pk, sk = keys
    values = [*np.random.default_rng(1).integers(0, 2**62, 1500).tolist(), 0, int(pk.n) - 1]
    ev = parallel_encrypt(pk, values, ex)
    assert isinstance(ev, EncryptedVector) and ev.public_key == pk and ev.frac_bits == 0
    assert len(ex.last_task_cpu) == 2  # ran in the two workers
    assert sk.decrypt_packed_raw(ev) == values
    again = parallel_encrypt(pk, values, ex)
    # Fresh randomness: no ciphertext repeats, within one call or across calls.
    assert len(set(ev.ciphertexts) | set(again.ciphertexts)) == 2 * len(values)


def test_parallel_encrypt_private_key_uses_crt_in_workers(
    ex: LocalExecutor, keys: tuple[PaillierPublicKey, PaillierPrivateKey]
) -> None:
    pk, sk = keys
    values = list(range(10**6, 10**6 + 1200))
    ev = parallel_encrypt(sk, values, ex)
    assert len(ex.last_task_cpu) == 2
    assert ev.public_key == pk and sk.decrypt_packed_raw(ev) == values
    assert len(set(ev.ciphertexts)) == len(values)


class RecordingExecutor:
    """An executor that is not this party's own processes: runs inline and records the tasks."""

    n_partitions = 3
    trusted_local = False

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.broadcasts: list[Any] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        self.items.extend(items)
        return [fn(x) for x in items]

    def broadcast(self, value: Any) -> Any:
        self.broadcasts.append(value)
        return _InlineBroadcast(value)

    def release(self, handle: Any) -> None:  # pragma: no cover
        pass

    def close(self) -> None:  # pragma: no cover
        pass


def test_private_key_factors_go_only_to_trusted_local_workers(
    keys: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> None:
    pk, sk = keys
    remote = RecordingExecutor()
    values = list(range(1100))
    ev = parallel_encrypt(sk, values, remote)
    assert sk.decrypt_packed_raw(ev) == values
    assert len(remote.items) == 3
    assert remote.broadcasts == [("public", pk)]  # the public key only, no p or q; once per call


def test_parallel_encrypt_small_plain_and_invalid_inputs(
    ex: LocalExecutor,
    keys: tuple[PaillierPublicKey, PaillierPrivateKey],
    plain: tuple[PlainPublicKey, PlainPrivateKey],
) -> None:
    pk, sk = keys
    tasks = ex.stats["tasks"]
    small = parallel_encrypt(pk, [5, 6, 7], ex)  # below the threshold: inline
    assert sk.decrypt_packed_raw(small) == [5, 6, 7]
    ppk, psk = plain
    pv = parallel_encrypt(ppk, np.arange(5000), ex)  # plain cipher: inline
    assert psk.decrypt_packed_raw(pv) == list(range(5000))
    assert ex.stats["tasks"] == tasks
    for bad in ([-1] * 2000, [int(pk.n)] * 2000):
        with pytest.raises(CryptoError):
            parallel_encrypt(pk, bad, ex)
    with pytest.raises(CryptoError):
        parallel_encrypt("not a key", [1], ex)  # type: ignore[arg-type]


# -- histograms ---------------------------------------------------------------------------------------


def random_bins(rng: np.random.Generator, n: int, n_bins: Sequence[int]) -> np.ndarray:
    cols = [rng.integers(0, nb, n) for nb in n_bins]
    cols[-1][rng.random(n) < 0.9] = 0  # a sparse column (its left-out bin 0 holds most rows)
    return np.stack(cols, axis=1)


def test_plain_histograms_equal_inline_and_reference(
    ex: LocalExecutor, plain: tuple[PlainPublicKey, PlainPrivateKey], always_parallel: None
) -> None:
    ppk, psk = plain
    rng = np.random.default_rng(7)
    n, n_bins, skip = 3000, [3, 8, 5, 32, 2, 16, 6], [0, -1, 2, 31, -1, 5, 0]
    y = rng.integers(0, 2**40, n)
    bins = random_bins(rng, n, n_bins)
    enc = ppk.encrypt_ints(y)
    node = np.sort(rng.choice(n, 1700, replace=False))
    mask = rng.random(n) < 0.3
    for rows in (None, node, mask, node[:1], np.array([], dtype=np.int64)):
        idx = np.arange(n) if rows is None else (np.flatnonzero(rows) if rows.dtype == bool else rows)
        got = parallel_histograms(enc, bins, n_bins, rows, ex, skip=skip)
        inline = column_histograms(enc[idx], bins[idx], n_bins, skip)
        assert got.ciphertexts == inline.ciphertexts
        assert psk.decrypt_packed_raw(got) == reference_histograms(y, bins, n_bins, skip, idx)
    assert len(ex.last_task_cpu) == 2


def test_paillier_histograms_equal_inline_exactly_and_decrypt_to_reference(
    ex: LocalExecutor, keys: tuple[PaillierPublicKey, PaillierPrivateKey], always_parallel: None
) -> None:
    pk, sk = keys
    rng = np.random.default_rng(3)
    n, n_bins = 500, [4, 6, 3, 8, 5]
    y = rng.integers(0, 2**30, n)
    bins = random_bins(rng, n, n_bins)
    enc = pk.encrypt_ints(y)
    skip = [-1] * len(n_bins)
    for rows in (None, np.sort(rng.choice(n, 260, replace=False))):
        idx = np.arange(n) if rows is None else rows
        got = parallel_histograms(enc, bins, n_bins, rows, ex)
        assert isinstance(got, EncryptedVector) and got.public_key == pk
        assert got.ciphertexts == column_histograms(enc[idx], bins[idx], n_bins).ciphertexts
        assert sk.decrypt_packed_raw(got) == reference_histograms(y, bins, n_bins, skip, idx)


def test_tree_ciphertexts_are_shipped_once_per_tree(
    ex: LocalExecutor, plain: tuple[PlainPublicKey, PlainPrivateKey], always_parallel: None
) -> None:
    ppk, _ = plain
    rng = np.random.default_rng(11)
    n, n_bins = 2000, [8] * 6
    bins = random_bins(rng, n, n_bins)
    tree1 = ppk.encrypt_ints(rng.integers(0, 1000, n))
    before = ex.stats["broadcasts"]
    for _ in range(4):  # four nodes of one tree
        parallel_histograms(tree1, bins, n_bins, np.flatnonzero(rng.random(n) < 0.5), ex)
    assert ex.stats["broadcasts"] == before + 2  # the ciphertexts and the bins, once
    tree2 = ppk.encrypt_ints(rng.integers(0, 1000, n))
    parallel_histograms(tree2, bins.copy(), n_bins, None, ex)  # equal bins in a new array
    assert ex.stats["broadcasts"] == before + 3  # new ciphertexts only
    for s in ex.map(worker_stats, range(8)):
        assert all(count == 1 for count in s["loads"].values())  # each value loaded once


def test_long_vectors_are_cut_into_row_blocks_and_give_the_one_pass_sums_exactly(
    ex: LocalExecutor,
    keys: tuple[PaillierPublicKey, PaillierPrivateKey],
    always_parallel: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past MAX_TASK_ROWS rows a task holds one row block (its ciphertexts and bins), never the
    whole table; the blocks' partial sums added give the single pass, ciphertext for ciphertext."""
    monkeypatch.setattr(compute_crypto, "MAX_TASK_ROWS", 120)
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_ENCRYPT", 0)
    pk, sk = keys
    rng = np.random.default_rng(5)
    n, n_bins = 500, [4, 6, 3, 8, 5]  # 5 blocks of 100 rows
    y = rng.integers(0, 2**30, n)
    bins = random_bins(rng, n, n_bins)
    enc = pk.encrypt_ints(y)
    before = dict(ex.stats)
    rows = np.sort(rng.choice(n, 260, replace=False))
    # all rows; a node's rows (unsorted: sums do not depend on the order); a node in two blocks only
    for node_rows in (None, rng.permutation(rows), rows[rows < 150]):
        idx = np.arange(n) if node_rows is None else node_rows
        got = parallel_histograms(enc, bins, n_bins, node_rows, ex)
        assert got.ciphertexts == column_histograms(enc[idx], bins[idx], n_bins).ciphertexts
        assert sk.decrypt_packed_raw(got) == reference_histograms(y, bins, n_bins, [-1] * 5, idx)
    # each block's ciphertexts and bins broadcast once for the whole tree (5 + 5)
    assert ex.stats["broadcasts"] - before.get("broadcasts", 0) == 10
    assert ex.stats["tasks"] - before.get("tasks", 0) == 2 * (5 + 5 + 2)  # 2 column groups per block
    # encryption, packing: no task holds more than MAX_TASK_ROWS values either
    tasks0 = ex.stats["tasks"]
    assert sk.decrypt_packed_raw(parallel_encrypt(pk, list(range(500)), ex)) == list(range(500))
    assert ex.stats["tasks"] - tasks0 == 5


def test_histogram_small_work_runs_inline_and_bad_inputs_are_refused(
    ex: LocalExecutor, plain: tuple[PlainPublicKey, PlainPrivateKey]
) -> None:
    ppk, _ = plain
    rng = np.random.default_rng(5)
    bins = rng.integers(0, 4, (200, 3))
    enc = ppk.encrypt_ints(np.arange(200))
    tasks = ex.stats["tasks"]
    got = parallel_histograms(enc, bins, [4, 4, 4], None, ex)
    assert got.ciphertexts == column_histograms(enc, bins, [4, 4, 4]).ciphertexts
    assert ex.stats["tasks"] == tasks
    cases: list[tuple[Any, ...]] = [
        (enc, bins[:10], [4, 4, 4], None),
        (enc, bins, [4, 4, 4], np.array([0, 200])),
        (enc, bins, [4, 4, 4], np.array([-1])),
        (enc, bins, [4, 4, 4], np.ones(10, dtype=bool)),
        (enc, bins, [4, 4, 4], np.array([0.5])),
        (enc, bins, [4, 4], None),
        (enc, bins, [4, 4, 3], None),
        (list(range(200)), bins, [4, 4, 4], None),
    ]
    for args in cases:
        with pytest.raises(CryptoError):
            parallel_histograms(*args, ex)


# -- packing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1031, 1400])  # a zero-padded last group, and whole groups
def test_parallel_pack_decrypts_to_the_inline_packing(
    ex: LocalExecutor,
    keys: tuple[PaillierPublicKey, PaillierPrivateKey],
    monkeypatch: pytest.MonkeyPatch,
    n: int,
) -> None:
    pk, sk = keys
    monkeypatch.setattr(compute_crypto, "PARALLEL_MIN_PACK", 0)
    rng = np.random.default_rng(n)
    values = [int(v) for v in rng.integers(0, 2**40, size=n)]
    enc = pk.encrypt_ints(values)
    packer = Packer(48, 14)
    tasks0 = ex.stats["tasks"]
    packed = parallel_pack(packer, enc, ex)
    assert ex.stats["tasks"] - tasks0 == 2  # the worker path ran, one task per partition
    inline = packer.pack_encrypted(enc)
    assert len(packed) == len(inline) == -(-n // 14)
    assert sk.decrypt_packed_raw(packed) == sk.decrypt_packed_raw(inline)
    assert [int(v) for v in packer.unpack(sk.decrypt_packed_raw(packed), n_cols=14).ravel()[:n]] == values
    # fresh randomness: no packed ciphertext equals the deterministic Horner result
    assert not set(map(int, packed.ciphertexts)) & set(map(int, inline.ciphertexts))


def test_parallel_pack_short_or_plain_vectors_run_inline(
    ex: LocalExecutor, plain: tuple[PlainPublicKey, PlainPrivateKey]
) -> None:
    pk, sk = plain
    tasks0 = ex.stats["tasks"]
    enc = pk.encrypt_ints(list(range(3000)))
    packer = Packer(20, 10)
    assert sk.decrypt_packed_raw(parallel_pack(packer, enc, ex)) == sk.decrypt_packed_raw(
        packer.pack_encrypted(enc)
    )
    assert ex.stats["tasks"] == tasks0


def test_compute_imports_only_core_and_crypto() -> None:
    src = Path(compute_crypto.__file__).parent
    for path in src.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fedloom."):
                assert node.module.split(".")[1] in {"compute", "core", "crypto"}, (path.name, node.module)
