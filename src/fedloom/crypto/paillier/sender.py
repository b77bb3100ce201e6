r"""Cheap re-randomisation of ciphertexts sent **to the key owner**: the sender's own obfuscator.

:meth:`EncryptedVector.rerandomize` multiplies each ciphertext by a uniform :math:`r^n`: exact,
but one full exponentiation (a :math:`k`-bit exponent modulo :math:`n^2`) per ciphertext.
:class:`SenderObfuscator` gives the same protection for a fraction of the cost, under the
assumption DJN's fixed-base encryption rests on; :meth:`EncryptedVector.rerandomize` takes it
as ``obfuscator=``.

Construction
------------
The **sender** (the party without the private key) draws, once per peer key and with
:mod:`secrets`:

* a main base :math:`g = r_0^n \bmod n^2`, :math:`r_0` uniform in :math:`\mathbb{Z}_n^*`;
* :math:`t` (``subset_bits``, default 256) extra bases :math:`G_j = u_j^n \bmod n^2`,
  :math:`u_j` uniform in :math:`\mathbb{Z}_n^*`.

Each re-randomisation multiplies a ciphertext by a fresh

.. math:: R = g^{b} \prod_{j=1}^{t} G_j^{s_j} \bmod n^2,

:math:`b` uniform in :math:`[0, 2^{\ell})` (``exponent_bits``, default :math:`\ell = 4\lambda`
as in :mod:`.obfuscation`) and :math:`s \in \{0, 1\}^t` uniform, both from ``os.urandom``.
Comb tables make it cheap: :math:`\lceil \ell / w \rceil` multiplications for :math:`g^b` and
:math:`t / 8` for the subset product (tables of the :math:`2^8` products of each byte's bases):
about 70 multiplications modulo :math:`n^2` instead of a :math:`k`-bit exponentiation (~15×
faster at 1024 bits). Nothing about the bases ever leaves the sender's process.

Security against the key owner
------------------------------
:math:`R` is an :math:`n`-th residue, so :math:`c \cdot R` decrypts to the same plaintext. The
key owner knows :math:`p, q`: through the isomorphism :math:`\mathbb{Z}_n^* \to N`,
:math:`r \mapsto r^n` (see :meth:`EncryptedVector.rerandomize`) it sees the randomness as an
element of :math:`\mathbb{Z}_n^* \cong \mathbb{Z}_p^* \times \mathbb{Z}_q^*` and can take discrete
logarithms in every subgroup of small enough prime-power order. Split that group as
:math:`A_S \times A_L`: :math:`A_S` the parts of order a prime :math:`\ell < 2^{40}`, :math:`A_L`
the rest.

* :math:`A_S` (where the fixed-base obfuscators of :mod:`.obfuscation` fail: the Jacobi symbol
  and the other small-order characters pass through them unchanged, and a single base never
  generates a rank-2 subgroup such as :math:`\{\pm 1\} \times \{\pm 1\}`): the map
  :math:`s \mapsto \sum_j s_j G_j` (written additively) is a universal hash family indexed by
  uniform :math:`G_j`, so by the leftover hash lemma the :math:`A_S`-component of the subset
  product is within :math:`\tfrac12 \sqrt{|A_S| / 2^t}` of uniform **even given the**
  :math:`G_j`, and independent of everything else; multiplied by anything independent it stays
  uniform. For random primes :math:`\log_2 |A_S|` is about 80 (the :math:`2^{40}`-smooth parts
  of :math:`p - 1` and :math:`q - 1`), which gives :math:`2^{-88}` per ciphertext at
  :math:`t = 256`.
* :math:`A_L`, primes :math:`2^{40} \le \ell < 2^{80}` (discrete logarithms still feasible):
  :math:`b \bmod \ell` is uniform to within :math:`2^{-240}`, so :math:`g^b` is uniform on
  the :math:`\ell`-component of :math:`\langle g \rangle`, which is the whole component unless
  :math:`g` is an :math:`\ell`-th power there (probability :math:`1/\ell \le 2^{-40}`) or the
  component has rank 2 (:math:`\ell` divides both :math:`p - 1` and :math:`q - 1`:
  :math:`\sum_{\ell \ge 2^{40}} \ell^{-2} < 2^{-40}` for random primes).
* :math:`A_L`, primes :math:`\ell \ge 2^{80}`: discrete logarithms are out of reach for the key
  owner too; that :math:`g^b` with a short :math:`b` looks like a uniform element there is the
  short-exponent assumption of Damgård–Jurik–Nielsen (2010, §4.2), with :math:`g` moreover
  unknown to the key owner.

So :math:`c \cdot R` is, to the key owner, a fresh encryption of its plaintext: the history of
:math:`c` (the key owner's own randomness raised to the sender's plaintext multipliers) is
hidden. The exact alternative stays :meth:`EncryptedVector.rerandomize` without ``obfuscator``.
Like an :class:`~.obfuscation.ObfuscatorPool`, a sender obfuscator is never serialised or shared.
"""

