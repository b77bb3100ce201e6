r"""``EncryptedVector``: many Paillier ciphertexts under one key, with one fixed-point scale.

Algebra
-------
Ciphertexts live mod :math:`n^2`, plaintexts mod :math:`n`; :math:`c_a + n(x c_a \bmod n)` is
:math:`c_a (1 + x n) \bmod n^2`, computed cheaply.

=======================  ============================================  =============================
operation                ciphertext computation                        plaintext effect
=======================  ============================================  =============================
``a + b``                :math:`c_a c_b`                               :math:`a + b`
``a + x`` (plaintext)    :math:`c_a + n (x c_a \bmod n)`               :math:`a + x`
``-a``                   :math:`c_a^{-1}` (batch inversion)            :math:`-a`
``a - b``                :math:`c_a c_b^{-1}`                          :math:`a - b`
``a * k`` (int k)        :math:`c_a^{k}` or :math:`(c_a^{-1})^{|k|}`   :math:`k a`
``a * s`` (float s)      :math:`c_a^{\mathrm{round}(s 2^{23})}`        :math:`s a`, scale + 23
``a.dot(X)``             :math:`\prod_i c_i^{X_{ij}}` (bucket method)  :math:`\sum_i a_i X_{ij}`
``a.segment_sum(s, S)``  :math:`\prod_{i: s_i = j} c_i`                :math:`\sum_{i: s_i = j} a_i`
``a.sum()``              :math:`\prod_i c_i`                           :math:`\sum_i a_i`
=======================  ============================================  =============================

so that :math:`D(E(a) \cdot E(b) \bmod n^2) = a + b \bmod n` and
:math:`D(E(a)^k \bmod n^2) = k a \bmod n`.

Scales: each vector has one ``frac_bits`` :math:`f` (value :math:`= m / 2^f`). Adding vectors of
different scales first lifts the smaller one by :math:`c^{2^{\Delta f}}` (exact). Multiplying by
an int keeps :math:`f`; by a float adds ``MUL_PRECISION_BITS`` (23) — the low-precision path.

Every binary operation checks that both operands use the same key (:class:`KeyMismatchError`)
and have the same length (:class:`CryptoError` naming both).

What each party learns
----------------------
A party holding only the public key learns nothing from ciphertexts (DCR). Results computed from
received ciphertexts are deterministic functions of them (for instance :math:`c (1 + x n)` with a
plaintext :math:`x`, or the trivial encryption ``1`` of an empty segment): call
:meth:`EncryptedVector.obfuscate` before sending such a result to a party without the key, so
that its randomness no longer ties it to the inputs. Anything sent **to the key owner** for
decryption is re-randomised with :meth:`EncryptedVector.rerandomize` instead (a uniform
:math:`r^n`): the key owner can read residue characters of the randomness that a fixed-base
obfuscator leaves unchanged, and those are linear in plaintext multipliers such as :math:`x`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gmpy2
import numpy as np
from gmpy2 import mpz

from fedloom.core.errors import CryptoError, KeyMismatchError
from fedloom.crypto.paillier import parallel
from fedloom.crypto.paillier.encoding import (
    MUL_PRECISION_BITS,
    as_vector,
    check_frac_bits,
    encode_multipliers,
    is_int_array,
    to_fixed,
)
from fedloom.crypto.paillier.multiexp import batch_invert, multi_exp, signed_digit_multi_exp, signed_multi_exp
from fedloom.crypto.paillier.residues import ResidueVector

if TYPE_CHECKING:
    from fedloom.crypto.paillier.keys import PaillierPublicKey
    from fedloom.crypto.paillier.obfuscation import ObfuscatorPool
    from fedloom.crypto.paillier.sender import SenderObfuscator

#: Minimum length before an exponentiation-based operation is split over workers.
PARALLEL_MIN_POWMOD = 64
#: Set by :mod:`fedloom.compute.crypto` (the layer above; crypto never imports it): a function
#: that re-randomises a long vector on the party's cluster executor, or returns ``None`` to keep
#: the in-process path. Same distribution, same plaintexts either way (issue 16).
rerandomize_offload: Callable[[EncryptedVector], EncryptedVector | None] | None = None
#: Minimum length before batch inversion is split over workers.
PARALLEL_MIN_INVERT = 1024
#: Largest |multiplier| handled by the bucket method in int64 (beyond it: one powmod per term).
_MAX_BUCKET_EXP = 2**62


def _chunked(fn: Callable[[int, int], list[Any]], count: int, min_items: int) -> list[Any]:
    parts = parallel.run_chunks(fn, parallel.split(count, min_items))
    return parts[0] if len(parts) == 1 else [v for part in parts for v in part]


def _invert_all(cs: list[Any], modulus: Any) -> list[Any]:
    return _chunked(lambda a, b: batch_invert(cs[a:b], modulus), len(cs), PARALLEL_MIN_INVERT)


def _matrix_to_ints(matrix: np.ndarray, precision_bits: int) -> tuple[np.ndarray, int]:
    """Plaintext matrix → (int64 array when every |entry| < 2^62, else Python ints; scale added)."""
    if is_int_array(matrix):
        flat = [int(v) for v in matrix.ravel().tolist()]
        extra = 0
    else:
        x = matrix.astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            raise CryptoError("cannot multiply by NaN or infinite values")
        scaled = np.rint(np.ldexp(x, precision_bits))
        if np.all(np.abs(scaled) < _MAX_BUCKET_EXP):
            return scaled.astype(np.int64), precision_bits
        flat = to_fixed(x.ravel(), precision_bits)
        extra = precision_bits
    if all(-_MAX_BUCKET_EXP < v < _MAX_BUCKET_EXP for v in flat):
        return np.asarray(flat, dtype=np.int64).reshape(matrix.shape), extra
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(matrix.shape), extra


def is_sparse_matrix(matrix: Any) -> bool:
    """Whether ``matrix`` is a ``scipy.sparse`` matrix or array (recognised by its methods, so the
    crypto layer does not import scipy)."""
    return hasattr(matrix, "tocsc") and hasattr(matrix, "nnz")


def sparse_columns(matrix: Any, length: int) -> Any:
    """A ``scipy.sparse`` matrix (or a sparse vector, one column) → canonical CSC, rows checked.

    Canonical: duplicates summed and explicit zeros dropped, so a column's stored entries are
    exactly its non-zeros.
    """
    mat = matrix.tocsc(copy=True)
    if mat.shape[0] != length and mat.shape[0] == 1 and mat.shape[1] == length:
        mat = mat.T.tocsc()  # a sparse row vector counts as one column
    if mat.shape[0] != length:
        raise CryptoError(f"length mismatch in dot: {length} and {mat.shape[0]}")
    if mat.dtype.kind not in "biuf":
        raise CryptoError(f"dot takes a numeric matrix, got dtype {mat.dtype}")
    mat.sum_duplicates()
    mat.eliminate_zeros()
    return mat


class EncryptedVector(ResidueVector["PaillierPublicKey"]):
    r"""A 1-D vector of Paillier ciphertexts with one fixed-point scale.

    Created by :meth:`PaillierPublicKey.encrypt` / :meth:`EncryptedVector.from_bytes`; supports
    numpy-like ``+``, ``-``, unary ``-``, ``*`` by plaintext scalars or arrays, :meth:`dot`,
    :meth:`segment_sum`, :meth:`sum`, indexing and :meth:`concat`.

    Parameters
    ----------
    public_key
        The key every ciphertext is under.
    ciphertexts
        Integers in :math:`(0, n^2)` (gmpy2 ``mpz``).
    frac_bits
        The scale :math:`f`: element :math:`i` decodes to :math:`D(c_i) / 2^f`.
    """

    __slots__ = ()
    _noun = "an EncryptedVector"

    def _shifted(self, bits: int) -> list[Any]:
        r"""Rescaling: :math:`c^{2^{\Delta f}}` (exact, no rounding)."""
        return self._pow_all(1 << bits)

    def _pow_all(self, k: int) -> list[Any]:
        """:math:`c_i^{k}` for one non-negative int ``k`` (C loop, GIL released)."""
        cs, n2 = self._c, self._pk.nsquare
        return _chunked(lambda a, b: gmpy2.powmod_base_list(cs[a:b], k, n2), len(cs), PARALLEL_MIN_POWMOD)

    # -- addition and subtraction -------------------------------------------------------------------
    def _add_encrypted(self, other: EncryptedVector, op: str) -> EncryptedVector:
        self._check_key(other)
        self._check_length(len(other), op)
        f = max(self._frac, other._frac)
        ca, cb, n2 = self.rescale(f)._c, other.rescale(f)._c, self._pk.nsquare
        return self._new(
            _chunked(
                lambda a, b: [x * y % n2 for x, y in zip(ca[a:b], cb[a:b], strict=True)],
                len(ca),
                parallel.PARALLEL_MIN_ITEMS,
            ),
            f,
        )

    def _add_plain(self, other: Any, op: str) -> EncryptedVector:
        me, ms = self._plain_operand(other, op)
        cs, n, n2 = me._c, self._pk.n, self._pk.nsquare
        return me._new(
            _chunked(
                lambda a, b: [
                    (c + n * (m * c % n)) % n2 if m else c for c, m in zip(cs[a:b], ms[a:b], strict=True)
                ],
                len(cs),
                parallel.PARALLEL_MIN_ITEMS,
            )
        )

    def __add__(self, other: Any) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            return self._add_encrypted(other, "add")
        if _is_foreign_cipher(other):
            self._check_key(other)
        return self._add_plain(other, "add")

    def __neg__(self) -> EncryptedVector:
        return self._new(_invert_all(self._c, self._pk.nsquare))

    def __sub__(self, other: Any) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            self._check_key(other)
            self._check_length(len(other), "subtract")
            return self._add_encrypted(-other, "subtract")
        if _is_foreign_cipher(other):
            self._check_key(other)
        arr = as_vector(other)
        return self._add_plain(-arr.astype(object) if is_int_array(arr) else -arr, "subtract")

    def __rsub__(self, other: Any) -> EncryptedVector:
        if _is_foreign_cipher(other):
            self._check_key(other)
        return (-self)._add_plain(other, "subtract")

    # -- multiplication by plaintexts ---------------------------------------------------------------
    def mul(self, other: Any, precision_bits: int = MUL_PRECISION_BITS) -> EncryptedVector:
        r"""Multiply by a plaintext scalar or 1-D array (elementwise).

        Ints are exact (scale unchanged); floats are encoded as :math:`\mathrm{round}(s \cdot
        2^{p})` with ``p = precision_bits`` (23 by default) and the scale grows by ``p``.
        Negative multipliers use :math:`(c^{-1})^{|k|}`.
        """
        if isinstance(other, EncryptedVector) or _is_foreign_cipher(other):
            raise CryptoError("Paillier cannot multiply two ciphertexts; multiply by a plaintext")
        arr = as_vector(other)
        ks, extra = encode_multipliers(arr, precision_bits)
        f = self._frac + extra
        if len(ks) == 1:
            return self._new(self._mul_scalar(ks[0]), f)
        self._check_length(len(ks), "multiply")
        cs, n2 = self._c, self._pk.nsquare

        def chunk(a: int, b: int) -> list[Any]:
            sub, kk = cs[a:b], ks[a:b]
            neg = [i for i, k in enumerate(kk) if k < 0]
            invs = dict(zip(neg, batch_invert([sub[i] for i in neg], n2), strict=True))
            return [
                gmpy2.powmod(invs[i], -k, n2) if k < 0 else (c if k == 1 else gmpy2.powmod(c, k, n2))
                for i, (c, k) in enumerate(zip(sub, kk, strict=True))
            ]

        return self._new(_chunked(chunk, len(cs), PARALLEL_MIN_POWMOD), f)

    def _mul_scalar(self, k: int) -> list[Any]:
        if k == 1:
            return list(self._c)
        if k == 0:
            return [mpz(1)] * len(self._c)
        if k > 0:
            return self._pow_all(k)
        return (-self)._pow_all(-k)

    def dot(self, matrix: Any, precision_bits: int = MUL_PRECISION_BITS) -> EncryptedVector:
        r"""Encrypted vector–matrix product :math:`[\,y_j\,] = \prod_i [\,a_i\,]^{X_{ij}}`.

        Parameters
        ----------
        matrix
            Plaintext ``(len(self), k)`` array (a 1-D array counts as one column). Ints are exact;
            floats use the low-precision encoding (scale + ``precision_bits``).

        Returns
        -------
        EncryptedVector
            Length ``k``: :math:`\sum_i a_i X_{ij}` per column (the :math:`[d]^T X` gradient).

        Notes
        -----
        Bucket (Pippenger) multi-exponentiation per column over row chunks in parallel; rows
        with a negative entry use their batch-computed inverse. When most rows need an inverse
        anyway (or there are several columns), every row is inverted and the exponents are cut
        into signed digits (:func:`~fedloom.crypto.paillier.multiexp.signed_digit_multi_exp`).
        """
        if is_sparse_matrix(matrix):
            return self._sparse_dot(sparse_columns(matrix, len(self._c)), precision_bits)
        mat = self._plain_matrix(matrix)
        if mat.dtype.kind not in "biufO":
            raise CryptoError(f"dot takes a numeric matrix, got dtype {mat.dtype}")
        ks, extra = _matrix_to_ints(mat, precision_bits)
        f = self._frac + extra
        n_cols = ks.shape[1]
        cs, n2 = self._c, self._pk.nsquare
        if len(cs) == 0:
            return self._new([mpz(1)] * n_cols, f)

        if ks.dtype == object:  # huge multipliers: one exponentiation per entry

            def naive(a: int, b: int) -> list[Any]:
                out = []
                for j in range(n_cols):
                    col = ks[a:b, j].tolist()
                    acc = mpz(1)
                    for c, k in zip(cs[a:b], col, strict=True):
                        if k:
                            acc = acc * gmpy2.powmod(c, int(k), n2) % n2
                    out.append(acc)
                return out

            parts = parallel.run_chunks(naive, parallel.split(len(cs), PARALLEL_MIN_POWMOD))
        else:

            def bucket(a: int, b: int) -> list[Any]:
                block = ks[a:b]
                sub = cs[a:b]
                neg_rows = np.flatnonzero((block < 0).any(axis=1))
                # Signed digits (~20% fewer multiplications) need every row's inverse: worth it
                # when most rows need one anyway or there are several columns.
                if 5 * (len(sub) - len(neg_rows)) < len(sub) * n_cols:
                    try:
                        bases = sub + batch_invert(sub, n2)
                    except CryptoError:
                        pass  # a non-unit row: only rows with a negative multiplier need inverting
                    else:
                        return [signed_digit_multi_exp(bases, block[:, j], n2) for j in range(n_cols)]
                invs: list[Any] | None = None
                if len(neg_rows):
                    invs = [None] * len(sub)
                    for i, v in zip(
                        neg_rows.tolist(), batch_invert([sub[i] for i in neg_rows.tolist()], n2), strict=True
                    ):
                        invs[i] = v
                return [signed_multi_exp(sub, invs, block[:, j], n2) for j in range(n_cols)]

            parts = parallel.run_chunks(bucket, parallel.split(len(cs), PARALLEL_MIN_POWMOD))
        result = parts[0]
        for part in parts[1:]:
            result = [x * y % n2 for x, y in zip(result, part, strict=True)]
        return self._new(result, f)

    def _sparse_dot(self, mat: Any, precision_bits: int) -> EncryptedVector:
        r""":meth:`dot` with a canonical CSC matrix: one multi-exponentiation per column over its
        non-zeros only (cost ∝ nnz, not rows × columns). The same fixed-point encoding as the
        dense path, so the decrypted result is the same integer bit for bit.

        Rows with a negative entry use their inverse :math:`c_i^{-1}` (one batch inversion over
        those rows only): term :math:`(c_i^{-1})^{|X_{ij}|}`.
        """
        n_rows, n_cols = mat.shape
        cs, n2 = self._c, self._pk.nsquare
        ks, extra = _matrix_to_ints(np.asarray(mat.data), precision_bits)
        f = self._frac + extra
        if n_rows == 0 or mat.nnz == 0:
            return self._new([mpz(1)] * n_cols, f)
        indptr, indices = np.asarray(mat.indptr), np.asarray(mat.indices, dtype=np.int64)
        neg = ks < 0
        neg_rows = np.unique(indices[neg]) if neg.any() else np.empty(0, dtype=np.int64)
        inv_slot = np.zeros(n_rows, dtype=np.int64)
        inv_slot[neg_rows] = n_rows + np.arange(len(neg_rows), dtype=np.int64)
        bases = list(cs) + (batch_invert([cs[i] for i in neg_rows.tolist()], n2) if len(neg_rows) else [])
        index = np.where(neg, inv_slot[indices], indices)

        def columns(a: int, b: int) -> list[Any]:
            out = []
            for j in range(a, b):
                lo, hi = int(indptr[j]), int(indptr[j + 1])
                if ks.dtype == object:  # huge multipliers: one exponentiation per non-zero
                    acc = mpz(1)
                    for i, k in zip(index[lo:hi].tolist(), ks[lo:hi].tolist(), strict=True):
                        acc = acc * gmpy2.powmod(bases[i], abs(int(k)), n2) % n2
                    out.append(acc)
                else:
                    out.append(multi_exp(bases, index[lo:hi], np.abs(ks[lo:hi]), n2))
            return out

        per_col = max(1, mat.nnz // max(n_cols, 1))
        return self._new(_chunked(columns, n_cols, max(1, PARALLEL_MIN_POWMOD // per_col)), f)

    # -- reductions ---------------------------------------------------------------------------------
    def segment_sum(self, segment_ids: Any, n_segments: int) -> EncryptedVector:
        r"""Sums per segment: element :math:`j` is :math:`\sum_{i: s_i = j} a_i` (histograms).

        Empty segments hold the trivial encryption of 0 (``1``); obfuscate before sending.
        """
        ids = self._segment_ids(segment_ids, n_segments)
        cs, n2 = self._c, self._pk.nsquare
        n_seg = int(n_segments)

        def chunk(a: int, b: int) -> list[Any]:
            out: list[Any] = [None] * n_seg
            for c, s in zip(cs[a:b], ids[a:b], strict=True):
                cur = out[s]
                out[s] = c if cur is None else cur * c % n2
            return out

        parts = parallel.run_chunks(chunk, parallel.split(len(cs), parallel.PARALLEL_MIN_ITEMS))
        result = parts[0]
        for part in parts[1:]:
            result = [
                y if x is None else (x if y is None else x * y % n2)
                for x, y in zip(result, part, strict=True)
            ]
        return self._new([mpz(1) if x is None else x for x in result])

    def sum(self) -> EncryptedVector:
        r"""Length-1 vector :math:`[\sum_i a_i]`."""
        return self.segment_sum(np.zeros(len(self._c), dtype=np.int64), 1)

    # -- re-randomisation ---------------------------------------------------------------------------
    def obfuscate(self, pool: ObfuscatorPool | None = None) -> EncryptedVector:
        r"""Re-randomise in place, :math:`c \leftarrow c \cdot h_s^{a}` with a fresh :math:`a` each.

        The plaintexts are unchanged; the result no longer depends on the inputs' randomness
        for anyone without the private key. Call it before sending anything computed from
        received ciphertexts to such a party. Before sending to the **key owner**, call
        :meth:`rerandomize` instead (it explains why this is not enough there). Returns ``self``.
        """
        count = len(self._c)
        if pool is not None:
            if pool.public_key != self._pk:
                raise KeyMismatchError("the obfuscator pool belongs to another public key")
            rhos = pool.take(count)
        else:
            rhos = self._pk.obfuscator.draw(count)
        cs, n2 = self._c, self._pk.nsquare
        self._c = _chunked(
            lambda a, b: [c * r % n2 for c, r in zip(cs[a:b], rhos[a:b], strict=True)],
            count,
            parallel.PARALLEL_MIN_ITEMS,
        )
        return self

    def rerandomize(self, obfuscator: SenderObfuscator | None = None) -> EncryptedVector:
        r"""A copy whose randomness is uniform and fresh: :math:`c_i \cdot r_i^n \bmod n^2`.

        With ``obfuscator`` (a :class:`~fedloom.crypto.paillier.sender.SenderObfuscator` the
        sender built for this key), each factor is the sender's cheap
        :math:`g^{b} \prod_j G_j^{s_j}` instead of a full :math:`r^n` (about 15× faster; the
        argument, and the assumption it rests on, are in :mod:`fedloom.crypto.paillier.sender`).

        Each :math:`r_i` is drawn uniformly from :math:`\mathbb{Z}_n^*` with :mod:`secrets`
        (the OS CSPRNG); the plaintexts and the scale are unchanged. Call it **last, on every
        ciphertext that goes to the key owner for decryption**, after all homomorphic work.
        Cost: one full exponentiation per element (``gmpy2.powmod_base_list``, GIL released,
        split over the crypto workers for long vectors); the gradient of a GLM has one element
        per weight, so this is one exponentiation per weight per batch, not per row.

        Algebra and security
        --------------------
        Write :math:`c = (1 + mn)\,\rho \bmod n^2` with :math:`\rho` an :math:`n`-th residue.
        Let :math:`N = \{x^n \bmod n^2\}` be the group of :math:`n`-th residues. The map
        :math:`r \mapsto r^n \bmod n^2` is an isomorphism :math:`\mathbb{Z}_n^* \to N`:
        it depends only on :math:`r \bmod n` (:math:`(r + tn)^n \equiv r^n \pmod{n^2}`), and it
        is injective because :math:`\gcd(n, \varphi(n)) = 1`. So for :math:`r` uniform in
        :math:`\mathbb{Z}_n^*`, :math:`r^n` is uniform in :math:`N`, and
        :math:`\rho' = \rho\, r^n` is uniform in :math:`N` and independent of :math:`\rho`
        (multiplying by a uniform element of a group gives a uniform element). Hence
        :math:`c' = (1 + mn)\,\rho'` has exactly the distribution of a fresh textbook
        encryption of :math:`m`: it is a function of :math:`m` and fresh coins only. This holds
        information-theoretically, so also for the key owner, who knows :math:`p, q` and can
        compute any function of :math:`c'` — :math:`m`, the :math:`n`-th root of
        :math:`\rho'`, its residue characters — and learns nothing beyond :math:`m`.
        In terms of characters: :math:`c' \equiv \rho\,r^n \pmod p`; :math:`u \mapsto u^n` is
        a bijection of :math:`\mathbb{Z}_p^*` (:math:`\gcd(n, p-1) = 1`) and :math:`r \bmod p`,
        :math:`r \bmod q` are independent and uniform (CRT), so :math:`\chi(c')` is uniform
        over the image of :math:`\chi` for every character :math:`\chi` of
        :math:`\mathbb{Z}_p^*` or :math:`\mathbb{Z}_q^*`, and independent of :math:`\chi(\rho)`.

        Why :meth:`obfuscate` is not enough here: its factor :math:`h_s^{a} = (h^{a})^n` lies in
        the subgroup :math:`\langle h_s \rangle` of :math:`N`, of index at least 2
        (:math:`h = -x^2` lies in the Jacobi-symbol-1 subgroup). :math:`c\,h_s^{a}` is at best
        uniform on the coset :math:`\rho \langle h_s \rangle`, and the coset is visible to
        whoever knows :math:`p, q`: every character with :math:`\chi(h) = 1` — the Jacobi
        symbol (computable even without :math:`p, q`), and for each small prime :math:`\ell`
        dividing :math:`p-1` and :math:`q-1` a combination of the two :math:`\ell`-th power
        characters, which always exists — is unchanged by :math:`h_s^{a}`. When :math:`\rho`
        comes from the key owner (its encryptions of zero) raised to plaintext multipliers
        :math:`k` (features), those characters are linear in :math:`k` modulo :math:`\ell`.
        Zeros made by the key owner are no substitute either: the key owner knows their
        randomness. Hence a uniform :math:`r`, drawn by the sender.
        """
        if obfuscator is not None:
            obfuscator.check_key(self._pk)
            return self._new(obfuscator.apply(list(self._c)))
        if rerandomize_offload is not None and not parallel.in_worker():
            offloaded = rerandomize_offload(self)
            if offloaded is not None:
                return offloaded
        count = len(self._c)
        n, n2, cs = self._pk.n, self._pk.nsquare, self._c
        rs = [random_unit(n) for _ in range(count)]

        def chunk(a: int, b: int) -> list[Any]:
            factors = gmpy2.powmod_base_list(rs[a:b], n, n2)
            return [c * f % n2 for c, f in zip(cs[a:b], factors, strict=True)]

        return self._new(_chunked(chunk, count, PARALLEL_MIN_POWMOD))

    # -- serialisation (to_bytes: ResidueVector) ----------------------------------------------------
    @classmethod
    def from_bytes(
        cls, public_key: PaillierPublicKey, buf: bytes | bytearray | memoryview, frac_bits: int
    ) -> EncryptedVector:
        """Parse :meth:`to_bytes` output received from another party, validating it.

        Raises
        ------
        CryptoError
            Length not a multiple of the width, a ciphertext outside :math:`(0, n^2)`, or a bad
            ``frac_bits``.
        """
        f = check_frac_bits(frac_bits)
        words = cls._words(buf, public_key.ciphertext_bytes, "ciphertext")
        n2 = public_key.nsquare
        cs = [mpz.from_bytes(w, "big") for w in words]
        for i, c in enumerate(cs):
            if not 0 < c < n2:
                raise CryptoError(f"ciphertext {i} is not in (0, n²): not a valid ciphertext for this key")
        return cls(public_key, cs, f)


def random_unit(n: Any) -> Any:
    r"""A uniform element of :math:`\mathbb{Z}_n^*` from the OS CSPRNG (rejection sampling).

    A draw in :math:`[1, n)` is a unit except with probability :math:`(p + q - 1)/n`, about
    :math:`2^{-k/2}`; such a draw (which would reveal a factor) is dropped and drawn again.
    """
    bound = int(n)
    while True:
        r = mpz(secrets.randbelow(bound - 1) + 1)
        if gmpy2.gcd(r, n) == 1:
            return r


def _is_foreign_cipher(obj: Any) -> bool:
    """True for ciphertext vectors of another cipher (e.g. the plain one)."""
    return hasattr(obj, "public_key") and hasattr(obj, "frac_bits") and not isinstance(obj, EncryptedVector)
