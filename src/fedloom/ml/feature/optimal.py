"""Optimal binning: merge a feature's fine bins into at most ``bin_num`` bins that keep the label
signal (FATE 1.x's ``method: optimal`` with ``optimal_binning_param``).

The feature is first cut into ``init_bin_nums`` fine bins (quantile or bucket, see
:mod:`fedloom.ml.feature.bins`) and the events / non-events of every fine bin are counted (for a
host's feature: by the guest, from decrypted per-bin label sums). Everything here then works on
those counts only. Notation: fine bin ``i`` holds ``e_i`` events and ``n_i`` non-events, ``t_i =
e_i + n_i``; ``S`` is the sample count (all rows of the column, missing ones included when
``totals`` is given); ``min_item = ceil(min_bin_pct·S)``, ``max_item = floor(max_bin_pct·S)``
(both computed with a 1e-9 slack, so ``0.07·100`` is 7 and not 8 as float rounding would give).
A bin is *mixed* when it has at least one event and one non-event, *small* when ``t < min_item``.

``iv``, ``gini``, ``chi_square``: bottom-up merging (FATE's ``merge_optimal_binning``)
-----------------------------------------------------------------------------------------
Adjacent pairs of the current bins are candidates; each has a cost, and the cheapest candidate
is merged (ties: the pair further left first). Only pairs whose merged size is ``<= max_item``
are ever candidates (``max_bin_pct``). Five phases run in turn, each with a fresh heap of
candidates (FATE keeps leftover nodes of earlier phases in its heap; fedloom does not):

1. ``mixture`` (only when ``params.mixture``): candidates are pairs of two non-mixed bins;
   merge until no bin is non-mixed or no candidate is left.
2. ``single_mixture`` (only when ``params.mixture``): pairs with at least one non-mixed bin; same
   stopping rule.
3. ``small_size``: pairs of two small bins; merge until no bin is small or no candidate is left.
4. ``single_small_size``: pairs with at least one small bin; same stopping rule.
5. ``normal``: every pair; merge until ``bin_num`` bins remain or no candidate is left.

So the label mixture comes first, then ``min_bin_pct``, then the number of bins. With
``max_bin_pct < 1`` a constraint may be impossible to meet; the result then has more bins than
``bin_num`` (or keeps a small / unmixed bin), as in FATE, and a warning is logged. With the
default ``max_bin_pct = 1`` the result always has at most ``bin_num`` bins.

The cost of merging the pair ``(l, r)`` into ``m`` (``E, N``: the sample's events and
non-events, ``T = t_l + t_r``, ``d = e_l·n_r − e_r·n_l``):

- ``iv`` — the IV lost: ``iv(l) + iv(r) − iv(m)``, each bin's ``iv`` being its term of
  :func:`fedloom.ml.feature.woe.woe_iv` (rates over ``E, N``, the adjustment factor for a bin
  without events or non-events). Exactly FATE's ``IvHeapNode``.
- ``gini`` — the increase of count-weighted Gini impurity,
  ``T·G(m) − t_l·G(l) − t_r·G(r)`` with ``G = 1 − p² − (1 − p)²``, which equals
  ``2·d² / (T·t_l·t_r)``. **Deviation**: FATE's ``GiniHeapNode`` scores the *unweighted*
  ``G(m) − G(l) − G(r)``, which ignores bin sizes (it is negative for most pairs and ranks a
  pair of large, mixed bins first whatever their rates); the weighted increase is the usual
  impurity criterion of decision trees, 0 exactly when the two event rates are equal.
- ``chi_square`` — Pearson's χ² of the 2×2 table (pair × label): ``T·d² / (t_l·t_r·e_m·n_m)``,
  0 when the two event rates are equal (most similar pairs merge first). As in FATE, a merged
  pair without events or without non-events costs ``−inf`` (merged first). An empty side costs
  0 for ``gini`` and ``chi_square`` (FATE would divide by zero).
- For every metric a pair of two empty bins costs ``−inf`` (FATE's rule).

``gini`` and ``chi_square`` are computed as one division of exact Python integers, so pairs
with equal costs tie exactly and the left-most wins. The merging keeps a heap of candidate
pairs with lazy invalidation (each bin carries a version; an entry naming an outdated version is
skipped), so a column costs O(n log n): 1000 fine bins → 10 take a few milliseconds.

``ks``: top-down splitting (FATE's ``split_optimal_binning``)
-------------------------------------------------------------
Kolmogorov–Smirnov is a property of a cut, not of a pair of bins, so FATE (and fedloom) split
instead of merging: a FIFO queue starts with the whole range of fine bins; for the range taken
from the queue, the cut (after fine bin ``j``, both sides non-empty) with the largest
``|cum_events_j / events − cum_non_events_j / non_events|`` within the range is chosen (first
maximum; the middle cut when every KS is 0, or when the best cut leaves a side smaller than
``min_item``). The cut is kept if both sides are mixed (when ``mixture``) and hold at least
``min_item`` rows; then both halves are queued, the bigger one first. Splitting stops at
``bin_num − 1`` cuts or an empty queue. Ranges without events or without non-events are not
split. ``max_bin_pct`` plays no part (as in FATE). **Deviation**: when no cut is acceptable
FATE forces a cut in the middle (so it can return two bins for ``bin_num = 1``); fedloom then
keeps a single bin, so the result never has more than ``bin_num`` bins.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Self

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.validation import config_error, flag, integer, number, one_of
from fedloom.ml.feature.woe import _check_factor, _counts

if TYPE_CHECKING:
    from fedloom.ml.feature.bins import ColumnBins

__all__ = ["METRICS", "OptimalBinningParams", "merge_bins", "optimal_groups"]

log = logging.getLogger(__name__)

#: The metric methods, as FATE names them.
METRICS = ("iv", "gini", "chi_square", "ks")


def _metric(value: Any) -> Any:
    # FATE lower-cases the name and also reads "chi-square".
    if isinstance(value, str):
        name = value.lower().replace("-", "_")
        if name in METRICS:
            return name
    raise ValueError(f"must be one of {', '.join(METRICS)}")


class OptimalBinningParams(BaseModel):
    """``optimal_binning_param`` of FATE 1.x's feature binning (same names and defaults).

    Attributes
    ----------
    metric_method
        ``iv`` (default), ``gini``, ``chi_square`` (``chi-square`` and any case are read too) or
        ``ks``; see the module docstring.
    min_bin_pct
        In [0, 1]: each final bin should hold at least this share of the rows (default 0.05).
    max_bin_pct
        In (0, 1], ``>= min_bin_pct``: no merge may make a bin hold more than this share
        (default 1.0, no limit). ``ceil(1 / max_bin_pct)`` must not exceed ``bin_num``
        (checked by :func:`optimal_groups`, which knows ``bin_num``).
    init_bin_nums
        Number of fine bins cut before merging (default 1000).
    mixture
        Every final bin should hold events and non-events (default true).
    init_bucket_method
        How the fine bins are cut: ``quantile`` (default) or ``bucket``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    metric_method: Annotated[str, BeforeValidator(_metric)] = "iv"
    min_bin_pct: Annotated[float, number(ge=0, le=1)] = 0.05
    max_bin_pct: Annotated[float, number(gt=0, le=1)] = 1.0
    init_bin_nums: Annotated[int, integer(ge=2)] = 1000
    mixture: Annotated[bool, flag()] = True
    init_bucket_method: Annotated[str, one_of("quantile", "bucket", ignore_case=True)] = "quantile"

    @field_validator("max_bin_pct")
    @classmethod
    def _not_below_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min_bin_pct")
        if low is not None and value < low:
            raise ValueError(f"must be >= min_bin_pct ({low:g})")
        return value

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None = None, *, component: str | None = None) -> Self:
        """Validate a FATE-style dict; any problem is a ConfigError naming the field."""
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(
                f"optimal_binning_param must be a JSON object. Got {type(values).__name__}.",
                component=component,
                field="optimal_binning_param",
            )
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as exc:
            raise config_error(exc, "optimal_binning_param", component) from None


