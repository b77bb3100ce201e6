"""The keys and ciphertext vectors of the hetero GLM: Paillier, or the ``plain`` debugging cipher.

Both ciphers offer the same operations (:mod:`fedloom.crypto.cipher`), so the algorithm never
branches on the method; these types say which operations it relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, Self, TypeAlias

import numpy as np

from fedloom.crypto.cipher import PrivateKey
from fedloom.crypto.paillier import ObfuscatorPool, PaillierPublicKey, PlainPublicKey

#: The job's public key.
PublicKey: TypeAlias = PaillierPublicKey | PlainPublicKey


class Vector(Protocol):
    """Ciphertexts (or the plain cipher's residues) under one key, with one fixed-point scale."""

    # How a vector of the same kind is built from raw values (:func:`vector_like`).
    def __init__(self, public_key: PublicKey, values: list[int], frac_bits: int) -> None: ...
    @property
    def public_key(self) -> PublicKey: ...
    @property
    def frac_bits(self) -> int: ...
    @property
    def ciphertexts(self) -> list[int]: ...  # gmpy2 mpz for Paillier
    def __len__(self) -> int: ...
    def __getitem__(self, idx: int | slice | np.ndarray) -> Self: ...
    def __add__(self, other: Vector | np.ndarray | float) -> Self: ...
    def __sub__(self, other: Vector | np.ndarray | float) -> Self: ...
    def __mul__(self, other: np.ndarray | float) -> Self: ...
    def dot(self, matrix: np.ndarray, precision_bits: int = ...) -> Self: ...
    def sum(self) -> Self: ...
    def obfuscate(self, pool: ObfuscatorPool | None = ...) -> Self: ...
    def rerandomize(self) -> Self: ...
    @classmethod
    def concat(cls, vectors: Sequence[Self]) -> Self: ...


class KeyOwner(PrivateKey, Protocol):
    """The arbiter's private key: decrypts, and makes encryptions of zero by CRT."""

    @property
    def public_key(self) -> PublicKey: ...
    def encrypt_ints(
        self, values: np.ndarray | Sequence[int], *, pool: ObfuscatorPool | None = ...
    ) -> Vector: ...


def vector_like(template: Vector, values: list[int], frac_bits: int) -> Vector:
    """A vector of ``template``'s kind and key holding ``values`` at scale ``frac_bits``."""
    return type(template)(template.public_key, values, frac_bits)
