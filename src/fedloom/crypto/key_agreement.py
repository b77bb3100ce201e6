"""Pairwise key agreement and a seeded mask generator, for secure aggregation.

Two parties agree on a 32-byte seed without a third party learning it:

1. each generates an X25519 key pair (:func:`generate_keypair`, RFC 7748, OpenSSL through
   ``cryptography``) and publishes the 32-byte public key;
2. each computes the X25519 shared secret ``DH(sk_a, pk_b) == DH(sk_b, pk_a)`` and expands it
   with HKDF-SHA256 (RFC 5869) into a seed, with ``info`` binding the seed to its use (the
   protocol name, the job and the two parties in a fixed order), so the same key pair never yields
   the same seed in two contexts (:func:`derive_seed`).

:func:`mask_vector` turns ``(seed, stream)`` into a vector of uniformly random ``uint64`` (the ring
Z_{2^64}): the ChaCha20 keystream (RFC 8439 block function, 256-bit key = the seed, 96-bit nonce =
the 12-byte ``stream`` id, block counter from 0) read as little-endian 64-bit words. ChaCha20 is
a PRF under its key, so distinct streams of one seed are independent and each looks uniform to
anyone without the seed. One stream may be at most 2^32 blocks (256 GiB) long, far beyond any model.
The keystream is produced by OpenSSL in chunks and viewed by numpy; no Python loop per element.

Security notes: X25519 public keys are 32 raw bytes; a public key that yields the all-zero shared
secret (a small-order point) is refused by OpenSSL and reported as :class:`CryptoError`. Private
keys never leave their party and are generated from the OS CSPRNG afresh per session.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedloom.core.errors import CryptoError

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SEED_BYTES",
    "STREAM_BYTES",
    "KeyPair",
    "derive_seed",
    "generate_keypair",
    "mask_vector",
    "stream_id",
]

#: Length of an X25519 public key on the wire.
PUBLIC_KEY_BYTES = 32
#: Length of a pairwise seed (a ChaCha20 key).
SEED_BYTES = 32
#: Length of a stream id (a ChaCha20 nonce).
STREAM_BYTES = 12
#: Keystream bytes produced per OpenSSL call (bounds the temporary memory of long vectors).
_CHUNK_BYTES = 1 << 23


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair; only :attr:`public` may leave the party.

    Attributes
    ----------
    private
        The private key (never sent, never serialised by fedloom).
    public
        The 32-byte raw public key.
    """

    private: X25519PrivateKey = field(repr=False)
    public: bytes

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The raw X25519 shared secret with ``peer_public`` (32 bytes).

        Raises
        ------
        CryptoError
            ``peer_public`` is not 32 bytes, or is a small-order point (all-zero secret).
        """
        if not isinstance(peer_public, bytes | bytearray) or len(peer_public) != PUBLIC_KEY_BYTES:
            size = len(peer_public) if isinstance(peer_public, bytes | bytearray) else type(peer_public)
            raise CryptoError(f"an X25519 public key is {PUBLIC_KEY_BYTES} bytes. Got {size}.")
        if bytes(peer_public) == self.public:
            raise CryptoError("the peer's public key equals this party's own: a reflected key is refused")
        try:
            return self.private.exchange(X25519PublicKey.from_public_bytes(bytes(peer_public)))
        except ValueError as err:  # OpenSSL refuses small-order points (all-zero shared secret)
            raise CryptoError(f"X25519 key agreement failed: {err}") from err


def generate_keypair() -> KeyPair:
    """A fresh X25519 key pair from the OS CSPRNG."""
    private = X25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyPair(private, public)


def derive_seed(keypair: KeyPair, peer_public: bytes, info: bytes) -> bytes:
    """The pairwise seed: ``HKDF-SHA256(ikm=DH(sk, pk_peer), salt=None, info=info)``, 32 bytes.

    Both parties get the same seed if they pass the same ``info``; put every value that scopes the
    seed into it (protocol and version, job id, both party names in a canonical order).
    """
    secret = keypair.shared_secret(peer_public)
    return HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=None, info=info).derive(secret)


def stream_id(*counters: int) -> bytes:
    """A 12-byte stream id (ChaCha20 nonce) from up to three unsigned 32-bit counters
    (e.g. ``stream_id(round, tag)``); each must be in ``[0, 2^32)``."""
    if len(counters) > 3:
        raise CryptoError(f"a stream id holds at most 3 counters. Got {len(counters)}.")
    values = [*counters, *([0] * (3 - len(counters)))]
    if any(not 0 <= int(c) < 1 << 32 for c in values):
        raise CryptoError(f"stream counters must be in [0, 2^32). Got {counters}.")
    return struct.pack("<III", *(int(c) for c in values))


def mask_vector(seed: bytes, n: int, stream: bytes, out: np.ndarray | None = None) -> np.ndarray:
    """``n`` pseudo-random ``uint64`` words: the ChaCha20 keystream of ``(seed, stream)``.

    Parameters
    ----------
    seed
        32-byte key (from :func:`derive_seed`).
    n
        Number of words.
    stream
        12-byte stream id (:func:`stream_id`); never reuse one with the same seed for two values.
    out
        Optional ``uint64`` array of length ``n`` to fill (avoids an allocation).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` ``uint64``, uniform over Z_{2^64} to anyone without the seed.
    """
    if len(seed) != SEED_BYTES:
        raise CryptoError(f"a mask seed is {SEED_BYTES} bytes. Got {len(seed)}.")
    if len(stream) != STREAM_BYTES:
        raise CryptoError(f"a stream id is {STREAM_BYTES} bytes. Got {len(stream)}.")
    if n < 0 or n * 8 > (1 << 32) * 64:
        raise CryptoError(f"a mask stream holds 0 to 2^35 words. Got {n}.")
    if out is None:
        out = np.empty(n, dtype=np.uint64)
    elif out.dtype != np.uint64 or out.shape != (n,):
        raise CryptoError(f"out must be a ({n},) uint64 array. Got {out.dtype} {out.shape}.")
    # cryptography's ChaCha20 nonce is 16 bytes: a 4-byte little-endian block counter, then the
    # 12-byte RFC 8439 nonce.
    enc = Cipher(algorithms.ChaCha20(bytes(seed), b"\x00\x00\x00\x00" + bytes(stream)), mode=None).encryptor()
    view = out.view(np.uint8)
    total = n * 8
    zeros = bytes(min(_CHUNK_BYTES, total))
    for start in range(0, total, _CHUNK_BYTES):
        size = min(_CHUNK_BYTES, total - start)
        view[start : start + size] = np.frombuffer(enc.update(zeros[:size]), dtype=np.uint8)
    if not np.little_endian:  # pragma: no cover - big-endian hosts
        out.byteswap(inplace=True)
    return out