# --- bottom-up merging -------------------------------------------------------------------------

# A phase's constraint: which pairs (given "bad" flags of their two bins) are candidates.
_BOTH = "both"  # both bins violate the phase's condition
_EITHER = "either"  # at least one does


def _scorer(
    metric: str, ev: list[int], ne: list[int], event_total: int, non_event_total: int, a: float
) -> tuple[Callable[[int, int], float], Callable[[int], None]]:
    """The cost of merging the live bins ``(p, q)`` (reading the counts in ``ev`` / ``ne``), and
    the hook to call after bin ``k`` absorbed its right neighbour (refreshes the IV cache)."""
    big_e = float(max(event_total, 1))
    big_n = float(max(non_event_total, 1))

    def bin_iv(e: int, n: int) -> float:
        # The rule of woe.woe_iv, one bin at a time (scalar: merging touches one bin per step).
        if e == 0 or n == 0:
            er, nr = (e + a) / big_e, (n + a) / big_n
        else:
            er, nr = e / big_e, n / big_n
        return (er - nr) * math.log(er / nr)

    if metric == "iv":
        cache = [bin_iv(e, n) for e, n in zip(ev, ne, strict=True)]

        def iv_cost(p: int, q: int) -> float:
            e, n = ev[p] + ev[q], ne[p] + ne[q]
            if e + n == 0:
                return -math.inf
            return cache[p] + cache[q] - bin_iv(e, n)

        def refresh(k: int) -> None:
            cache[k] = bin_iv(ev[k], ne[k])

        return iv_cost, refresh

    chi = metric == "chi_square"

    def pair_cost(p: int, q: int) -> float:
        el, nl, er, nr = ev[p], ne[p], ev[q], ne[q]
        tl, tr = el + nl, er + nr
        total = tl + tr
        if total == 0 or (chi and (el + er == 0 or nl + nr == 0)):
            return -math.inf
        if tl == 0 or tr == 0:
            return 0.0
        d = el * nr - er * nl
        # Exact integers and one correctly rounded division: equal costs are equal floats.
        if chi:
            return (total * d * d) / (tl * tr * (el + er) * (nl + nr))
        return (2 * d * d) / (total * tl * tr)

    return pair_cost, lambda k: None