from __future__ import annotations

import collections
import math
import secrets
import threading
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fedloom.core.errors import ConfigError, KeyMismatchError
from fedloom.crypto.paillier import parallel
from fedloom.crypto.paillier.obfuscation import (
    MAX_TABLE_BYTES,
    ExponentSpec,
    FixedBaseTable,
    choose_window,
    exponent_bits_for,
    random_digits,
)

__all__ = ["SUBSET_BITS", "SenderObfuscator"]

#: Default number of extra bases (subset bits) per obfuscator.
SUBSET_BITS = 256
#: Bits of the subset selector consumed per table (2^8 products per table).
SUBSET_WINDOW = 8
#: Batches at least this large are split over worker threads.
PARALLEL_MIN = 256


def _random_unit(n: Any) -> Any:
    bound = int(n)
    while True:
        r = mpz(secrets.randbelow(bound - 1) + 1)
        if gmpy2.gcd(r, n) == 1:
            return r


class SenderObfuscator:
    r"""Fresh :math:`n`-th residues :math:`g^{b} \prod_j G_j^{s_j}` built by a party **without**
    the private key, for re-randomising what it sends to the key owner (module docstring).

    Parameters
    ----------
    public_key
        The key owner's :class:`~.keys.PaillierPublicKey`.
    subset_bits
        :math:`t`, the number of extra bases (a multiple of 8, at least 128).
    exponent_bits
        Length of :math:`b`: ``"short"`` (4λ), ``"djn"`` or an int (see :mod:`.obfuscation`).
    """

    def __init__(
        self, public_key: Any, subset_bits: int = SUBSET_BITS, exponent_bits: ExponentSpec = "short"
    ) -> None:
        if subset_bits < 128 or subset_bits % SUBSET_WINDOW:
            raise ConfigError(
                f"SenderObfuscator needs subset_bits >= 128, a multiple of {SUBSET_WINDOW}. "
                f"Got {subset_bits}.",
                field="subset_bits",
            )
        self.public_key = public_key
        self.n = mpz(public_key.n)
        self.nsquare = self.n * self.n
        self.subset_bits = subset_bits
        key_size = int(self.n.bit_length())
        self.exp_bits = exponent_bits_for(key_size, exponent_bits)
        entry = (int(self.nsquare.bit_length()) + 7) // 8
        self.window = choose_window(self.exp_bits, entry, MAX_TABLE_BYTES // 2)
        self._lock = threading.Lock()
        self._main: FixedBaseTable | None = None
        self._subset: list[list[Any]] | None = None
        self.used = 0
        self._ready: collections.deque[Any] = collections.deque()
        self._cond = threading.Condition()
        self._capacity = 0
        self._thread: threading.Thread | None = None

    # -- tables (built on first use, under a lock) -------------------------------------------------
    def _build(self) -> None:
        n, n2 = self.n, self.nsquare
        units = [_random_unit(n) for _ in range(self.subset_bits + 1)]
        bounds = parallel.split(len(units), 16)
        powers = parallel.run_chunks(lambda a, b: gmpy2.powmod_base_list(units[a:b], n, n2), bounds)
        residues = [v for part in powers for v in part]
        main = FixedBaseTable(residues[0], n2, self.exp_bits, self.window)
        main.tables()
        subset = []
        for g in range(self.subset_bits // SUBSET_WINDOW):
            bases = residues[1 + SUBSET_WINDOW * g : 1 + SUBSET_WINDOW * (g + 1)]
            row = [mpz(1)]
            for i, base in enumerate(bases):  # row[d | 2^i] = row[d] · G_i for d < 2^i
                row.extend(row[d] * base % n2 for d in range(1 << i))
            subset.append(row)
        self._main, self._subset = main, subset

    def precompute(self) -> None:
        """Draw the bases and build the tables now instead of at the first use."""
        if self._main is None:
            with self._lock:
                if self._main is None:
                    self._build()

    @property
    def base(self) -> Any:
        r"""The main base :math:`g` (tests and diagnostics; never send it)."""
        self.precompute()
        assert self._main is not None
        return self._main.base

    # -- obfuscators --------------------------------------------------------------------------------
    def _chunk(self, main_digits: np.ndarray, subset_digits: np.ndarray) -> list[Any]:
        assert self._main is not None and self._subset is not None
        n2 = self.nsquare
        acc = self._main.pow_digits(main_digits)
        for table, col in zip(self._subset, subset_digits.T.tolist(), strict=True):
            acc = [a * table[d] % n2 for a, d in zip(acc, col, strict=True)]
        return acc

    def start(self, capacity: int = 4096, batch: int = 64) -> SenderObfuscator:
        """Compute up to ``capacity`` factors ahead in a background thread (while this party waits
        for its peer); :meth:`draw` hands queued ones out first, each exactly once. Idempotent."""
        if self._thread is None:
            self._capacity = capacity
            self._thread = threading.Thread(
                target=self._fill, args=(batch,), name="fedloom-sender-obfuscator", daemon=True
            )
            self._thread.start()
        return self

    def _fill(self, batch: int) -> None:
        gmpy2.set_context(gmpy2.context(allow_release_gil=True))
        self.precompute()
        while True:
            with self._cond:
                while self._capacity and len(self._ready) >= self._capacity:
                    self._cond.wait()
                if not self._capacity:
                    return
            values = self._compute(batch)
            with self._cond:
                if not self._capacity:
                    return
                self._ready.extend(values)

    def close(self) -> None:
        """Stop the background thread and drop every queued factor."""
        with self._cond:
            self._capacity = 0
            self._ready.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def draw(self, count: int) -> list[Any]:
        """``count`` fresh factors :math:`R` (each exponent and selector drawn once, used once):
        queued ones first (:meth:`start`), the rest computed now."""
        if count <= 0:
            return []
        with self._cond:
            k = min(count, len(self._ready))
            out = [self._ready.popleft() for _ in range(k)]
            self._cond.notify_all()
        self.used += count
        if k < count:
            out.extend(self._compute(count - k))
        return out

    def _compute(self, count: int) -> list[Any]:
        self.precompute()
        main = random_digits(count, self.exp_bits, self.window)
        subset = random_digits(count, self.subset_bits, SUBSET_WINDOW)
        bounds = parallel.split(count, PARALLEL_MIN)
        parts = parallel.run_chunks(lambda a, b: self._chunk(main[a:b], subset[a:b]), bounds)
        return [v for part in parts for v in part]

    def apply(self, ciphertexts: list[Any]) -> list[Any]:
        """The ciphertexts times fresh factors (same plaintexts, fresh randomness)."""
        n2 = self.nsquare
        factors = self.draw(len(ciphertexts))
        return [c * f % n2 for c, f in zip(ciphertexts, factors, strict=True)]

    def check_key(self, public_key: Any) -> None:
        """Refuse (KeyMismatchError) a vector under another key."""
        if public_key != self.public_key:
            raise KeyMismatchError("the sender obfuscator belongs to another public key")

    def windows(self) -> tuple[int, int]:
        """Multiplications per factor: (main comb, subset tables)."""
        return math.ceil(self.exp_bits / self.window), self.subset_bits // SUBSET_WINDOW
