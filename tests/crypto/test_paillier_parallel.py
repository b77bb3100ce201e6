"""Worker threads: configuration, and parallel results equal to sequential ones."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fedloom.core.errors import ConfigError
from fedloom.crypto.paillier import (
    PaillierPrivateKey,
    PaillierPublicKey,
    get_num_workers,
    keys,
    obfuscation,
    parallel,
    set_num_workers,
    vector,
)


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # tiny thresholds so that small vectors take the parallel path
    monkeypatch.setattr(parallel, "PARALLEL_MIN_ITEMS", 2)
    monkeypatch.setattr(vector, "PARALLEL_MIN_POWMOD", 2)
    monkeypatch.setattr(vector, "PARALLEL_MIN_INVERT", 2)
    monkeypatch.setattr(keys, "PARALLEL_MIN_OBFUSCATORS", 2)
    monkeypatch.setattr(keys, "PARALLEL_MIN_DECRYPT", 2)
    monkeypatch.setattr(obfuscation, "PARALLEL_MIN_OBFUSCATORS", 2)
    set_num_workers(2)
    yield
    set_num_workers(1)


def test_set_num_workers_validates() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError):
            set_num_workers(bad)  # type: ignore[arg-type]
    set_num_workers(3)
    assert get_num_workers() == 3
    set_num_workers(1)
    assert get_num_workers() == 1


def test_split_chunks() -> None:
    set_num_workers(3)
    try:
        assert parallel.split(10, 2) == [(0, 4), (4, 7), (7, 10)]
        assert parallel.split(10, 100) == [(0, 10)]
    finally:
        set_num_workers(1)
    assert parallel.split(10, 2) == [(0, 10)]


def test_parallel_equals_sequential(two_workers: None, pk: PaillierPublicKey, sk: PaillierPrivateKey) -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(size=9)
    y = rng.normal(size=9)
    mat = rng.normal(size=(9, 2))
    seg = rng.integers(0, 3, size=9)
    ex, ey = pk.encrypt(x), sk.encrypt(y)
    assert parallel.split(9, 2) == [(0, 5), (5, 9)]
    results = [ex + ey, ex - y, -ex, ex * -3, ex * y, ex.dot(mat), ex.segment_sum(seg, 3), ex.sum()]
    got = [sk.decrypt_raw(r) for r in results]
    ex.obfuscate()
    set_num_workers(1)
    expect = [
        sk.decrypt_raw(r)
        for r in [ex + ey, ex - y, -ex, ex * -3, ex * y, ex.dot(mat), ex.segment_sum(seg, 3), ex.sum()]
    ]
    assert got == expect
    assert np.allclose(sk.decrypt(ex), x, atol=2**-32)