class _Chain:
    """The live bins of a bottom-up merge as a linked list, so a merge touches only its neighbours.

    A bin is named by its first fine bin; ``end`` / ``nxt`` / ``prv`` describe the live bins,
    ``version[k]`` changes whenever bin ``k`` changes (-1: ``k`` was merged into its left neighbour),
    so heap entries of changed bins can be recognised as stale.
    """

    def __init__(
        self,
        ev: list[int],
        ne: list[int],
        cost: Callable[[int, int], float],
        merged: Callable[[int], None],
        max_item: int,
    ) -> None:
        m = len(ev)
        self.ev, self.ne = ev, ne
        self.cost, self.merged = cost, merged
        self.max_item = max_item
        self.end = list(range(m))
        self.nxt = [*range(1, m), -1]
        self.prv = [-1, *range(m - 1)]
        self.version = [0] * m
        self.live = m

    def candidate(self, p: int, q: int, bad: Callable[[int], bool] | None, both: bool) -> bool:
        """Whether the phase may merge ``(p, q)``: within ``max_item`` and touching the bad bins it fixes."""
        ev, ne = self.ev, self.ne
        if ev[p] + ne[p] + ev[q] + ne[q] > self.max_item:
            return False
        if bad is None:
            return True
        return (bad(p) and bad(q)) if both else (bad(p) or bad(q))

    def entry(self, p: int, q: int) -> tuple[float, int, int, int, int]:
        """A heap entry for ``(p, q)``, carrying both versions to detect it going stale."""
        return (self.cost(p, q), p, self.version[p], q, self.version[q])

    def join(self, p: int, q: int) -> None:
        """Merge bin ``q`` into its left neighbour ``p``."""
        ev, ne, nxt = self.ev, self.ne, self.nxt
        ev[p] += ev[q]
        ne[p] += ne[q]
        self.end[p] = self.end[q]
        nxt[p] = nxt[q]
        if nxt[q] != -1:
            self.prv[nxt[q]] = p
        self.version[p] += 1
        self.version[q] = -1
        self.live -= 1
        self.merged(p)

    def groups(self) -> list[int]:
        """The last fine bin of each live bin, left to right."""
        groups = []
        k = 0
        while k != -1:
            groups.append(self.end[k])
            k = self.nxt[k]
        return groups


