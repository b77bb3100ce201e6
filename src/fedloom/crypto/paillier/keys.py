r"""Paillier key pairs: generation, public-key (de)serialisation, encryption and CRT decryption.

Scheme (:math:`g = n + 1`)
--------------------------
* Keys: :math:`n = pq` with :math:`|p| = |q| = k/2`, :math:`p \ne q`, both :math:`\equiv 3 \pmod 4`
  (Blum primes, for the DJN obfuscators), :math:`\gcd(n, \varphi(n)) = 1`. Primes come from
  ``gmpy2.next_prime`` on starts drawn with :mod:`secrets`; the two top bits are set so that
  :math:`n` has exactly :math:`k` bits.
* Encryption: :math:`E(m) = (1 + m n) \cdot \rho \bmod n^2` with a fresh obfuscator
  :math:`\rho = h_s^{a}` (see :mod:`fedloom.crypto.paillier.obfuscation`). The product is
  computed as :math:`\rho + n \cdot (m \rho \bmod n)`, which is equal and cheaper.
* Decryption by CRT: :math:`m_p = L_p(c^{p-1} \bmod p^2) \cdot h_p \bmod p` with
  :math:`L_p(u) = (u - 1)/p` and :math:`h_p = L_p(g^{p-1} \bmod p^2)^{-1} \bmod p` (likewise for
  :math:`q`), then :math:`m = m_p + p \cdot ((m_q - m_p) p^{-1} \bmod q)`. Two exponentiations
  with half-size moduli and half-size exponents instead of one full one (about 3.5× faster),
  run in C over the whole batch with ``gmpy2.powmod_base_list`` (which releases the GIL).
* Homomorphism: :math:`D(E(a) \cdot E(b) \bmod n^2) = a + b \bmod n` and
  :math:`D(E(a)^k \bmod n^2) = k a \bmod n`.

What each party learns
----------------------
The public key (:math:`n`) is sent to everyone; it reveals nothing about :math:`p, q` beyond the
hardness of factoring. The private key never leaves its owner (it has no serialisation here).
Ciphertexts reveal nothing without the private key (DCR); the key owner learns every plaintext
it decrypts, which is why protocols mask values before sending them to it.

Key sizes: 2048 bits by default (112-bit security); 1024 allowed for comparison with FATE's
examples (logged as a warning, ~80-bit security); below 1024 refused.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fedloom.core.errors import ConfigError, CryptoError, KeyMismatchError
from fedloom.crypto.paillier import parallel
from fedloom.crypto.paillier.encoding import (
    DEFAULT_FRAC_BITS,
    as_vector,
    centre,
    check_frac_bits,
    decode,
    is_int_array,
    to_fixed,
    to_residues,
)
from fedloom.crypto.paillier.obfuscation import (
    PARALLEL_MIN_OBFUSCATORS,
    CRTObfuscator,
    ExponentSpec,
    Obfuscator,
    ObfuscatorPool,
    random_digits,
    security_level,
)
from fedloom.crypto.paillier.vector import EncryptedVector

log = logging.getLogger(__name__)

#: Default modulus size in bits.
DEFAULT_KEY_SIZE = 2048
MIN_KEY_SIZE = 1024
MAX_KEY_SIZE = 8192
#: Batches of at least this many ciphertexts are decrypted over several worker threads.
PARALLEL_MIN_DECRYPT = 16


def fingerprint_of(n: Any) -> str:
    """32 hex chars: the first 16 bytes of SHA-256 over ``n``'s big-endian bytes."""
    n = int(n)
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).digest()[:16].hex()


def _encrypt_with(obfuscator: Obfuscator, n: Any, nsquare: Any, residues: list[Any], pool: Any) -> list[Any]:
    """Ciphertexts ``ρ + n·(m·ρ mod n) mod n²`` of plaintexts in Z_n, one fresh ρ each."""
    count = len(residues)
    if count == 0:
        return []

    def combine(ms: list[Any], rhos: list[Any]) -> list[Any]:
        return [(r + n * (m * r % n)) % nsquare if m else r for m, r in zip(ms, rhos, strict=True)]

    if pool is not None:
        rhos = pool.take(count)
        bounds = parallel.split(count, parallel.PARALLEL_MIN_ITEMS)
        parts = parallel.run_chunks(lambda a, b: combine(residues[a:b], rhos[a:b]), bounds)
    else:
        digits = random_digits(count, obfuscator.exp_bits, obfuscator.window)
        obfuscator.table.tables()
        bounds = parallel.split(count, PARALLEL_MIN_OBFUSCATORS)
        parts = parallel.run_chunks(
            lambda a, b: combine(residues[a:b], obfuscator.from_digits(digits[a:b])), bounds
        )
    return [c for part in parts for c in part]


