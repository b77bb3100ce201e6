"""Multi-column encrypted histograms: every (column, bin) sum equals numpy's, blocks or not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core.errors import CryptoError
from fedloom.crypto.paillier import generate_keypair
from fedloom.crypto.paillier.histogram import Block, column_histograms, plan_blocks
from fedloom.crypto.paillier.plain import generate_keypair as plain_keypair


def expected(y: np.ndarray, bins: np.ndarray, n_bins: list[int], skip: list[int]) -> list[int]:
    return [
        int(y[bins[:, j] == v].sum()) for j in range(bins.shape[1]) for v in range(n_bins[j]) if v != skip[j]
    ]


@pytest.fixture(scope="module")
def paillier() -> tuple:
    return generate_keypair(1024)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 60),
    n_bins=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    use_skip=st.booleans(),
)
def test_plain_histograms_equal_numpy(rows: int, n_bins: list[int], seed: int, use_skip: bool) -> None:
    rng = np.random.default_rng(seed)
    pk, sk = plain_keypair(1024)
    y = rng.integers(0, 1000, rows)
    # skewed bins so that some columns are "sparse" (one bin holds most rows)
    bins = np.column_stack(
        [
            np.where(rng.random(rows) < 0.7, 0, rng.integers(0, b, rows)) if b > 1 else np.zeros(rows, int)
            for b in n_bins
        ]
    ).reshape(rows, len(n_bins))
    skip = [int(rng.integers(-1, b)) for b in n_bins] if use_skip else [-1] * len(n_bins)
    got = sk.decrypt_packed_raw(column_histograms(pk.encrypt_ints(y), bins, n_bins, skip))
    assert got == expected(y, bins, n_bins, skip)


def test_paillier_histograms_blocks_and_singles_agree(paillier: tuple) -> None:
    _pk, sk = paillier
    rng = np.random.default_rng(7)
    rows, n_bins = 400, [10, 10, 10, 4, 10, 2]
    y = rng.integers(0, 2, rows)
    bins = np.column_stack([rng.integers(0, b, rows) for b in n_bins])
    bins[rng.random(rows) < 0.9, 5] = 1  # sparse column: its frequent bin is left out
    skip = [int(np.bincount(bins[:, j]).argmax()) for j in range(len(n_bins))]
    enc = sk.encrypt_ints(y)
    blocks = plan_blocks(bins, n_bins, skip)
    assert sorted(c for b in blocks for c in b.columns) == list(range(len(n_bins)))
    assert any(len(b.columns) > 1 for b in blocks)  # columns share their additions
    assert (5,) in [b.columns for b in blocks]  # the sparse column is summed alone
    singles = [Block((j,), 0) for j in range(len(n_bins))]
    a = column_histograms(enc, bins, n_bins, skip, blocks)
    b = column_histograms(enc, bins, n_bins, skip, singles)
    assert sk.decrypt_packed_raw(a) == sk.decrypt_packed_raw(b) == expected(y, bins, n_bins, skip)
    assert sum(blk.additions for blk in blocks) < int((bins != np.asarray(skip)).sum())


def test_empty_bin_is_an_encryption_of_zero(paillier: tuple) -> None:
    _pk, sk = paillier
    enc = sk.encrypt_ints([1, 1, 0])
    out = column_histograms(enc, np.array([[0], [0], [2]]), [4], None)
    assert sk.decrypt_packed_raw(out) == [2, 0, 0, 0]


@pytest.mark.parametrize(
    ("bins", "n_bins", "skip"),
    [
        (np.array([[0], [5]]), [3], None),  # index beyond the column's bins
        (np.array([[0, 0], [1, 1]]), [2], None),  # n_bins of the wrong length
        (np.array([[0], [1], [1]]), [2], None),  # rows differ from the ciphertexts
        (np.array([[0], [1]]), [2], [2]),  # skip outside the bins
        (np.array([[0.0], [1.0]]), [2], None),  # not ints
    ],
)
def test_bad_shapes_are_refused(bins: np.ndarray, n_bins: list[int], skip: list[int] | None) -> None:
    pk, _ = plain_keypair(1024)
    with pytest.raises(CryptoError):
        column_histograms(pk.encrypt_ints([1, 0]), bins, n_bins, skip)