def _phase_start(
    chain: _Chain, bad: Callable[[int], bool] | None, both: bool
) -> tuple[list[tuple[float, int, int, int, int]], int]:
    """The phase's candidate pairs as a heap, and how many bad bins there are to fix."""
    heap: list[tuple[float, int, int, int, int]] = []
    aim = 0
    k = 0
    while k != -1:
        q = chain.nxt[k]
        if bad is not None and bad(k):
            aim += 1
        if q != -1 and chain.candidate(k, q, bad, both):
            heap.append(chain.entry(k, q))
        k = q
    heapq.heapify(heap)  # (cost, left bin, ...): equal costs pop the left-most pair first
    return heap, aim


def _run_phase(chain: _Chain, bad: Callable[[int], bool] | None, both: bool, bin_num: int) -> None:
    """One phase: merge candidate pairs, cheapest first, while ``bad`` bins remain (or, with
    ``bad`` None, while more than ``bin_num`` bins remain)."""
    heap, aim = _phase_start(chain, bad, both)
    if bad is None:
        aim = chain.live - bin_num
    while aim > 0 and heap:
        _, p, vp, q, vq = heapq.heappop(heap)
        if chain.version[p] != vp or chain.version[q] != vq:
            continue  # stale: a bin of this pair changed after the entry was pushed
        before = int(bad(p)) + int(bad(q)) if bad is not None else 0
        chain.join(p, q)
        aim = aim - before + int(bad(p)) if bad is not None else aim - 1
        left, right = chain.prv[p], chain.nxt[p]
        if left != -1 and chain.candidate(left, p, bad, both):
            heapq.heappush(heap, chain.entry(left, p))
        if right != -1 and chain.candidate(p, right, bad, both):
            heapq.heappush(heap, chain.entry(p, right))


def _merge(
    ev: list[int],
    ne: list[int],
    bin_num: int,
    metric: str,
    *,
    min_item: int,
    max_item: int,
    mixture: bool,
    event_total: int,
    non_event_total: int,
    a: float,
) -> list[int]:
    """Bottom-up merging (the five phases of the module docstring); the groups' last fine bins."""
    cost, merged = _scorer(metric, ev, ne, event_total, non_event_total, a)
    chain = _Chain(ev, ne, cost, merged, max_item)

    def unmixed(k: int) -> bool:
        return ev[k] == 0 or ne[k] == 0

    def small(k: int) -> bool:
        return ev[k] + ne[k] < min_item

    if mixture:
        _run_phase(chain, unmixed, True, bin_num)
        _run_phase(chain, unmixed, False, bin_num)
    _run_phase(chain, small, True, bin_num)
    _run_phase(chain, small, False, bin_num)
    _run_phase(chain, None, False, bin_num)
    return chain.groups()


# --- top-down KS splitting ---------------------------------------------------------------------