class PaillierPublicKey:
    r"""A Paillier public key :math:`n` (with :math:`g = n + 1`) and its encryption engine.

    Parameters
    ----------
    n
        The modulus: odd, between 1024 and 8192 bits.
    exponent_bits
        Obfuscator exponent length: ``"short"`` (4λ, default), ``"djn"`` (⌈k/2⌉) or an int.
        A local choice of this encryptor; it does not travel with the key.
    window
        Comb window for the obfuscator table (chosen automatically when omitted).

    Attributes
    ----------
    n, nsquare
        :math:`n` and :math:`n^2` (gmpy2 ``mpz``).
    key_size
        Bit length of :math:`n`.
    max_int
        :math:`\lfloor n/3 \rfloor`, the largest encodable magnitude.
    ciphertext_bytes
        Byte length of :math:`n^2`: the fixed width of one serialised ciphertext.
    fingerprint
        32 hex chars identifying the key (sha256 of :math:`n`).
    """

    def __init__(self, n: int, *, exponent_bits: ExponentSpec = "short", window: int | None = None) -> None:
        if isinstance(n, bool | float | str | bytes):
            raise CryptoError(f"a Paillier modulus must be an integer, got {type(n).__name__}")
        try:
            n = mpz(n)
        except (TypeError, ValueError) as exc:
            raise CryptoError(f"a Paillier modulus must be an integer, got {type(n).__name__}") from exc
        bits = int(n.bit_length())
        if n % 2 == 0 or not MIN_KEY_SIZE <= bits <= MAX_KEY_SIZE:
            raise CryptoError(
                f"invalid Paillier public key: n must be odd with {MIN_KEY_SIZE} to {MAX_KEY_SIZE} bits "
                f"(got {'an even' if n % 2 == 0 else 'an odd'} {bits}-bit n)"
            )
        self.n = n
        self.nsquare = n * n
        self.key_size = bits
        self.max_int = n // 3
        self.ciphertext_bytes = (int(self.nsquare.bit_length()) + 7) // 8
        self.fingerprint = fingerprint_of(n)
        self.security_bits = security_level(bits)
        self._exponent_bits: ExponentSpec = exponent_bits
        self._window = window
        self._obfuscator: Obfuscator | None = None
        self._lock = threading.Lock()

    # -- identity and serialisation ---------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and (other is self or other.n == self.n)

    def __hash__(self) -> int:
        return hash(("paillier", self.fingerprint))

    def __repr__(self) -> str:
        return f"PaillierPublicKey(key_size={self.key_size}, fingerprint={self.fingerprint})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Lets a party's own worker processes receive the key (compute layer); the obfuscator
        # base and tables are rebuilt there, never copied. Between parties keys travel as to_dict().
        return (_rebuild_public_key, (int(self.n), self._exponent_bits, self._window))

    def to_dict(self) -> dict[str, str]:
        """``{"n": "<hex>"}``: everything another party needs."""
        return {"n": format(int(self.n), "x")}

    @classmethod
    def from_dict(cls, d: Any) -> PaillierPublicKey:
        """Rebuild a public key received from another party, validating it.

        Raises
        ------
        CryptoError
            Not a dict with a hex ``n``, ``n`` even, or outside 1024–8192 bits.
        """
        if not isinstance(d, dict) or not isinstance(d.get("n"), str):
            raise CryptoError("a Paillier public key must be a dict {'n': '<hex>'}")
        text = d["n"]
        if not 0 < len(text) <= MAX_KEY_SIZE // 4 + 2:
            raise CryptoError(f"a Paillier public key's n has {len(text)} hex digits; at most 2050 allowed")
        try:
            n = int(text, 16)
        except ValueError as exc:
            raise CryptoError("a Paillier public key's n is not a hex string") from exc
        return cls(n)

    # -- encryption --------------------------------------------------------------------------------
    @property
    def obfuscator(self) -> Obfuscator:
        """This encryptor's obfuscator source (its own DJN base, created on first use)."""
        if self._obfuscator is None:
            with self._lock:
                if self._obfuscator is None:
                    self._obfuscator = Obfuscator(self.n, self._exponent_bits, self._window)
        return self._obfuscator

    def configure_obfuscation(self, exponent_bits: ExponentSpec = "short", window: int | None = None) -> None:
        """Choose the obfuscator exponent length / comb window (drops any built table)."""
        with self._lock:
            self._exponent_bits = exponent_bits
            self._window = window
            self._obfuscator = Obfuscator(self.n, exponent_bits, window)

    def precompute(self) -> None:
        """Build the fixed-base table now (otherwise done at the first encryption, ~0.1 s at 2048)."""
        self.obfuscator.precompute()

    def _check_pool(self, pool: ObfuscatorPool | None) -> None:
        if pool is not None and pool.public_key != self:
            raise KeyMismatchError("the obfuscator pool belongs to another public key")

    def encrypt(
        self, x: Any, frac_bits: int | None = None, *, pool: ObfuscatorPool | None = None
    ) -> EncryptedVector:
        """Encrypt a 1-D array (or scalar) with fresh obfuscation.

        Parameters
        ----------
        x
            Floats (fixed point, one scale for the vector) or ints (exact).
        frac_bits
            Fractional bits; default ``DEFAULT_FRAC_BITS`` (32) for floats and 0 for ints.
        pool
            Take obfuscators from this background pool instead of computing them now.
        """
        return self._encrypt(self.obfuscator, x, frac_bits, pool)

    def encrypt_ints(self, values: Any, *, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """Encrypt raw plaintexts in ``[0, n)`` (e.g. packed integers) with ``frac_bits = 0``."""
        return self._encrypt_raw(self.obfuscator, values, pool)

    def _encrypt(
        self, obf: Obfuscator, x: Any, frac_bits: int | None, pool: ObfuscatorPool | None
    ) -> EncryptedVector:
        self._check_pool(pool)
        arr = as_vector(x)
        if frac_bits is None:
            f = 0 if is_int_array(arr) else DEFAULT_FRAC_BITS
        else:
            f = check_frac_bits(frac_bits)
        residues = to_residues(to_fixed(arr, f), int(self.n))
        return EncryptedVector(self, _encrypt_with(obf, self.n, self.nsquare, residues, pool), f)

    def _encrypt_raw(self, obf: Obfuscator, values: Any, pool: ObfuscatorPool | None) -> EncryptedVector:
        self._check_pool(pool)
        vals = [int(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
        n = int(self.n)
        if any(v < 0 or v >= n for v in vals):
            raise CryptoError("encrypt_ints takes integers in [0, n)")
        return EncryptedVector(self, _encrypt_with(obf, self.n, self.nsquare, vals, pool), 0)

    def from_bytes(self, buf: bytes | bytearray | memoryview, frac_bits: int) -> EncryptedVector:
        """Shortcut for :meth:`EncryptedVector.from_bytes`."""
        return EncryptedVector.from_bytes(self, buf, frac_bits)


def _rebuild_public_key(n: int, exponent_bits: ExponentSpec, window: int | None) -> PaillierPublicKey:
    return PaillierPublicKey(n, exponent_bits=exponent_bits, window=window)


class PaillierPrivateKey:
    r"""The factors :math:`p, q` of a Paillier modulus, with CRT decryption and CRT encryption.

    Parameters
    ----------
    public_key
        The matching public key.
    p, q
        Distinct primes with ``p * q == public_key.n``.

    Notes
    -----
    Precomputed: :math:`p^2, q^2`, :math:`h_p, h_q`, :math:`p^{-1} \bmod q`. Decryption reduces each
    ciphertext mod :math:`p^2` and :math:`q^2` once and runs both exponentiation batches in C.
    The key owner's own encryptions use the CRT obfuscator (same distribution, ~1.3× faster).
    A private key has no serialised form and cannot be pickled: it never leaves its owner.
    """

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        p, q = mpz(p), mpz(q)
        if p == q or p * q != public_key.n:
            raise CryptoError("invalid Paillier private key: p and q must be distinct with p·q = n")
        if p > q:
            p, q = q, p
        self.public_key = public_key
        self.p, self.q = p, q
        self.p2, self.q2 = p * p, q * q
        self.p_1, self.q_1 = p - 1, q - 1
        g = public_key.n + 1
        self.hp = gmpy2.invert((gmpy2.powmod(g, self.p_1, self.p2) - 1) // p, p)
        self.hq = gmpy2.invert((gmpy2.powmod(g, self.q_1, self.q2) - 1) // q, q)
        self.p_inv_q = gmpy2.invert(p, q)
        self._obfuscator: CRTObfuscator | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Paillier private key cannot be serialised: it never leaves its owner")

    def __repr__(self) -> str:
        return f"PaillierPrivateKey(key_size={self.public_key.key_size}, fingerprint={self.fingerprint})"

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint."""
        return self.public_key.fingerprint

    @property
    def obfuscator(self) -> CRTObfuscator:
        """CRT obfuscator source (shares the public key's DJN base)."""
        if self._obfuscator is None:
            with self._lock:
                if self._obfuscator is None:
                    self._obfuscator = CRTObfuscator(self.public_key.obfuscator, self.p, self.q)
        return self._obfuscator

    def precompute(self) -> None:
        """Build the CRT obfuscator tables now."""
        self.obfuscator.precompute()

    def encrypt(
        self, x: Any, frac_bits: int | None = None, *, pool: ObfuscatorPool | None = None
    ) -> EncryptedVector:
        """Like :meth:`PaillierPublicKey.encrypt`, with CRT-computed obfuscators."""
        return self.public_key._encrypt(self.obfuscator, x, frac_bits, pool)

    def encrypt_ints(self, values: Any, *, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        """Like :meth:`PaillierPublicKey.encrypt_ints`, with CRT-computed obfuscators."""
        return self.public_key._encrypt_raw(self.obfuscator, values, pool)

    # -- decryption --------------------------------------------------------------------------------
    def _check(self, ev: Any) -> EncryptedVector:
        if not isinstance(ev, EncryptedVector):
            raise KeyMismatchError(f"a Paillier private key cannot decrypt a {type(ev).__name__}")
        if ev.public_key != self.public_key:
            raise KeyMismatchError(
                f"ciphertexts under key {ev.public_key.fingerprint} cannot be decrypted with key "
                f"{self.fingerprint}"
            )
        return ev

    def _residues_chunk(self, cs: list[Any]) -> list[Any]:
        p, q, p2, q2 = self.p, self.q, self.p2, self.q2
        hp, hq, p_inv_q = self.hp, self.hq, self.p_inv_q
        xp = gmpy2.powmod_base_list([c % p2 for c in cs], self.p_1, p2)
        xq = gmpy2.powmod_base_list([c % q2 for c in cs], self.q_1, q2)
        out = []
        for a, b in zip(xp, xq, strict=True):
            mp = (a - 1) // p * hp % p
            mq = (b - 1) // q * hq % q
            out.append(mp + p * ((mq - mp) * p_inv_q % q))
        return out

    def _residues(self, cs: list[Any]) -> list[Any]:
        return parallel.map_list(self._residues_chunk, cs, PARALLEL_MIN_DECRYPT)

    def decrypt_packed_raw(self, ev: EncryptedVector) -> list[int]:
        """Raw plaintexts in ``[0, n)`` (packed values: no sign, no scale)."""
        return [int(m) for m in self._residues(self._check(ev).ciphertexts)]

    def decrypt_raw(self, ev: EncryptedVector) -> list[int]:
        """Signed fixed-point integers (``value · 2^frac_bits``), overflow checked.

        Raises
        ------
        DecryptionOverflowError
            A plaintext lies in the middle third of Z_n.
        """
        return centre(self._residues(self._check(ev).ciphertexts), int(self.public_key.n))

    def decrypt(self, ev: EncryptedVector) -> np.ndarray:
        """Decrypt and decode: float64 (``frac_bits > 0``) or int64 / object ints (``frac_bits == 0``)."""
        return decode(self.decrypt_raw(ev), ev.frac_bits)


def _random_prime(bits: int) -> Any:
    """A uniform-start prime of exactly ``bits`` bits, ≡ 3 mod 4, two top bits set."""
    while True:
        start = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2))
        p = gmpy2.next_prime(start)
        if p % 4 == 3 and p.bit_length() == bits and gmpy2.is_prime(p, 50):
            return p


def generate_keypair(
    key_size: int = DEFAULT_KEY_SIZE, *, exponent_bits: ExponentSpec = "short"
) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Generate a Paillier key pair.

    Parameters
    ----------
    key_size
        Bits of :math:`n`: even, in [1024, 8192]; 2048 by default. Below 2048 a warning is logged.
    exponent_bits
        Obfuscator exponent length for this key's encryptions (see :mod:`.obfuscation`).

    Raises
    ------
    ConfigError
        ``key_size`` below 1024, above 8192 or odd.
    """
    if isinstance(key_size, bool) or not isinstance(key_size, int):
        raise ConfigError(
            f"The 'key_size' parameter of Paillier must be an int. Got {key_size!r}.", field="key_size"
        )
    if key_size < MIN_KEY_SIZE or key_size > MAX_KEY_SIZE or key_size % 2:
        raise ConfigError(
            f"The 'key_size' parameter of Paillier must be an even int in [{MIN_KEY_SIZE}, {MAX_KEY_SIZE}]. "
            f"Got {key_size}.",
            field="key_size",
        )
    if key_size < DEFAULT_KEY_SIZE:
        log.warning(
            "Paillier key of %d bits: about %d-bit security, below the 112 bits of the 2048-bit default",
            key_size,
            security_level(key_size),
        )
    half = key_size // 2
    while True:
        p = _random_prime(half)
        q = _random_prime(half)
        if p == q:
            continue
        n = p * q
        # |p - q| must not be tiny (Fermat factoring); gcd(n, φ) = 1 holds for equal-size primes.
        if n.bit_length() != key_size or (abs(p - q)).bit_length() < half - 100:
            continue
        if gmpy2.gcd(n, (p - 1) * (q - 1)) != 1:
            continue
        break
    pk = PaillierPublicKey(int(n), exponent_bits=exponent_bits)
    return pk, PaillierPrivateKey(pk, int(p), int(q))
