"""Session-scoped keys for the crypto tests (key generation and comb tables are the slow part)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fedloom.crypto.paillier import (
    PaillierPrivateKey,
    PaillierPublicKey,
    PlainPrivateKey,
    PlainPublicKey,
    generate_keypair,
    get_num_workers,
    set_num_workers,
)
from fedloom.crypto.paillier import plain as plain_cipher


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    # Shared machines: sequential unless a test asks for workers; restored for other suites.
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


@pytest.fixture(scope="session")
def keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="session")
def pk(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPublicKey:
    return keypair[0]


@pytest.fixture(scope="session")
def sk(keypair: tuple[PaillierPublicKey, PaillierPrivateKey]) -> PaillierPrivateKey:
    return keypair[1]


@pytest.fixture(scope="session")
def other_keypair() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_keypair(1024)


@pytest.fixture(scope="session")
def plain_keypair() -> tuple[PlainPublicKey, PlainPrivateKey]:
    return plain_cipher.generate_keypair(1024)