def _ks_split(e: np.ndarray, n: np.ndarray, bin_num: int, *, min_item: int, mixture: bool) -> list[int]:
    """FATE's KS splitting (module docstring); the groups' last fine bins."""
    m = e.shape[0]
    cum_e = np.concatenate(([0], np.cumsum(e)))
    cum_n = np.concatenate(([0], np.cumsum(n)))
    cuts: list[int] = []
    queue = deque([(0, m)])  # half-open ranges [start, stop) of fine bins
    while queue and len(cuts) < bin_num - 1:
        start, stop = queue.popleft()
        length = stop - start
        if length < 2:
            continue
        events = int(cum_e[stop] - cum_e[start])
        non_events = int(cum_n[stop] - cum_n[start])
        if events == 0 or non_events == 0:
            continue
        # Cut after fine bin start + j, j in [0, length - 2]: both sides non-empty.
        left_e = cum_e[start + 1 : stop] - cum_e[start]
        left_n = cum_n[start + 1 : stop] - cum_n[start]
        ks = np.abs(left_e / events - left_n / non_events)
        middle = min(length // 2, length - 2)
        j = int(np.argmax(ks)) if ks.max() > 0 else middle
        side = left_e + left_n  # rows left of each cut
        if min(int(side[j]), events + non_events - int(side[j])) < min_item:
            j = middle
        left_total = int(side[j])
        right_total = events + non_events - left_total
        if left_total < min_item or right_total < min_item:
            continue
        if mixture:
            le, ln = int(left_e[j]), int(left_n[j])
            if not (le > 0 and ln > 0 and events - le > 0 and non_events - ln > 0):
                continue
        cut = start + j
        cuts.append(cut)
        halves = [(start, cut + 1), (cut + 1, stop)]
        queue.extend(reversed(halves) if right_total > left_total else halves)
    return [*sorted(cuts), m - 1]


# --- public API --------------------------------------------------------------------------------


def _slack_ceil(x: float) -> int:
    return math.ceil(x - 1e-9)


def _slack_floor(x: float) -> int:
    return math.floor(x + 1e-9)


def _check_bin_params(bin_num: Any, params: Any) -> int:
    """``bin_num`` as an int, refusing it or ``params`` when no grouping could satisfy them."""
    if isinstance(bin_num, bool) or not isinstance(bin_num, int | np.integer) or bin_num < 1:
        raise ConfigError(f"must be an int >= 1. Got {bin_num!r}.", field="bin_num")
    bin_num = int(bin_num)
    if not isinstance(params, OptimalBinningParams):
        raise ConfigError(
            f"must be OptimalBinningParams. Got {type(params).__name__}.", field="optimal_binning_param"
        )
    if math.ceil(1.0 / params.max_bin_pct - 1e-9) > bin_num:
        raise ConfigError(
            f"ceil(1 / max_bin_pct) must not exceed bin_num ({bin_num}): no {bin_num} bins can hold "
            f"every row with at most {params.max_bin_pct:g} of them each. Got {params.max_bin_pct!r}.",
            field="optimal_binning_param.max_bin_pct",
        )
    return bin_num


def _check_bin_counts(event_count: np.ndarray, non_event_count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The event and non-event counts as checked arrays, one count per fine bin in both."""
    e = _counts(event_count, "event_count")
    n = _counts(non_event_count, "non_event_count")
    if e.shape != n.shape:
        raise DataError(
            f"has {n.shape[0]} bins but event_count has {e.shape[0]}; give one count per bin to both.",
            field="non_event_count",
        )
    return e, n


def _column_totals(e: np.ndarray, n: np.ndarray, totals: tuple[int, int] | None) -> tuple[int, int]:
    """The column's event and non-event totals: FATE counts the missing bin's rows in them too."""
    event_total, non_event_total = int(e.sum()), int(n.sum())
    if totals is not None:
        te, tn = (int(v) for v in totals)
        if te < event_total or tn < non_event_total:
            raise DataError(
                f"({te}, {tn}) must be at least the sums of the bins ({event_total}, {non_event_total}).",
                field="totals",
            )
        event_total, non_event_total = te, tn
    return event_total, non_event_total


def optimal_groups(
    event_count: np.ndarray,
    non_event_count: np.ndarray,
    bin_num: int,
    params: OptimalBinningParams,
    *,
    adjustment_factor: float = 0.5,
    totals: tuple[int, int] | None = None,
) -> list[int]:
    """Group a feature's fine bins into at most ``bin_num`` bins (FATE's optimal binning).

    Parameters
    ----------
    event_count, non_event_count
        Per fine value bin (the missing bin excluded), in value order; whole non-negative counts.
    bin_num
        The largest number of bins wanted (FATE's ``bin_num``), >= 1.
    params
        The ``optimal_binning_param`` block; ``metric_method``, ``min_bin_pct``,
        ``max_bin_pct`` and ``mixture`` are used here (the ``init_*`` fields say how the fine
        bins were cut).
    adjustment_factor
        For the ``iv`` metric: as in :func:`fedloom.ml.feature.woe.woe_iv` (FATE copies the
        binning's ``adjustment_factor`` into the optimal parameters).
    totals
        ``(events, non_events)`` of the whole column, rows of the missing bin included. FATE
        computes the IV rates and the sample count ``S`` (for ``min_bin_pct`` /
        ``max_bin_pct``) over all rows; default: the sums of the given bins.

    Returns
    -------
    list of int
        The index of the last fine bin of each merged bin, strictly ascending, the last one
        ``len(event_count) - 1``; fine bins ``groups[g-1] + 1 .. groups[g]`` form bin ``g``.
        No fine bins (an all-missing column) gives ``[]``.

    Raises
    ------
    DataError
        Counts that are not 1-D of one length, negative or fractional; ``totals`` smaller than
        the sums of the bins.
    ConfigError
        ``bin_num`` < 1, ``ceil(1 / max_bin_pct) > bin_num`` (FATE's check), or a bad
        ``adjustment_factor``.
    """
    bin_num = _check_bin_params(bin_num, params)
    a = _check_factor(adjustment_factor)
    e, n = _check_bin_counts(event_count, non_event_count)
    if e.shape[0] == 0:
        return []
    event_total, non_event_total = _column_totals(e, n, totals)
    samples = event_total + non_event_total
    min_item = _slack_ceil(params.min_bin_pct * samples)
    max_item = _slack_floor(params.max_bin_pct * samples)

    if params.metric_method == "ks":
        groups = _ks_split(e, n, bin_num, min_item=min_item, mixture=params.mixture)
    else:
        groups = _merge(
            e.tolist(),
            n.tolist(),
            bin_num,
            params.metric_method,
            min_item=min_item,
            max_item=max_item,
            mixture=params.mixture,
            event_total=event_total,
            non_event_total=non_event_total,
            a=a,
        )
    if len(groups) > bin_num:
        log.warning(
            "optimal binning kept %d bins (bin_num %d): max_bin_pct %g allows no further merge",
            len(groups),
            bin_num,
            params.max_bin_pct,
        )
    return groups


def merge_bins(bins: ColumnBins, last_fine: Sequence[int]) -> ColumnBins:
    """The bins of ``bins`` merged into the groups ``last_fine`` of :func:`optimal_groups`.

    Parameters
    ----------
    bins
        The fine bins of one column.
    last_fine
        The last fine value bin of each merged bin, strictly ascending, ending at
        ``bins.n_value_bins - 1`` (empty for a column without value bins).

    Returns
    -------
    ColumnBins
        Numeric: ``split_points = bins.split_points[last_fine]`` (a merged bin's upper bound is
        that of its last fine bin, so every value keeps its group); the missing bin is kept
        (``has_missing`` unchanged; it stays the last bin). A categorical column is returned
        unchanged when every category keeps its own bin (``ColumnBins`` cannot group
        categories; FATE does not merge categorical features either).

    Raises
    ------
    DataError
        ``last_fine`` not strictly ascending within range, not ending at the last value bin, or
        grouping the categories of a categorical column (field ``last_fine``).
    """
    groups = [int(g) for g in last_fine]
    n_fine = bins.n_value_bins
    if n_fine == 0 and not groups:
        return bins
    if (
        not groups
        or groups[-1] != n_fine - 1
        or groups[0] < 0
        or any(b <= a for a, b in itertools.pairwise(groups))
    ):
        raise DataError(
            f"must be strictly ascending last fine bins ending at {n_fine - 1}. Got {_short(groups)}.",
            field="last_fine",
        )
    if bins.is_categorical:
        if groups != list(range(n_fine)):
            raise DataError(
                f"cannot group the categories of categorical column {bins.name!r}.", field="last_fine"
            )
        return bins
    return dataclasses.replace(bins, split_points=tuple(bins.split_points[g] for g in groups))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
