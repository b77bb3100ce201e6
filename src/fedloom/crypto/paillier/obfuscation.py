r"""Fresh, fast obfuscators for Paillier encryption (DJN-style fixed base).

Encryption is :math:`c = (1 + m n) \cdot \rho \bmod n^2` where :math:`\rho` is a random
:math:`n`-th residue, the *obfuscator*. Textbook Paillier draws :math:`r \in \mathbb{Z}_n^*` and
computes :math:`\rho = r^n \bmod n^2`: a full 2048-bit exponentiation modulo a 4096-bit number
(~8.6 ms here). This module makes :math:`\rho` cheap without reusing it.

Choices and their security
--------------------------
1. **Fixed base** (Damgård–Jurik–Nielsen, "A generalization of Paillier's public-key system
   with applications to electronic voting", 2010, §4.2). Once per public key the encryptor picks
   :math:`x \in \mathbb{Z}_n^*` at random and sets :math:`h = -x^2 \bmod n`,
   :math:`h_s = h^n \bmod n^2`. Each ciphertext gets :math:`\rho = h_s^{a} \bmod n^2` with a
   **fresh** random exponent :math:`a \in [0, 2^{\ell})`.

   *Assumptions.* (i) DCR: an :math:`n`-th residue is indistinguishable from a random element of
   :math:`\mathbb{Z}_{n^2}^*`, so :math:`(1+n)^m \rho` hides :math:`m` when :math:`\rho` is a
   random :math:`n`-th residue in :math:`\langle h_s \rangle`. Keys use Blum primes
   (:math:`p \equiv q \equiv 3 \pmod 4`), so :math:`-1` and :math:`h` lie in the Jacobi-symbol-1
   subgroup :math:`J_n` and :math:`\langle h \rangle` is a subgroup of :math:`J_n` of small index
   with overwhelming probability (all of :math:`J_n` when :math:`x^2` generates :math:`QR_n`);
   DJN's reduction to DCR loses only that index. (ii) Short-exponent indistinguishability:
   :math:`h_s^{a}` with a short :math:`a` is indistinguishable from :math:`h_s^{a'}` with
   :math:`a'` uniform modulo the group order. The best generic attacks on a short exponent
   (Pollard's lambda / kangaroo, baby-step giant-step) cost :math:`2^{\ell/2}` group
   operations, also for the key owner, who can add Pohlig–Hellman on the smooth part of
   :math:`p-1, q-1` but still faces :math:`2^{(\ell - s)/2}` with :math:`s` the bits of that
   smooth part (typically a few dozen for random primes).

   *Exponent length.* Default :math:`\ell = 4\lambda` with :math:`\lambda` the key's security
   level (80 bits for 1024-bit keys, 112 for 2048, 128 for 3072, 192 for 7680): the generic
   attack costs :math:`2^{2\lambda}`, twice the bits of the modulus' own security, so the
   short exponent is never the weakest link (448 bits at 2048). ``exponent_bits="djn"`` selects
   DJN's own, more conservative :math:`\ell = \lceil k/2 \rceil` (the length their paper
   analyses; more margin against short-exponent attacks, 2–3× slower); an int sets
   :math:`\ell` directly (at least :math:`2\lambda`).

   *Freshness.* Every ciphertext, and every re-randomisation, draws its own :math:`a` from the
   OS CSPRNG (``os.urandom``, one call per batch, cut into :math:`\ell`-bit exponents). Nothing
   is cached across ciphertexts except the public base. Two encryptions of one value differ
   with probability :math:`1 - 2^{-\ell}`.

   *Why* :math:`h_s` *is public.* :math:`h` and :math:`h_s` are functions of the public key and
   a random :math:`x` that carries no information about the factorisation or about any
   plaintext; anyone can sample such an element. Publishing :math:`h_s` (or sharing it between
   encryptors) reveals nothing: the secret of a ciphertext is its own :math:`a`. Each encryptor
   here simply picks its own :math:`h` the first time it encrypts under a key.

2. **Fixed-base comb** (Brickell–Gordon–McCurley–Wilson windowing). With window :math:`w` the
   table :math:`T[j][d] = h_s^{d \cdot 2^{wj}}` (:math:`\lceil \ell/w \rceil \cdot 2^w` entries,
   built lazily once per key) turns :math:`h_s^{a}` into :math:`\lceil \ell/w \rceil - 1`
   modular multiplications, one table entry per :math:`w`-bit digit of :math:`a`. Table lookups
   depend on secret digits (a cache-timing channel on a shared host); parties run on their own
   machines in the semi-honest model, and the exponent is used once.

3. **CRT for the key owner.** Whoever holds :math:`p, q` computes :math:`h_s^{a}` modulo
   :math:`p^2` and :math:`q^2` with half-size tables and recombines (Garner). Same distribution,
   same :math:`a`; only faster. The factors never leave the private key object.

4. **Computed ahead.** :class:`ObfuscatorPool` keeps a queue of :math:`h_s^{a}` values filled by
   a background thread (gmpy2 releases the GIL in that thread). Each queued value is handed out
   exactly once and lives only in this process' memory; a ciphertext's obfuscator is as secret
   as its plaintext (together they reveal it), so pools are never serialised or shared.

What each party learns: the receiver of :math:`c` learns nothing about :math:`m` without the
private key (DCR + short exponents). Results derived from received ciphertexts are re-randomised
with a fresh obfuscator before they go to another party without the key
(:meth:`EncryptedVector.obfuscate`): the new randomness :math:`h^{a + A}` hides the history
:math:`A` from it under the same short-exponent assumption. **Not from the key owner**: it
knows :math:`p, q`, so it can compute :math:`r` (an :math:`n`-th root) and every residue
character of it, and :math:`h_s^{a}` only moves :math:`r` inside :math:`\langle h \rangle`,
a subgroup of index at least 2 (all of it inside the Jacobi-symbol-1 subgroup :math:`J_n`).
Characters trivial on :math:`h` — the Jacobi symbol, and combinations of the small-order
characters mod :math:`p` and mod :math:`q` — pass through unchanged; when the history :math:`A`
is the key owner's own randomness raised to plaintext multipliers, they reveal those multipliers
modulo small primes. A ciphertext sent to the key owner for decryption is therefore
re-randomised with a uniform :math:`r^n`, :math:`r \in \mathbb{Z}_n^*`
(:meth:`EncryptedVector.rerandomize`, with the full argument), never with an obfuscator of
this module. Ciphertexts produced by other software with :math:`r` outside :math:`J_n` keep
their Jacobi symbol under :meth:`~EncryptedVector.obfuscate`.
"""

