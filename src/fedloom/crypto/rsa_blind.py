"""RSA blind signatures for private set intersection: keys, CRT signing, blinding, hashing.

The algebra (``n = p·q``, ``e·d ≡ 1 mod λ(n)``)::

    H(x)       full-domain hash of an id into Z_n (MGF1-style counter expansion, then mod n)
    sign(m)    = m^d mod n, by CRT: s_p = m^(d mod p-1) mod p, s_q = m^(d mod q-1) mod q,
                 s = s_q + q·((s_p − s_q)·q⁻¹ mod p)            (≈ 3.5× faster than m^d mod n)
    blind(m)   = r^e · m mod n              with r uniform in [2, n−1], coprime to n
    sign(blind(m)) = r · m^d mod n          so unblind(y) = y · r⁻¹ mod n = sign(m)
    H_f(s)     = final_hash_method(DOMAIN_F ‖ s as k big-endian bytes), k = byte length of n

The signer sees only ``r^e·m``, uniformly distributed in Z_n* when r is (perfect blinding). With
:class:`BlindingPool` a fraction of the (r, r^e, r⁻¹) triples is precomputed and reused; see its
docstring for what that reveals.

Keys come from ``cryptography`` (OpenSSL's prime generation); the arithmetic runs on gmpy2.
Integers travel as fixed-width big-endian bytes in one ``(n, k)`` uint8 array
(:func:`ints_to_array` / :func:`array_to_ints`), never as msgpack integers (64-bit at most).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gmpy2
import numpy as np
from cryptography.hazmat.primitives.asymmetric import rsa

from fedloom.core.errors import ConfigError, CryptoError, MessageError
from fedloom.crypto.hashes import check_hash, counter_prefixes, hash_constructor
from fedloom.crypto.paillier.parallel import map_list
from fedloom.crypto.wire import check_array
from fedloom.crypto.wire import ints_to_array as ints_to_array

#: Hash methods for H (FATE's RSAParam.hash_method) and for H_f (final_hash_method).
HASH_METHODS = ("sha256", "sha384", "sha512", "sm3")
FINAL_HASH_METHODS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3")
DOMAIN_H = b"fedloom/psi/rsa/H/v1\x00"
DOMAIN_F = b"fedloom/psi/rsa/Hf/v1\x00"
MIN_KEY_BITS = 1024
MAX_KEY_BITS = 8192
PUBLIC_EXPONENT = 65537
_MIN_PARALLEL_SIGN = 64
_MIN_PARALLEL_CHEAP = 4096


# -- keys --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RsaPublicKey:
    """``(n, e)``; ``nbytes`` is the fixed width of every integer mod n on the wire."""

    n: int
    e: int

    @property
    def nbytes(self) -> int:
        return (self.n.bit_length() + 7) // 8

    @property
    def bits(self) -> int:
        return int(self.n.bit_length())

    def to_bytes(self) -> bytes:
        """``n`` big-endian, the form in which it travels."""
        return int(self.n).to_bytes(self.nbytes, "big")

    @classmethod
    def from_wire(cls, n_bytes: object, e: object) -> RsaPublicKey:
        """Rebuild and check a key received from a peer (size, parity, exponent)."""
        if not isinstance(n_bytes, bytes) or not isinstance(e, int) or isinstance(e, bool):
            raise MessageError("an RSA public key is (n: bytes, e: int)", field="public_key")
        n = int.from_bytes(n_bytes, "big")
        if not MIN_KEY_BITS <= n.bit_length() <= MAX_KEY_BITS or n % 2 == 0:
            raise MessageError(
                f"RSA modulus must be odd with {MIN_KEY_BITS}-{MAX_KEY_BITS} bits, got {n.bit_length()}",
                field="public_key",
            )
        if e < 3 or e % 2 == 0 or e.bit_length() > 64:
            raise MessageError(
                f"RSA public exponent must be odd, >= 3 and < 2^64, got {e}", field="public_key"
            )
        return cls(n, e)


@dataclass(frozen=True)
class RsaPrivateKey:
    """The signer's key with its CRT parameters (never leaves its party)."""

    public: RsaPublicKey
    p: Any = field(repr=False)
    q: Any = field(repr=False)
    dp: Any = field(repr=False)
    dq: Any = field(repr=False)
    qinv: Any = field(repr=False)

    def sign_ints(self, values: list[Any]) -> list[Any]:
        """``[m^d mod n for m in values]`` by CRT, in parallel threads (gmpy2 releases the GIL)."""
        p, q, dp, dq, qinv = self.p, self.q, self.dp, self.dq, self.qinv

        def chunk(ms: list[Any]) -> list[Any]:
            ctx = gmpy2.get_context()
            ctx.allow_release_gil = True  # harmless in the calling thread, required in workers
            powmod = gmpy2.powmod
            out = []
            for m in ms:
                sp = powmod(m, dp, p)
                sq = powmod(m, dq, q)
                out.append(sq + q * ((qinv * (sp - sq)) % p))
            return out

        return map_list(chunk, values, _MIN_PARALLEL_SIGN)


