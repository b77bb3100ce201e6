"""Commutative scalar multiplication for ECDH private set intersection, batched in C (libsodium, OpenSSL).

Two groups are offered; both give ``a·(b·H(x)) == b·(a·H(x))``, which is all PSI needs:

``curve25519`` (default, the name FATE's ``ecdh_params.curve`` uses)
    X25519 (RFC 7748; OpenSSL's through ``cryptography``, equal to libsodium's
    ``crypto_scalarmult``): a Montgomery ladder on the u-coordinate.
    ``H(x)`` is a domain-separated hash of the id read as a u-coordinate (top bit cleared), so it
    lies on curve25519 or on its quadratic twist. Both have a large prime-order subgroup
    (orders 8·ℓ and 4·ℓ' with ℓ ≈ 2^252, ℓ' ≈ 2^253: curve25519 is twist-secure by design) and
    the clamped scalar (a multiple of 8) removes the small cofactor part, so the decisional
    Diffie-Hellman assumption on those subgroups is what protects the ids. No one knows the
    discrete logarithm of a hashed point. The x-only encoding identifies ±P, which is harmless
    here (two ids collide only if their hashes do). About 28 µs per multiplication here.
``edwards25519``
    The prime-order subgroup of edwards25519: ``H(x)`` is Elligator 2 (``from_uniform``, cofactor
    cleared) of the hashed id; ``crypto_scalarmult_ed25519_noclamp`` checks that every input is a
    canonical point of the prime-order subgroup, so malformed peer points are refused. About
    2.3× slower than X25519 (the subgroup check costs a second scalar multiplication).

ristretto255 would be the textbook choice, but PyNaCl 1.6 exposes no ristretto255 binding; the
edwards25519 subgroup with libsodium's validation gives the same prime-order guarantees.

Ids are hashed as ``hash_method(DOMAIN ‖ len(salt) ‖ salt ‖ utf8(id))`` and widened to 32 bytes
with SHA-256 when the digest is shorter (md5, sha1, sha224). Scalars come from ``os.urandom``
(fresh per run and per peer) and never leave their party.

Every function works on whole batches: ``list[bytes]`` in, ``list[bytes]`` out, one C call per
element from a list comprehension. When :func:`fedloom.crypto.paillier.parallel.set_num_workers`
allows several threads, batches are cut into chunks that run in parallel through libsodium (which
releases the GIL); with one thread, X25519 runs through OpenSSL (a little faster per call).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl import bindings as sodium
from nacl.exceptions import RuntimeError as SodiumRuntimeError

from fedloom.core.errors import ConfigError, CryptoError, MessageError
from fedloom.crypto.hashes import check_hash, hash_constructor
from fedloom.crypto.paillier.parallel import map_list, split
from fedloom.crypto.wire import check_array as check_array

#: Bytes of one encoded point and of one scalar, for both groups.
POINT_BYTES = 32
CURVES = ("curve25519", "edwards25519")
#: Hash methods accepted for ids (FATE's list; sm3 when OpenSSL provides it).
HASH_METHODS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
DOMAIN = b"fedloom/psi/ecdh/v1\x00"
_MIN_PARALLEL = 2048


def _hasher(hash_method: str) -> tuple[Callable[..., Any], int]:
    ctor = hash_constructor(check_hash(hash_method, HASH_METHODS, "hash_method"))
    return ctor, ctor().digest_size


def hash_ids(
    ids: Sequence[str], hash_method: str = "sha256", salt: str = "", domain: bytes = DOMAIN
) -> list[bytes]:
    """Domain-separated digests of the ids' UTF-8 bytes, at least 32 bytes each.

    ``digest = hash_method(domain ‖ len(salt) as 2 bytes ‖ salt ‖ utf8(id))``; digests shorter
    than 32 bytes are widened with ``sha256(domain ‖ digest)``.
    """
    ctor, size = _hasher(hash_method)
    s = salt.encode("utf-8")
    prefix = domain + len(s).to_bytes(2, "big") + s
    digests = [ctor(prefix + x.encode("utf-8")).digest() for x in ids]
    if size < POINT_BYTES:
        sha = hashlib.sha256
        digests = [sha(domain + d).digest() for d in digests]
    return digests


def points_to_array(points: Sequence[bytes], width: int = POINT_BYTES) -> np.ndarray:
    """Pack equal-length byte strings into one ``(n, width)`` uint8 array (one wire buffer)."""
    if not points:
        return np.zeros((0, width), dtype=np.uint8)
    return np.frombuffer(b"".join(points), dtype=np.uint8).reshape(-1, width)


def array_to_points(
    arr: object, *, width: int = POINT_BYTES, count: int | None = None, what: str = "points"
) -> list[bytes]:
    """Check a received ``(n, width)`` uint8 array and split it into ``n`` byte strings."""
    buf = np.ascontiguousarray(check_array(arr, width=width, count=count, what=what)).tobytes()
    return [buf[i : i + width] for i in range(0, len(buf), width)]


# -- the two groups ----------------------------------------------------------------------------
def _x25519_hash(digests: list[bytes]) -> list[bytes]:
    # Clear the top bit: RFC 7748 ignores it anyway, clearing it makes the encoding canonical-ish
    # (values in [p, 2^255) alias 0..18, probability 2^-251).
    return [d[:31] + bytes((d[31] & 0x7F,)) for d in digests]


def _x25519_mul(scalar: bytes, points: list[bytes]) -> list[bytes]:
    # One thread: OpenSSL's X25519 (through ``cryptography``) is ~12% faster here than
    # libsodium's ref10, object creation included. Both compute RFC 7748 X25519 bit for bit.
    exchange = X25519PrivateKey.from_private_bytes(scalar).exchange
    public = X25519PublicKey.from_public_bytes
    try:
        return [exchange(public(p)) for p in points]
    except ValueError as exc:  # all-zero output: a small-order input point
        raise MessageError("a curve25519 point of small order was received", field="points") from exc


def _x25519_mul_sodium(scalar: bytes, points: list[bytes]) -> list[bytes]:
    # Several threads: libsodium through cffi releases the GIL on every call, OpenSSL through
    # ``cryptography`` does not, so chunks only run in parallel on this path.
    mul = sodium.crypto_scalarmult
    try:
        return [mul(scalar, p) for p in points]
    except SodiumRuntimeError as exc:  # all-zero output: a small-order input point
        raise MessageError("a curve25519 point of small order was received", field="points") from exc


def _ed_hash(digests: list[bytes]) -> list[bytes]:
    f = sodium.crypto_core_ed25519_from_uniform
    return [f(d[:32]) for d in digests]


def _ed_mul(scalar: bytes, points: list[bytes]) -> list[bytes]:
    mul = sodium.crypto_scalarmult_ed25519_noclamp
    try:
        return [mul(scalar, p) for p in points]
    except SodiumRuntimeError as exc:
        raise MessageError(
            "an edwards25519 point outside the prime-order subgroup was received", field="points"
        ) from exc


@dataclass
class EcdhKey:
    """One party's secret scalar for one ECDH PSI run (never sent).

    Parameters
    ----------
    curve
        ``"curve25519"`` (X25519) or ``"edwards25519"`` (prime-order subgroup).
    scalar
        32 secret bytes; drawn at random when omitted.
    """

    curve: str = "curve25519"
    scalar: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if self.curve not in CURVES:
            raise ConfigError(f"must be one of {', '.join(CURVES)}. Got {self.curve!r}.", field="curve")
        if not self.scalar:
            self.scalar = self._random_scalar()
        if len(self.scalar) != 32:
            raise CryptoError("an ECDH scalar has 32 bytes", field="scalar")

    def _random_scalar(self) -> bytes:
        if self.curve == "curve25519":
            return os.urandom(32)  # X25519 clamps: the effective scalar is 8·(2^251 + random 251 bits)
        while True:  # uniform non-zero scalar mod ℓ
            s: bytes = sodium.crypto_core_ed25519_scalar_reduce(os.urandom(64))
            if any(s):
                return s

    def hash_to_group(self, digests: list[bytes]) -> list[bytes]:
        """Map digests from :func:`hash_ids` to group elements (no secret involved)."""
        fn = _x25519_hash if self.curve == "curve25519" else _ed_hash
        return map_list(fn, digests, _MIN_PARALLEL)

    def multiply(self, points: list[bytes]) -> list[bytes]:
        """``[scalar·P for P in points]``; refuses points that are not valid group elements."""
        scalar = self.scalar
        if self.curve == "edwards25519":
            fn = _ed_mul
        elif len(split(len(points), _MIN_PARALLEL)) > 1:
            fn = _x25519_mul_sodium
        else:
            fn = _x25519_mul
        return map_list(lambda chunk: fn(scalar, chunk), points, _MIN_PARALLEL)

    def encrypt_ids(self, ids: Sequence[str], hash_method: str = "sha256", salt: str = "") -> list[bytes]:
        """``scalar·H(id)`` for every id: hash, map to the group, multiply."""
        return self.multiply(self.hash_to_group(hash_ids(ids, hash_method, salt)))
