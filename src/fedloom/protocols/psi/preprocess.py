"""Bloom-filter preprocessing before PSI (FATE's ``run_preprocess``): a prefilter, not a PSI.

The filter owner (``filter_owner``, FATE's default the guest) inserts its ids into a Bloom filter
and sends it; the other side keeps only the ids the filter may contain, and the PSI then runs on
the owner's full list and the other side's kept ids. A Bloom filter has no false negatives, so
the intersection is unchanged; the PSI's cost on the filtered side drops to the ids that match
plus about ``fpp`` of the rest.

The filter (``n`` owner ids, target false-positive rate ``fpp``)::

    m = ceil(−n·ln(fpp) / ln(2)²) bits,  k = max(1, round(m/n · ln 2)) positions per id
    d(x)  = preprocess_method(DOMAIN ‖ len(salt) ‖ preprocess_salt ‖ utf8(x))
    h(x)  = hash_method(seed ‖ d(x)): h1 = first 8 bytes, h2 = next 8 bytes (odd)
    pos_i = (h1 + i·h2) mod m,  i = 0..k−1                  (Kirsch–Mitzenmacher double hashing)

``seed`` is 16 bytes, random per run (or derived from ``random_state``, FATE's reproducibility
switch) and travels with the filter.

Message flow (before the PSI's own PSI_HELLO)::

    filter_owner guest:  guest → every host   BLOOM_FILTER_GUEST   the guest's filter
    filter_owner host:   each host → guest    BLOOM_FILTER_HOST    that host's filter; the guest
                                                                   keeps ids found in any of them

What it discloses — **much more than PSI**
------------------------------------------
The receiver holds a membership oracle for the owner's id set: it can test every id it holds,
and every id it can guess (phone numbers, short customer numbers), answered correctly except for
false positives at rate about ``fpp``. It learns for certain which of its own ids the owner does
not hold, and with confidence ``1 − fpp`` which it does, whatever ``sync_intersect_ids`` says and
before any PSI has run. The salt only helps against parties that do not know it, and both sides
know it. The owner learns the receiver's kept-id count (the PSI's id count). Use it only where
both sides may learn the intersection anyway and the id space is not secret; it is refused with
``cardinality_only`` (it would reveal which ids match).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedloom.context import Context
from fedloom.core import GUEST, ConfigError, MessageError, Role
from fedloom.crypto.hashes import check_hash, hash_constructor
from fedloom.protocols.psi.messages import BLOOM_FILTER_GUEST, BLOOM_FILTER_HOST

log = logging.getLogger(__name__)

HASH_METHODS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
DOMAIN = b"fedloom/psi/bloom/v1\x00"
#: A filter larger than this is refused on receipt (2^31 bits = 256 MiB).
MAX_BITS = 1 << 31
SEED_BYTES = 16


@dataclass(frozen=True)
class BloomFilter:
    """An ``m``-bit Bloom filter with ``k`` positions per item (double hashing, see module)."""

    m: int
    k: int
    seed: bytes
    bits: np.ndarray  # uint8 (ceil(m / 8),), bit j at bits[j >> 3] >> (j & 7)

    @staticmethod
    def size_for(n: int, fpp: float) -> tuple[int, int]:
        """``(m, k)`` for ``n`` items at false-positive rate ``fpp``."""
        n = max(int(n), 1)
        m = max(8, math.ceil(-n * math.log(fpp) / math.log(2) ** 2))
        k = max(1, round(m / n * math.log(2)))
        return m, k

    @classmethod
    def build(cls, digests: Sequence[bytes], fpp: float, hash_method: str, seed: bytes) -> BloomFilter:
        """The filter of ``digests`` (the ids' preprocess digests)."""
        m, k = cls.size_for(len(digests), fpp)
        bits = np.zeros((m + 7) // 8, dtype=np.uint8)
        pos = _positions(digests, m, k, hash_method, seed).ravel()
        np.bitwise_or.at(bits, pos >> 3, (1 << (pos & 7)).astype(np.uint8))
        return cls(m, k, seed, bits)

    def contains(self, digests: Sequence[bytes], hash_method: str) -> np.ndarray:
        """Boolean mask: may each digest be in the filter (no false negatives)."""
        if not digests:
            return np.zeros(0, dtype=bool)
        pos = _positions(digests, self.m, self.k, hash_method, self.seed)
        hit = (self.bits[pos >> 3] >> (pos & 7).astype(np.uint8)) & 1
        return np.asarray(hit.all(axis=1), dtype=bool)

    def to_message(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {"settings": settings, "m": self.m, "k": self.k, "seed": self.seed, "bits": self.bits}

    @classmethod
    def from_message(cls, msg: object, settings: dict[str, Any], what: str) -> BloomFilter:
        """Check a received filter (shape, sizes, the sender's settings) and rebuild it."""
        if not isinstance(msg, dict):
            raise MessageError(f"{what} must be a dict", field=what)
        if msg.get("settings") != settings:
            raise ConfigError(
                f"the filter owner runs the preprocessing with other settings ({msg.get('settings')!r}, "
                f"this side {settings!r}); both sides need the same intersect_preprocess_params",
                field="intersect_preprocess_params",
            )
        m, k, seed, bits = msg.get("m"), msg.get("k"), msg.get("seed"), msg.get("bits")
        if not (isinstance(m, int) and not isinstance(m, bool) and 8 <= m <= MAX_BITS):
            raise MessageError(f"{what}: m must be an int in [8, {MAX_BITS}]", field=what)
        if not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 64):
            raise MessageError(f"{what}: k must be an int in [1, 64]", field=what)
        if not (isinstance(seed, bytes) and len(seed) == SEED_BYTES):
            raise MessageError(f"{what}: seed must be {SEED_BYTES} bytes", field=what)
        if not (isinstance(bits, np.ndarray) and bits.dtype == np.uint8 and bits.shape == ((m + 7) // 8,)):
            raise MessageError(f"{what}: bits must be a uint8 array of {(m + 7) // 8} bytes", field=what)
        return cls(m, k, seed, bits)


def _positions(digests: Sequence[bytes], m: int, k: int, hash_method: str, seed: bytes) -> np.ndarray:
    """``(n, k)`` int64 bit positions ``(h1 + i·h2) mod m``."""
    ctor = hash_constructor(hash_method)
    raw = b"".join(_wide(ctor(seed + d).digest()) for d in digests)
    hh = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    h1 = hh[:, 0] % np.uint64(m)
    h2 = (hh[:, 1] | np.uint64(1)) % np.uint64(m)
    i = np.arange(k, dtype=np.uint64)
    # (h1 + i·h2) mod m without overflow: h1, h2 < m <= 2^31 and i < 64.
    return ((h1[:, None] + i[None, :] * h2[:, None]) % np.uint64(m)).astype(np.int64)


def _wide(digest: bytes) -> bytes:
    """At least 16 bytes (md5 is exactly 16; all others longer)."""
    return digest[:16]


@dataclass(frozen=True, kw_only=True)
class BloomPrefilter:
    """Settings of the preprocessing step (FATE's ``intersect_preprocess_params``).

    Parameters
    ----------
    false_positive_rate
        Target false-positive rate of the filter, in (0, 0.5].
    preprocess_method
        Hash of ``salt ‖ id`` before insertion (md5 ... sm3).
    hash_method
        Hash deriving the k bit positions.
    preprocess_salt
        Salt mixed into every id (both sides must agree).
    random_state
        None (a fresh seed per run) or an int seeding the filter's hash seed (FATE: reproducible).
    filter_owner
        ``"guest"`` (FATE's default) or ``"host"``: who builds and sends the filter.
    """

    false_positive_rate: float = 1e-3
    preprocess_method: str = "sha256"
    hash_method: str = "sha256"
    preprocess_salt: str = ""
    random_state: int | None = None
    filter_owner: str = "guest"

    def describe(self) -> str:
        """What both sides must agree on, for the PSI hello (the salt as its digest)."""
        salt = hashlib.sha256(self.preprocess_salt.encode("utf-8")).hexdigest()[:16]
        return (
            f"bloom(owner={self.filter_owner}, fpp={self.false_positive_rate!r}, "
            f"preprocess_method={self.preprocess_method}, hash_method={self.hash_method}, salt={salt})"
        )

    def _settings(self) -> dict[str, Any]:
        return {"describe": self.describe()}

    def _digests(self, ids: Sequence[str]) -> list[bytes]:
        name = check_hash(self.preprocess_method, HASH_METHODS, "preprocess_method")
        ctor = hash_constructor(name)
        s = self.preprocess_salt.encode("utf-8")
        prefix = DOMAIN + len(s).to_bytes(2, "big") + s
        return [ctor(prefix + x.encode("utf-8")).digest() for x in ids]

    def _seed(self) -> bytes:
        if self.random_state is None:
            return secrets.token_bytes(SEED_BYTES)
        return random.Random(self.random_state).randbytes(SEED_BYTES)

    def run(self, ctx: Context, ids: Sequence[str]) -> np.ndarray:
        """Run this party's side; returns the positions (ascending) of the ids to run PSI on.

        The owner sends its filter and keeps every id; the other side keeps the ids the
        filter(s) may contain (the guest: those in any host's filter).
        """
        hash_method = check_hash(self.hash_method, HASH_METHODS, "hash_method")
        owner = Role.GUEST if self.filter_owner == "guest" else Role.HOST
        channel = BLOOM_FILTER_GUEST if owner == GUEST else BLOOM_FILTER_HOST
        digests = self._digests(ids)
        if ctx.role == owner:
            bloom = BloomFilter.build(digests, self.false_positive_rate, hash_method, self._seed())
            ctx.send(channel, bloom.to_message(self._settings()))
            log.debug("bloom prefilter: sent a filter of %d ids (%d bits, k=%d)", len(ids), bloom.m, bloom.k)
            return np.arange(len(ids), dtype=np.int64)
        peers = ctx.hosts if ctx.role == GUEST else [None]
        keep = np.zeros(len(ids), dtype=bool)
        for peer in peers:
            msg = ctx.recv(channel) if peer is None else ctx.recv(channel, frm=peer)
            try:
                bloom = BloomFilter.from_message(msg, self._settings(), channel.name)
            except (ConfigError, MessageError) as exc:
                raise type(exc)(exc.message, party=str(ctx.party), field=exc.field) from None
            keep |= bloom.contains(digests, hash_method)
        kept = np.flatnonzero(keep).astype(np.int64)
        log.debug("bloom prefilter: %d of %d ids may match", len(kept), len(ids))
        return kept