def generate_key(bits: int = 2048) -> RsaPrivateKey:
    """A fresh RSA key with ``e = 65537`` and CRT parameters (``bits`` >= 1024)."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_KEY_BITS <= bits <= MAX_KEY_BITS:
        raise ConfigError(
            f"must be an int in [{MIN_KEY_BITS}, {MAX_KEY_BITS}]. Got {bits!r}.", field="key_length"
        )
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    nums = key.private_numbers()
    p, q = gmpy2.mpz(nums.p), gmpy2.mpz(nums.q)
    public = RsaPublicKey(int(nums.public_numbers.n), int(nums.public_numbers.e))
    return RsaPrivateKey(public, p, q, gmpy2.mpz(nums.dmp1), gmpy2.mpz(nums.dmq1), gmpy2.invert(q, p))


# -- hashing -----------------------------------------------------------------------------------
def hash_to_zn(
    ids: Sequence[str], public: RsaPublicKey, hash_method: str = "sha256", salt: str = ""
) -> list[Any]:
    """Full-domain hash ``H(id)`` into Z_n: counter-mode expansion to ``nbytes + 16`` bytes, mod n.

    ``block_i = hash_method(DOMAIN_H ‖ len(salt) ‖ salt ‖ i as 4 bytes ‖ utf8(id))``; the 128 extra
    bits make the reduction mod n statistically uniform.
    """
    ctor, prefixes = counter_prefixes(hash_method, HASH_METHODS, DOMAIN_H, salt, public.nbytes)
    n = gmpy2.mpz(public.n)
    mpz = gmpy2.mpz

    def chunk(xs: list[str]) -> list[Any]:
        out = []
        for x in xs:
            raw = x.encode("utf-8")
            buf = b"".join([ctor(pre + raw).digest() for pre in prefixes])
            out.append(mpz(int.from_bytes(buf, "big")) % n)
        return out

    return map_list(chunk, list(ids), _MIN_PARALLEL_CHEAP)


def id_parity(ids: Sequence[str], hash_method: str = "sha256", salt: str = "") -> np.ndarray:
    """``H(u) % 2`` for every id, from a key-independent hash: the split of ``split_calculation``."""
    name = check_hash(hash_method, HASH_METHODS, "hash_method")
    ctor = hash_constructor(name)
    s = salt.encode("utf-8")
    prefix = b"fedloom/psi/rsa/split/v1\x00" + len(s).to_bytes(2, "big") + s
    return np.fromiter((ctor(prefix + x.encode("utf-8")).digest()[-1] & 1 for x in ids), np.uint8, len(ids))


def final_hash(signatures: list[Any], public: RsaPublicKey, final_hash_method: str = "sha256") -> list[bytes]:
    """``H_f(s)`` for every signature: the digest of its fixed-width big-endian bytes."""
    name = check_hash(final_hash_method, FINAL_HASH_METHODS, "final_hash_method")
    ctor = hash_constructor(name)
    k = public.nbytes

    def chunk(ss: list[Any]) -> list[bytes]:
        return [ctor(DOMAIN_F + s.to_bytes(k, "big")).digest() for s in ss]

    return map_list(chunk, signatures, _MIN_PARALLEL_CHEAP)


def final_hash_size(final_hash_method: str) -> int:
    """Digest size in bytes of ``final_hash_method``."""
    return int(
        hash_constructor(check_hash(final_hash_method, FINAL_HASH_METHODS, "final_hash_method"))().digest_size
    )


# -- blinding ----------------------------------------------------------------------------------
class BlindingPool:
    """Blinding factors ``(r, r^e mod n, r⁻¹ mod n)`` for one public key.

    Parameters
    ----------
    public
        The signer's public key.
    count
        How many ids will be blinded.
    random_base_fraction
        ``None``: a fresh r per id (perfect blinding). A float in (0, 1]: precompute
        ``ceil(fraction · count)`` triples (FATE's rule: values < 0.01 count as 0.01, > 0.99 as 1)
        and give each id one of them, chosen uniformly at random.

    Notes
    -----
    **What reuse reveals.** Two ids ``v1, v2`` blinded by the same r arrive at the signer as
    ``r^e·H(v1)`` and ``r^e·H(v2)``; their ratio is ``H(v1)/H(v2)``, which the signer can compare
    with ``H(c1)/H(c2)`` for candidate ids it guesses. With ``k`` triples for ``m`` ids, each id
    shares its r with about ``m/k`` others, so a signer able to enumerate the id space (phone
    numbers, short customer numbers) can confirm pairs of guessed ids, and can detect *that* two
    blinded values share an r only by such guessing. Fresh r (the default) reveals nothing.
    Reuse saves the guest one ``r^e`` (17 modular squarings) and one inversion per id.
    """

    def __init__(self, public: RsaPublicKey, count: int, random_base_fraction: float | None = None) -> None:
        self.public = public
        self.count = count
        n = gmpy2.mpz(public.n)
        if random_base_fraction is None:
            k = count
            self.reused = False
        else:
            frac = min(max(float(random_base_fraction), 0.01), 1.0)
            frac = 1.0 if frac > 0.99 else frac
            k = max(1, math.ceil(frac * count))
            self.reused = k < count
        e = gmpy2.mpz(public.e)
        rs = self._random_units(n, k)
        self._r_e = map_list(lambda ch: [gmpy2.powmod(r, e, n) for r in ch], rs, _MIN_PARALLEL_CHEAP)
        self._r_inv = map_list(lambda ch: [gmpy2.invert(r, n) for r in ch], rs, _MIN_PARALLEL_CHEAP)
        if self.reused:
            self.choice = np.fromiter((secrets.randbelow(k) for _ in range(count)), np.int64, count)
        else:
            self.choice = np.arange(count, dtype=np.int64)

    @staticmethod
    def _random_units(n: Any, k: int) -> list[Any]:
        nbits = int(n.bit_length())
        out: list[Any] = []
        mpz, randbits = gmpy2.mpz, secrets.randbits  # the OS CSPRNG, not GMP's Mersenne Twister
        while len(out) < k:
            r = mpz(randbits(nbits + 64)) % n
            if r > 1 and gmpy2.gcd(r, n) == 1:
                out.append(r)
        return out

    def blind(self, hashed: list[Any]) -> list[Any]:
        """``r_i^e · H(v_i) mod n`` for every hashed id, in order."""
        if len(hashed) != self.count:
            raise CryptoError(f"the pool was made for {self.count} ids, got {len(hashed)}")
        n = gmpy2.mpz(self.public.n)
        r_e = self._r_e
        idx = self.choice.tolist()
        return [(r_e[j] * m) % n for j, m in zip(idx, hashed, strict=True)]

    def unblind(self, signed: list[Any]) -> list[Any]:
        """``y_i · r_i⁻¹ mod n``: the plain signatures of the hashed ids, in order."""
        if len(signed) != self.count:
            raise MessageError(
                f"expected {self.count} blind signatures, got {len(signed)}", field="signatures"
            )
        n = gmpy2.mpz(self.public.n)
        r_inv = self._r_inv
        idx = self.choice.tolist()
        return [(r_inv[j] * y) % n for j, y in zip(idx, signed, strict=True)]


# -- wire form ---------------------------------------------------------------------------------
def array_to_ints(
    arr: object, public: RsaPublicKey, *, count: int | None = None, what: str = "values"
) -> list[Any]:
    """Check a received ``(n, nbytes)`` uint8 array and read each row as an integer in [1, n)."""
    width = public.nbytes
    buf = np.ascontiguousarray(check_array(arr, width=width, count=count, what=what)).tobytes()
    mpz = gmpy2.mpz
    out = [mpz(int.from_bytes(buf[i : i + width], "big")) for i in range(0, len(buf), width)]
    n = public.n
    for v in out:
        if not 0 < v < n:
            raise MessageError(f"{what}: a value lies outside [1, n)", field=what)
    return out