from __future__ import annotations

import collections
import math
import os
import secrets
import threading
from typing import Any, Literal

import gmpy2
import numpy as np
from gmpy2 import mpz

from fedloom.core.errors import ConfigError
from fedloom.crypto.paillier import parallel

#: Budget for one key's comb tables (all windows together).
MAX_TABLE_BYTES = 24 * 2**20
#: Largest comb window (2^w entries per digit position).
MAX_WINDOW = 9
#: Largest comb window of the key owner's half-size (mod p², q²) tables.
MAX_CRT_WINDOW = 10
#: Batches at least this large are split over worker threads.
PARALLEL_MIN_OBFUSCATORS = 256

ExponentSpec = Literal["short", "djn"] | int


def security_level(key_size: int) -> int:
    """Bits of security of a ``key_size``-bit modulus (NIST SP 800-57 table)."""
    if key_size >= 15360:
        return 256
    if key_size >= 7680:
        return 192
    if key_size >= 3072:
        return 128
    if key_size >= 2048:
        return 112
    return 80


def exponent_bits_for(key_size: int, spec: ExponentSpec = "short") -> int:
    """Length ℓ of the random exponent: ``"short"`` = 4λ, ``"djn"`` = ⌈k/2⌉, or an explicit int."""
    if spec == "short":
        return 4 * security_level(key_size)
    if spec == "djn":
        return (key_size + 1) // 2
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 2 * security_level(key_size) <= spec <= key_size:
            raise ConfigError(
                f"The 'exponent_bits' parameter of Paillier must be in [2λ, key_size] = "
                f"[{2 * security_level(key_size)}, {key_size}]. Got {spec}.",
                field="exponent_bits",
            )
        return spec
    raise ConfigError(
        f"The 'exponent_bits' parameter of Paillier must be 'short', 'djn' or an int. Got {spec!r}.",
        field="exponent_bits",
    )


