"""A mergeable quantile summary with a certified rank-error bound (Greenwald–Khanna style).

Quantile binning needs, per column, the values at ranks ``q·n`` for a few ``q`` without keeping
(or sorting) the whole column at once, and summaries built on separate blocks must combine.
:class:`QuantileSummary` keeps a sorted list of *observed* values with rank bounds, in the manner
of Greenwald and Khanna (2001), stored as numpy arrays so that every step is vectorised.

Ranks, ties included
--------------------
For a multiset ``D`` of ``n`` values and an observed value ``v``, let ``L(v) = #{d < v}`` and
``U(v) = #{d <= v}`` (``np.searchsorted(sorted(D), v, "left")`` and ``"right"``). ``v`` occupies
the sorted positions ``L(v)+1 .. U(v)`` (1-based); its **rank interval** is ``[L(v), U(v)]``: any
rank in it is a rank of ``v`` (for distinct values it is ``[p-1, p]`` at position ``p``).

Entries
-------
The summary is ``(value_i, rmin_i, rmax_i)``, ``i = 0..m-1``, values strictly ascending, each an
observed value, with the invariant (for distinct data this is GK's ``rmin <= position <= rmax``)::

    rmin_i <= U(value_i)          (v's last position is at least rmin)
    rmax_i >= L(value_i) + 1      (v's first position is at most rmax)

Write ``A_i = rmin_i`` and ``B_i = rmax_i - 1`` (a lower bound of ``U``, an upper bound of ``L``).
``A`` and ``B`` are non-decreasing in ``i`` (every operation below keeps them so), the first entry
is the minimum with ``B_0 = 0`` and the last is the maximum with ``A_{m-1} = n``.

Guarantee
---------
Let ``E = max(B_0, n - A_{m-1}, max_i (B_{i+1} - A_i) / 2)`` (computed from the entries; a multiple
of 1/2). :attr:`QuantileSummary.rank_error_bound` is ``ceil(E)``, and it is always
``<= floor(error · count)``. For every ``q`` in ``[0, 1]``, with ``t = q·n``, :meth:`~QuantileSummary.query`
returns an observed value ``v`` with::

    L(v) <= t + rank_error_bound   and   U(v) >= t - rank_error_bound

i.e. the rank interval ``[L(v), U(v)]`` meets ``[t - bound, t + bound]``: some rank of ``v`` is
within ``bound`` of ``q·n``. Proof: query picks the entry minimising ``f_i(t) = max(B_i - t,
t - A_i)``; the intervals ``[B_i - E, A_i + E]`` cover ``[0, n]`` (consecutive ones overlap by the
definition of ``E``), so some ``f_i(t) <= E``; then ``L(v) <= B_i <= t + E`` and ``U(v) >= A_i >= t - E``.
``q = 0`` returns the minimum and ``q = 1`` the maximum.

Operations
----------
*merge* (union of two summaries over ``D1 ⊎ D2``): for each value ``u`` of either summary,
``A(u) = A¹(last entry of S1 <= u) + A²(last entry of S2 <= u)`` (0 where there is none) and
``B(u) = B¹(first entry of S1 >= u) + B²(first entry of S2 >= u)`` (``n_k`` where there is none).
Both stay valid bounds. Two consecutive merged values have no entry of either summary strictly
between them, so each merged gap is the sum of one gap of each summary: ``E <= E1 + E2``. With the
budget kept by every summary this gives ``E <= floor(ε1·n1) + floor(ε2·n2) <= floor(ε·(n1 + n2))``
for ``ε = max(ε1, ε2)``: **the bound composes additively and stays within ε·n of the total count**.
Size under merge: the merged entries are at most the union of both (``m1 + m2``); a compress then
drops entries only as far as the slack ``floor(ε·n) - E`` allows, so merging summaries that each
used their whole budget keeps about ``m1 + m2`` entries (a summary fed by :meth:`update` regains
slack as values arrive, since its budget grows with ``n``).

*compress* (when more than ``compress_thres`` entries are held): keep the first entry, then
greedily jump to the farthest entry ``j`` with ``B_j - A_p <= 2·floor(ε·n)``, until the last entry.
Each kept gap is within budget, so ``E <= floor(ε·n)`` still; the greedy keeps the fewest entries
under this rule (the jump targets form a monotone map; its orbit from entry 0 is found by pointer
doubling, ``O(m log m)`` numpy work, no Python loop per entry).

*update*: values are buffered (``head_size`` of them, FATE's ``head_size``); a full buffer is sorted
and folded in as a sample of its sorted values every ``2β+1`` positions with their exact ranks
within the block (``β = floor(ε·h/2)`` for a block of ``h`` values, capped by the slack left in the
budget), so a block costs ``O(1/ε)`` entries, not ``h``, and at most half its share ``ε·h`` of
the error budget: the other half stays free for *compress* to thin older entries as ``n`` grows.
The summary therefore holds at most about ``compress_thres + 1/ε`` entries between compressions
and ``O(1/ε)`` right after one (measured in the tests; GK's worst case is ``O(log(εn)/ε)``).

FATE's parameters keep their meaning: ``error`` (ε), ``head_size`` (values buffered before they are
folded in) and ``compress_thres`` (entries held before compressing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from fedloom.core.errors import ConfigError, DataError

__all__ = ["QuantileSummary"]

_F64 = NDArray[np.float64]
_I64 = NDArray[np.int64]
# (values, rmin, rmax): one summary's entries, see the module docstring.
_Entries = tuple[_F64, _I64, _I64]


def _empty() -> _Entries:
    return np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.int64)


def _sample_sorted(sorted_values: _F64, beta: int) -> _Entries:
    """Entries for an ascending block, keeping every ``2β+1``-th value, first and last included.

    Exact ranks within the block: ``rmin = U``, ``rmax = L + 1``. Between two kept values lie at
    most ``2β`` others, so the gap ``B_{i+1} - A_i = L(v_{i+1}) - U(v_i) <= 2β`` (``β = 0``: exact).
    """
    n = len(sorted_values)
    if n == 0:
        return _empty()
    if beta <= 0:
        # Exact: one entry per distinct value, L = first position, U = one past the last.
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        ends = np.r_[starts[1:], n]
        return sorted_values[starts].copy(), ends.astype(np.int64), (starts + 1).astype(np.int64)
    picks = np.arange(0, n, 2 * beta + 1)
    if picks[-1] != n - 1:
        picks = np.r_[picks, n - 1]
    v = sorted_values[picks]
    v = v[np.r_[True, v[1:] != v[:-1]]]
    lo = np.searchsorted(sorted_values, v, side="left")
    hi = np.searchsorted(sorted_values, v, side="right")
    return v, hi.astype(np.int64), (lo + 1).astype(np.int64)


def _merge(a: _Entries, n_a: int, b: _Entries, n_b: int) -> _Entries:
    """The entries of the union of two summaries (module docstring, *merge*).

    One stable sort of the two ascending runs (linear: it merges them) and running counts of each
    side's entries give, for every merged value, the last entry ``<= u`` and the first ``>= u`` of
    each summary, without a binary search per value.
    """
    va, rmin_a, rmax_a = a
    vb, rmin_b, rmax_b = b
    if len(va) == 0:
        return b
    if len(vb) == 0:
        return a
    both = np.concatenate([va, vb])
    order = np.argsort(both, kind="stable")
    from_a = order < len(va)
    s = both[order]
    # cnt[p]: how many entries of that summary sit before merged position p (p = 0..len).
    cnt_a = np.r_[0, np.cumsum(from_a)]
    cnt_b = np.arange(len(s) + 1) - cnt_a
    new = np.r_[True, s[1:] != s[:-1]]
    first = np.flatnonzero(new)  # each distinct value's first and last merged position
    last = np.r_[first[1:] - 1, len(s) - 1]
    u = s[first]
    rmin = np.zeros(len(u), np.int64)
    b_part = np.zeros(len(u), np.int64)
    for rmin_k, rmax_k, n_k, cnt in ((rmin_a, rmax_a, n_a, cnt_a), (rmin_b, rmax_b, n_b, cnt_b)):
        le = cnt[last + 1] - 1  # index of the last entry <= u (-1: none)
        rmin += np.where(le >= 0, rmin_k[np.maximum(le, 0)], 0)
        # The entries < u come before u's first merged position; the next one is the first >= u.
        below = cnt[first]
        inside = below < len(rmax_k)
        b_part += np.where(inside, rmax_k[np.minimum(below, len(rmax_k) - 1)] - 1, n_k)
    return u, rmin, b_part + 1


def _twice_error(entries: _Entries, n: int) -> int:
    """``2·E`` for the entries (module docstring, *Guarantee*): an exact integer."""
    _, rmin, rmax = entries
    if len(rmin) == 0:
        return 0
    lower = rmax - 1  # B_i
    worst = max(2 * int(lower[0]), 2 * (n - int(rmin[-1])))
    if len(rmin) > 1:
        worst = max(worst, int((lower[1:] - rmin[:-1]).max()))
    return max(worst, 0)


def _prune(entries: _Entries, beta: int) -> _Entries:
    """Greedy compress keeping every kept gap ``B_q - A_p <= 2β`` (module docstring)."""
    v, rmin, rmax = entries
    m = len(v)
    if m <= 2:
        return entries
    idx = np.arange(m)
    # reach[p]: the farthest q with B_q <= A_p + 2β (B is non-decreasing); always move forward
    # (a gap already over budget cannot be narrowed by dropping entries, so it is kept as is).
    reach = np.searchsorted(rmax - 1, rmin + 2 * beta, side="right") - 1
    reach = np.minimum(np.maximum(reach, idx + 1), m - 1)
    # Orbit of entry 0 under `reach` by pointer doubling: after step k, `orbit` holds
    # reach^j(0) for every j < 2^k, and `jump` is reach^(2^k). m - 1 is a fixed point.
    orbit = np.zeros(1, np.int64)
    jump = reach
    for _ in range(max(1, math.ceil(math.log2(m)))):
        orbit = np.concatenate([orbit, jump[orbit]])
        if orbit[-1] == m - 1:  # the orbit has reached the fixed point
            break
        jump = jump[jump]
    keep = np.zeros(m, bool)
    keep[orbit] = True
    keep[m - 1] = True
    return v[keep], rmin[keep], rmax[keep]


def _budget(error: float, n: int) -> int:
    """``floor(ε·n)``: the most rank error a summary of ``n`` values may carry."""
    return math.floor(error * n)


class QuantileSummary:
    """Mergeable quantile summary of finite floats with a certified rank-error bound.

    See the module docstring for the entries, the guarantee and how it composes under merge.

    Parameters
    ----------
    error
        ε in ``[0, 1)``: a query at ``q`` returns a value with a rank within ``floor(ε·count)`` of
        ``q·count``; 0 keeps every distinct value (exact).
    compress_thres
        Entries held before the summary is compressed (FATE's ``compress_thres``).
    head_size
        Values buffered by :meth:`update` before they are sorted and folded in (FATE's ``head_size``).
    """

    def __init__(self, error: float = 0.001, compress_thres: int = 10_000, head_size: int = 10_000) -> None:
        if isinstance(error, bool) or not isinstance(error, int | float) or not 0 <= error < 1:
            raise ConfigError(f"must be a float in [0, 1). Got {error!r}.", field="error")
        for name, value in (("compress_thres", compress_thres), ("head_size", head_size)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"must be an int >= 1. Got {value!r}.", field=name)
        self.error = float(error)
        self.compress_thres = int(compress_thres)
        self.head_size = int(head_size)
        self._entries: _Entries = _empty()
        self._n = 0  # values folded into the entries
        self._head: list[_F64] = []
        self._head_count = 0

    # ------------------------------------------------------------------ properties
    @property
    def count(self) -> int:
        """Number of values summarised, buffered ones included."""
        return self._n + self._head_count

    @property
    def rank_error_bound(self) -> int:
        """``ceil(E)`` of the entries: the guaranteed rank error of :meth:`query`, ``<= floor(ε·count)``.

        Buffered values are folded exactly by :meth:`query`, which leaves ``E`` unchanged.
        """
        return (_twice_error(self._entries, self._n) + 1) // 2

    @property
    def size(self) -> int:
        """Entries held (buffered values not counted)."""
        return len(self._entries[0])

    @property
    def entries(self) -> tuple[_F64, _I64, _I64]:
        """Copies of ``(values, rmin, rmax)`` after folding the buffer exactly (for inspection)."""
        v, rmin, rmax = self._with_head()
        return v.copy(), rmin.copy(), rmax.copy()

    # ------------------------------------------------------------------ updates
    def update(self, values: NDArray[np.floating] | Sequence[float]) -> None:
        """Add a batch of finite values (the caller drops NaN).

        Values are buffered; each full buffer of ``head_size`` values is sorted and folded in.

        Raises
        ------
        DataError
            A value is NaN or infinite (``field='values'``).
        """
        vals = np.asarray(values, dtype=np.float64).ravel()
        if len(vals) == 0:
            return
        if not np.isfinite(vals).all():
            raise DataError("the quantile summary takes finite values only; drop NaN first", field="values")
        if self._head_count + len(vals) < self.head_size:
            self._head.append(vals.copy())
            self._head_count += len(vals)
            return
        buf = np.concatenate([*self._head, vals])
        full = len(buf) - len(buf) % self.head_size
        for start in range(0, full, self.head_size):
            self._fold_sorted(np.sort(buf[start : start + self.head_size]))
        rest = buf[full:].copy()
        self._head = [rest] if len(rest) else []
        self._head_count = len(rest)

    def _fold_sorted(self, block: _F64) -> None:
        """Fold an ascending block of finite values in (the sampled form; module docstring)."""
        h = len(block)
        if h == 0:
            return
        n = self._n + h
        # Half of this block's share of the budget, and never more than the slack left.
        slack = (2 * _budget(self.error, n) - _twice_error(self._entries, self._n)) // 2
        beta = max(0, min(_budget(self.error, h) // 2, slack))
        self._entries = _merge(self._entries, self._n, _sample_sorted(block, beta), h)
        self._n = n
        if self.size > self.compress_thres:
            self._entries = _prune(self._entries, _budget(self.error, self._n))

    def _flush(self) -> None:
        """Fold the buffer in exactly (error unchanged)."""
        if self._head_count:
            block = np.sort(np.concatenate(self._head))
            self._entries = _merge(self._entries, self._n, _sample_sorted(block, 0), len(block))
            self._n += len(block)
            self._head, self._head_count = [], 0

    def compress(self) -> None:
        """Fold the buffer in and compress now, whatever the size (keeps ``E <= floor(ε·count)``)."""
        self._flush()
        self._entries = _prune(self._entries, _budget(self.error, self._n))

    def merge(self, other: QuantileSummary) -> QuantileSummary:
        """A new summary of both summaries' values; neither input changes.

        The result has ``error = max(self.error, other.error)`` and this summary's ``compress_thres``
        and ``head_size``; its bound is at most the sum of the inputs' bounds, hence at most
        ``floor(error · count)`` (module docstring, *merge*). Buffers are folded in exactly.
        """
        if not isinstance(other, QuantileSummary):
            raise ConfigError(f"can only merge a QuantileSummary. Got {type(other).__name__}.", field="other")
        out = QuantileSummary(max(self.error, other.error), self.compress_thres, self.head_size)
        out._entries = _merge(self._with_head(), self.count, other._with_head(), other.count)
        out._n = self.count + other.count
        if out.size > out.compress_thres:
            out._entries = _prune(out._entries, _budget(out.error, out._n))
        return out

    def _with_head(self) -> _Entries:
        if not self._head_count:
            return self._entries
        block = np.sort(np.concatenate(self._head))
        return _merge(self._entries, self._n, _sample_sorted(block, 0), len(block))

    # ------------------------------------------------------------------ queries
    def query(self, quantiles: NDArray[np.floating] | Sequence[float]) -> _F64:
        """One observed value per quantile ``q`` in ``[0, 1]`` (rank guarantee: module docstring).

        Raises
        ------
        ConfigError
            A quantile is outside ``[0, 1]`` or not finite (``field='quantiles'``).
        DataError
            The summary holds no values (``field='count'``).
        """
        qs = np.asarray(quantiles, dtype=np.float64)
        if not (np.isfinite(qs).all() and (qs >= 0).all() and (qs <= 1).all()):
            raise ConfigError(f"quantiles must lie in [0, 1]. Got {qs.tolist()!r}.", field="quantiles")
        if self.count == 0:
            raise DataError("the quantile summary holds no values", field="count")
        v, rmin, rmax = self._with_head()
        t = qs.ravel() * self.count
        lower = rmax - 1  # B_i
        # f_i(t) = max(B_i - t, t - A_i) is smallest where A_i + B_i crosses 2t (both non-decreasing).
        k = np.searchsorted(rmin + lower, 2 * t, side="left")
        right = np.minimum(k, len(v) - 1)
        left = np.maximum(k - 1, 0)
        f_right = np.maximum(lower[right] - t, t - rmin[right])
        f_left = np.maximum(lower[left] - t, t - rmin[left])
        pick = np.where(f_left <= f_right, left, right)
        return v[pick].reshape(qs.shape)

    def __repr__(self) -> str:
        return (
            f"QuantileSummary(error={self.error}, count={self.count}, size={self.size}, "
            f"rank_error_bound={self.rank_error_bound})"
        )
