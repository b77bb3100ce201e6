"""Pick a cipher by name: ``"paillier"`` (default everywhere) or ``"plain"`` (debugging only).

>>> from fedloom.crypto.cipher import generate_keypair
>>> pk, sk = generate_keypair("paillier", key_size=2048)   # doctest: +SKIP

Both ciphers share one interface (:class:`PublicKey`, :class:`PrivateKey`, :class:`CipherVector`),
so algorithms never branch on the method. :func:`public_key_from_dict` rebuilds either kind of
public key from its ``to_dict()`` form (a plain key's dict carries ``"method": "plain"``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fedloom.core.errors import ConfigError, CryptoError
from fedloom.crypto.paillier import keys as _paillier
from fedloom.crypto.paillier import plain as _plain
from fedloom.crypto.paillier.keys import DEFAULT_KEY_SIZE, PaillierPrivateKey, PaillierPublicKey
from fedloom.crypto.paillier.plain import PlainPrivateKey, PlainPublicKey

log = logging.getLogger(__name__)

METHODS = ("paillier", "plain")


@runtime_checkable
class CipherVector(Protocol):
    """What :class:`EncryptedVector` and :class:`PlainVector` both offer."""

    @property
    def public_key(self) -> Any: ...
    @property
    def frac_bits(self) -> int: ...
    def __len__(self) -> int: ...
    def __getitem__(self, idx: Any) -> Any: ...
    def __add__(self, other: Any) -> Any: ...
    def __sub__(self, other: Any) -> Any: ...
    def __neg__(self) -> Any: ...
    def __mul__(self, other: Any) -> Any: ...
    def dot(self, matrix: Any, precision_bits: int = ...) -> Any: ...
    def segment_sum(self, segment_ids: Any, n_segments: int) -> Any: ...
    def sum(self) -> Any: ...
    def obfuscate(self, pool: Any = ...) -> Any: ...
    def rerandomize(self) -> Any: ...
    def to_bytes(self) -> bytes: ...


@runtime_checkable
class PublicKey(Protocol):
    """What both public keys offer."""

    key_size: int
    fingerprint: str
    ciphertext_bytes: int

    def to_dict(self) -> dict[str, Any]: ...
    def encrypt(self, x: Any, frac_bits: int | None = ..., *, pool: Any = ...) -> Any: ...
    def encrypt_ints(self, values: Any, *, pool: Any = ...) -> Any: ...
    def from_bytes(self, buf: bytes | bytearray | memoryview, frac_bits: int) -> Any: ...


@runtime_checkable
class PrivateKey(Protocol):
    """What both private keys offer."""

    @property
    def fingerprint(self) -> str: ...
    def decrypt(self, ev: Any) -> np.ndarray: ...
    def decrypt_raw(self, ev: Any) -> list[int]: ...
    def decrypt_packed_raw(self, ev: Any) -> list[int]: ...


def generate_keypair(
    method: str = "paillier", key_size: int = DEFAULT_KEY_SIZE
) -> tuple[PaillierPublicKey, PaillierPrivateKey] | tuple[PlainPublicKey, PlainPrivateKey]:
    """A key pair of the named cipher.

    Parameters
    ----------
    method
        ``"paillier"`` or ``"plain"``.
    key_size
        Modulus bits (the plain cipher uses it as its nominal size).

    Raises
    ------
    ConfigError
        Unknown method or invalid key size.
    """
    if method == "paillier":
        return _paillier.generate_keypair(key_size)
    if method == "plain":
        log.warning("using the 'plain' cipher: nothing is encrypted (debugging / cost measurement only)")
        return _plain.generate_keypair(key_size)
    raise ConfigError(
        f"The 'method' parameter of the cipher must be one of {', '.join(METHODS)}. Got {method!r}.",
        field="method",
    )


def public_key_from_dict(d: Any) -> PaillierPublicKey | PlainPublicKey:
    """Rebuild a public key of either cipher from ``to_dict()`` output (validated)."""
    if not isinstance(d, dict):
        raise CryptoError("a public key must be a dict")
    if d.get("method") == "plain":
        return PlainPublicKey.from_dict(d)
    if "method" in d and d["method"] != "paillier":
        raise CryptoError(f"unknown cipher method {d['method']!r}")
    return PaillierPublicKey.from_dict({"n": d.get("n")})


__all__ = ["METHODS", "CipherVector", "PrivateKey", "PublicKey", "generate_keypair", "public_key_from_dict"]