def choose_window(
    exp_bits: int, entry_bytes: int, budget: int = MAX_TABLE_BYTES, max_window: int = MAX_WINDOW
) -> int:
    """Largest comb window ≤ ``max_window`` whose table fits ``budget`` bytes (at least 2)."""
    for w in range(max_window, 1, -1):
        if math.ceil(exp_bits / w) * (1 << w) * entry_bytes <= budget:
            return w
    return 2


def random_digits(count: int, exp_bits: int, window: int) -> np.ndarray:
    """``count`` fresh uniform exponents in [0, 2^exp_bits), as base-2^window digits.

    One ``os.urandom`` call for the whole batch. Returns shape ``(count, ceil(exp_bits/window))``,
    least significant digit first.
    """
    nbytes = (exp_bits + 7) // 8
    n_win = math.ceil(exp_bits / window)
    raw = np.frombuffer(os.urandom(count * nbytes), dtype=np.uint8).reshape(count, nbytes)
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :exp_bits]
    padded = np.zeros((count, n_win * window), dtype=np.int64)
    padded[:, :exp_bits] = bits
    weights = np.left_shift(1, np.arange(window, dtype=np.int64))
    return padded.reshape(count, n_win, window) @ weights


def digits_to_int(digits: np.ndarray, window: int) -> int:
    """The exponent a digit row stands for (tests and diagnostics)."""
    return sum(int(d) << (window * j) for j, d in enumerate(digits.tolist()))


class FixedBaseTable:
    r"""Comb table for :math:`g^{a} \bmod m` with a fixed base and short exponents.

    ``T[j][d] = g^{d·2^{w j}} mod m``; the product of ``T[j][a_j]`` over the digits
    :math:`a_j` of :math:`a` is :math:`g^a`. Built on first use, under a lock, once.

    Parameters
    ----------
    base, modulus
        The fixed base :math:`g` and the modulus :math:`m`.
    exp_bits
        Exponents lie in :math:`[0, 2^{\text{exp\_bits}})`.
    window
        Digit width :math:`w`.
    """

    def __init__(self, base: Any, modulus: Any, exp_bits: int, window: int) -> None:
        self.base = mpz(base)
        self.modulus = mpz(modulus)
        self.exp_bits = exp_bits
        self.window = window
        self.n_windows = math.ceil(exp_bits / window)
        self._tables: list[list[Any]] | None = None
        self._lock = threading.Lock()

    def tables(self) -> list[list[Any]]:
        """The table, building it on first use."""
        if self._tables is None:
            with self._lock:
                if self._tables is None:
                    self._tables = self._build()
        return self._tables

    def _build(self) -> list[list[Any]]:
        m = self.modulus
        size = 1 << self.window
        g = self.base % m
        tables = []
        for _ in range(self.n_windows):
            row = [mpz(1), g]
            acc = g
            for _ in range(size - 2):
                acc = acc * g % m
                row.append(acc)
            tables.append(row)
            g = acc * g % m  # g^(2^w): base of the next digit position
        return tables

    def pow_digits(self, digits: np.ndarray) -> list[Any]:
        """:math:`g^{a} \\bmod m` for each row of base-2^w digits (see :func:`random_digits`)."""
        tables = self.tables()
        m = self.modulus
        if digits.shape[0] == 0:
            return []
        # One digit position at a time over all rows: list comprehensions, no per-row loop.
        columns = digits.T.tolist()
        first = tables[0]
        acc = [first[d] for d in columns[0]]
        for t, col in zip(tables[1:], columns[1:], strict=True):
            acc = [a * t[d] % m for a, d in zip(acc, col, strict=True)]
        return acc


def pick_base(n: Any) -> Any:
    """DJN's ``h = -x² mod n`` for a random unit ``x``."""
    n = mpz(n)
    while True:
        x = mpz(secrets.randbelow(int(n) - 2) + 2)
        if gmpy2.gcd(x, n) == 1:
            return (-x * x) % n


class Obfuscator:
    r"""Public-key obfuscators :math:`h_s^{a} \bmod n^2` (fresh :math:`a` each), fixed-base comb.

    Parameters
    ----------
    n
        The public modulus.
    exponent_bits
        ``"short"`` (ℓ = 4λ, default), ``"djn"`` (ℓ = ⌈k/2⌉) or an int ℓ.
    window
        Comb window; chosen from the memory budget when omitted.
    """

    def __init__(self, n: Any, exponent_bits: ExponentSpec = "short", window: int | None = None) -> None:
        self.n = mpz(n)
        self.nsquare = self.n * self.n
        key_size = int(self.n.bit_length())
        self.exp_bits = exponent_bits_for(key_size, exponent_bits)
        entry_bytes = (int(self.nsquare.bit_length()) + 7) // 8
        self.window = window or choose_window(self.exp_bits, entry_bytes)
        self.h = pick_base(self.n)
        self.hs = gmpy2.powmod(self.h, self.n, self.nsquare)
        self.table = FixedBaseTable(self.hs, self.nsquare, self.exp_bits, self.window)

    def precompute(self) -> None:
        """Build the comb table now instead of at the first encryption."""
        self.table.tables()

    def from_digits(self, digits: np.ndarray) -> list[Any]:
        """Obfuscators for given exponent digits (mod n²)."""
        return self.table.pow_digits(digits)

    def draw(self, count: int) -> list[Any]:
        """``count`` fresh obfuscators, in parallel over worker threads when the batch is large."""
        if count <= 0:
            return []
        digits = random_digits(count, self.exp_bits, self.window)
        self.table.tables()
        bounds = parallel.split(count, PARALLEL_MIN_OBFUSCATORS)
        parts = parallel.run_chunks(lambda a, b: self.from_digits(digits[a:b]), bounds)
        return [v for part in parts for v in part]


class CRTObfuscator(Obfuscator):
    r"""Key-owner obfuscators: the same :math:`h_s^{a}`, computed mod :math:`p^2`, :math:`q^2`.

    Two half-size combs and one Garner recombination
    :math:`\rho = \rho_p + p^2 \cdot ((\rho_q - \rho_p) \cdot (p^2)^{-1} \bmod q^2)`.
    Half-size entries let the tables use a wider window (up to ``MAX_CRT_WINDOW``, both tables
    within ``MAX_TABLE_BYTES``): fewer multiplications per obfuscator, same exponent.
    """

    def __init__(self, public: Obfuscator, p: Any, q: Any) -> None:
        self.n = public.n
        self.nsquare = public.nsquare
        self.exp_bits = public.exp_bits
        self.h = public.h
        self.hs = public.hs
        self.p2 = mpz(p) * mpz(p)
        self.q2 = mpz(q) * mpz(q)
        half_bytes = (int(max(self.p2, self.q2).bit_length()) + 7) // 8
        self.window = max(
            public.window,
            choose_window(self.exp_bits, half_bytes, MAX_TABLE_BYTES // 2, MAX_CRT_WINDOW),
        )
        self.p2_inv_q2 = gmpy2.invert(self.p2, self.q2)
        self.table_p = FixedBaseTable(self.hs % self.p2, self.p2, self.exp_bits, self.window)
        self.table_q = FixedBaseTable(self.hs % self.q2, self.q2, self.exp_bits, self.window)
        self.table = self.table_p  # used by Obfuscator.draw to trigger the build

    def precompute(self) -> None:
        """Build both half-size tables now."""
        self.table_p.tables()
        self.table_q.tables()

    def from_digits(self, digits: np.ndarray) -> list[Any]:
        """Obfuscators mod n² from digits, computed mod p² and q² and recombined."""
        self.table_q.tables()
        rp = self.table_p.pow_digits(digits)
        rq = self.table_q.pow_digits(digits)
        p2, q2, inv = self.p2, self.q2, self.p2_inv_q2
        return [a + p2 * ((b - a) * inv % q2) for a, b in zip(rp, rq, strict=True)]


class ObfuscatorPool:
    r"""Obfuscators computed ahead of time by a background thread.

    A queue of up to ``capacity`` fresh values :math:`h_s^{a}` is refilled in batches while the
    caller does other work; :meth:`take` hands each value out exactly once (and computes any
    shortfall inline, so a drained pool is slower, never unsafe). Use it as a context manager or
    call :meth:`close`.

    Parameters
    ----------
    key
        A :class:`PaillierPublicKey` (public path) or :class:`PaillierPrivateKey` (CRT path).
    capacity
        Values kept ready.
    batch
        Values computed per refill step.
    start
        Start the filling thread at once.

    Examples
    --------
    >>> with ObfuscatorPool(pk, capacity=4096) as pool:   # doctest: +SKIP
    ...     ev = pk.encrypt(x, pool=pool)
    """

    def __init__(self, key: Any, capacity: int = 4096, batch: int = 64, start: bool = True) -> None:
        if capacity < 1 or batch < 1:
            raise ConfigError(f"ObfuscatorPool needs capacity >= 1 and batch >= 1. Got {capacity}, {batch}.")
        self.public_key = key.public_key if hasattr(key, "public_key") else key
        self._source: Obfuscator = key.obfuscator
        self.capacity = capacity
        self.batch = batch
        self._queue: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.produced = 0
        if start:
            self.start()

    def start(self) -> ObfuscatorPool:
        """Start the filling thread (idempotent)."""
        if self._thread is None:
            self._stopped = False
            self._thread = threading.Thread(target=self._fill, name="fedloom-obfuscator-pool", daemon=True)
            self._thread.start()
        return self

    def _fill(self) -> None:
        gmpy2.set_context(gmpy2.context(allow_release_gil=True))
        self._source.precompute()
        while True:
            with self._cond:
                while not self._stopped and len(self._queue) >= self.capacity:
                    self._cond.wait()
                if self._stopped:
                    return
                want = min(self.batch, self.capacity - len(self._queue))
            digits = random_digits(want, self._source.exp_bits, self._source.window)
            values = self._source.from_digits(digits)
            with self._cond:
                if self._stopped:
                    return
                self._queue.extend(values)
                self.produced += len(values)
                self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._queue)

    def wait_ready(self, count: int, timeout: float = 60.0) -> bool:
        """Block until ``count`` values are ready (or the timeout); True when they are."""
        count = min(count, self.capacity)
        with self._cond:
            return self._cond.wait_for(lambda: len(self._queue) >= count or self._stopped, timeout)

    def take(self, count: int) -> list[Any]:
        """``count`` fresh obfuscators: queued ones first, the rest computed now."""
        with self._cond:
            k = min(count, len(self._queue))
            out = [self._queue.popleft() for _ in range(k)]
            self._cond.notify_all()
        if k < count:
            out.extend(self._source.draw(count - k))
        return out

    def close(self, wait: bool = True) -> None:
        """Stop the thread and drop every queued value.

        With ``wait=False`` the thread is not joined: it finishes its current batch in the
        background, and drops it.
        """
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            if wait:
                self._thread.join()
            self._thread = None

    def __enter__(self) -> ObfuscatorPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
