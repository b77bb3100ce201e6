"""Weight of evidence (WOE) and information value (IV) of binned features, FATE 1.x's rules.

For one feature cut into bins :math:`i = 1..k`, let :math:`e_i` and :math:`n_i` be the numbers
of events (``y = 1``) and non-events (``y = 0``) in bin :math:`i`, and
:math:`E = \\max(\\sum_i e_i, 1)`, :math:`N = \\max(\\sum_i n_i, 1)` (the ``max`` only keeps a
label-free column from dividing by zero). Then, with the adjustment factor :math:`a`
(``adjustment_factor``, default 0.5)::

    event_rate_i     = e_i / E              non_event_rate_i = n_i / N          if e_i > 0 and n_i > 0
    event_rate_i     = (e_i + a) / E        non_event_rate_i = (n_i + a) / N    otherwise
    woe_i = ln(event_rate_i / non_event_rate_i)
    iv_i  = (event_rate_i - non_event_rate_i) * woe_i
    iv    = sum_i iv_i

A bin with no events or no non-events adds :math:`a` to *both* of its counts, so its WOE stays
finite; the other bins are untouched, and the totals :math:`E`, :math:`N` are never adjusted.
These are the rules of FATE 1.x's ``IvCalculator.woe_1d`` (``federatedml/feature/binning``), so
a fedloom binning model reports the same ``woeArray`` / ``ivArray`` / ``iv`` as FATE for the same
counts. Every :math:`iv_i \\ge 0` (its two factors have the same sign), hence :math:`iv \\ge 0`.

Multi-class labels are handled one-vs-rest (:func:`one_vs_rest`): class :math:`k`'s events in a
bin are the rows of class :math:`k`, its non-events the rows of every other class, as FATE does.

Everything here is local arithmetic on counts: in hetero binning the guest gets a host's counts
by decrypting the host's encrypted per-bin label sums (see :mod:`fedloom.ml.hetero.binning`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedloom.core.errors import ConfigError, DataError

__all__ = ["BinStats", "one_vs_rest", "woe_iv"]

_COUNT_FIELDS = ("event_count", "non_event_count")
_RATE_FIELDS = ("event_rate", "non_event_rate", "woe", "iv_array")


@dataclass(frozen=True, eq=False)
class BinStats:
    """Per-bin label counts of one feature and the WOE / IV computed from them.

    Attributes
    ----------
    event_count, non_event_count
        ``int64`` arrays, one entry per bin (the missing bin included when the feature has one).
    event_rate, non_event_rate
        ``float64``: the share of all events (non-events) that fall in the bin, adjusted as in the
        module docstring for a bin lacking events or non-events.
    woe
        ``float64``: ``ln(event_rate / non_event_rate)`` per bin.
    iv_array
        ``float64``: each bin's share of the IV, ``(event_rate - non_event_rate) * woe``.
    iv
        The information value, ``sum(iv_array)``.

    Instances are immutable; arrays are compared with :func:`numpy.array_equal`, not ``==``
    (``eq`` is off because numpy arrays have no single truth value).
    """

    event_count: np.ndarray
    non_event_count: np.ndarray
    event_rate: np.ndarray
    non_event_rate: np.ndarray
    woe: np.ndarray
    iv_array: np.ndarray
    iv: float

    @property
    def n_bins(self) -> int:
        """The number of bins."""
        return int(self.event_count.shape[0])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: every array as a list (counts as ints), plus ``"iv"`` as a float."""
        out: dict[str, object] = {name: [int(v) for v in getattr(self, name)] for name in _COUNT_FIELDS}
        for name in _RATE_FIELDS:
            out[name] = [float(v) for v in getattr(self, name)]
        out["iv"] = float(self.iv)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> BinStats:
        """Rebuild from :meth:`to_dict`'s output (values are taken as stored, not recomputed).

        Raises
        ------
        DataError
            Naming the field: a missing key, a value that is not a list of numbers (counts:
            non-negative integers; rates: finite numbers), lists of different lengths, or an
            ``iv`` that is not a finite number.
        """
        if not isinstance(d, Mapping):
            raise DataError(f"bin statistics must be a JSON object. Got {type(d).__name__}.", field="stats")
        arrays: dict[str, np.ndarray] = {}
        for name in (*_COUNT_FIELDS, *_RATE_FIELDS):
            if name not in d:
                raise DataError("is missing from the bin statistics.", field=name)
            arrays[name] = _read_list(d[name], name, counts=name in _COUNT_FIELDS)
        lengths = {name: a.shape[0] for name, a in arrays.items()}
        if len(set(lengths.values())) > 1:
            bad = next(name for name, n in lengths.items() if n != lengths["event_count"])
            raise DataError(
                f"has {lengths[bad]} entries but 'event_count' has {lengths['event_count']}; "
                "every per-bin list must have one entry per bin.",
                field=bad,
            )
        iv = d.get("iv")
        if isinstance(iv, bool) or not isinstance(iv, int | float) or not math.isfinite(iv):
            raise DataError(f"must be a finite number. Got {iv!r}.", field="iv")
        return cls(iv=float(iv), **arrays)


def _read_list(value: object, name: str, *, counts: bool) -> np.ndarray:
    """One stored per-bin list as an array, or a DataError naming ``name``."""
    what = "a list of non-negative integers" if counts else "a list of finite numbers"
    if not isinstance(value, list | tuple) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in value
    ):
        raise DataError(f"must be {what}. Got {_short(value)}.", field=name)
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or (counts and (np.any(arr < 0) or np.any(arr != np.floor(arr)))):
        raise DataError(f"must be {what}. Got {_short(value)}.", field=name)
    return arr.astype(np.int64) if counts else arr


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _counts(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D int64 count vector (whole, non-negative numbers), or a DataError."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"must be a 1-D array of per-bin counts. Got shape {arr.shape}.", field=name)
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == np.bool_ or not numeric:
        raise DataError(f"must hold numbers. Got dtype {arr.dtype}.", field=name)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
        # Counts arrive as floats when they are decrypted sums; they must still be whole.
        raise DataError("must hold whole numbers (counts of rows).", field=name)
    if np.any(arr < 0):
        raise DataError(f"must be non-negative. Got {arr.min()!r}.", field=name)
    return arr.astype(np.int64)


def _check_factor(adjustment_factor: float) -> float:
    if (
        isinstance(adjustment_factor, bool)
        or not isinstance(adjustment_factor, int | float)
        or not math.isfinite(adjustment_factor)
        or adjustment_factor <= 0
    ):
        # Zero would give a bin without events a rate of 0 and an infinite WOE.
        raise ConfigError(
            f"must be a finite number > 0. Got {adjustment_factor!r}.", field="adjustment_factor"
        )
    return float(adjustment_factor)


def woe_iv(event_count: ArrayLike, non_event_count: ArrayLike, adjustment_factor: float = 0.5) -> BinStats:
    """WOE and IV of one feature from its per-bin event and non-event counts (FATE 1.x rules).

    Parameters
    ----------
    event_count, non_event_count
        Per-bin counts, one entry per bin, equal lengths; whole non-negative numbers (integer
        arrays, or float arrays holding whole values such as decrypted sums).
    adjustment_factor
        :math:`a` > 0, added to both counts of a bin that has no events or no non-events.

    Returns
    -------
    BinStats
        The counts, the (adjusted) rates, ``woe``, ``iv_array`` and ``iv``; see the module
        docstring for the formulas. No bins gives empty arrays and ``iv == 0``.

    Raises
    ------
    DataError
        Counts that are not 1-D, of different lengths, negative or fractional (names the field).
    ConfigError
        ``adjustment_factor`` not a finite number > 0.
    """
    a = _check_factor(adjustment_factor)
    e = _counts(event_count, "event_count")
    n = _counts(non_event_count, "non_event_count")
    if e.shape != n.shape:
        raise DataError(
            f"has {n.shape[0]} bins but event_count has {e.shape[0]}; give one count per bin to both.",
            field="non_event_count",
        )
    # FATE divides by the raw totals, replaced by 1 when zero (a column without events or
    # without non-events); the adjustment never enters the totals.
    event_total = float(max(int(e.sum()), 1))
    non_event_total = float(max(int(n.sum()), 1))
    adjusted = (e == 0) | (n == 0)
    ef = e.astype(np.float64)
    nf = n.astype(np.float64)
    event_rate = np.where(adjusted, ef + a, ef) / event_total
    non_event_rate = np.where(adjusted, nf + a, nf) / non_event_total
    woe = np.log(event_rate / non_event_rate)
    iv_array = (event_rate - non_event_rate) * woe
    return BinStats(
        event_count=e,
        non_event_count=n,
        event_rate=event_rate,
        non_event_rate=non_event_rate,
        woe=woe,
        iv_array=iv_array,
        iv=float(iv_array.sum()),
    )


def one_vs_rest(label_counts: np.ndarray, adjustment_factor: float = 0.5) -> list[BinStats]:
    """WOE / IV of one feature for each class of a multi-class label, one class against the rest.

    Parameters
    ----------
    label_counts
        ``(n_bins, n_classes)`` whole non-negative counts: ``label_counts[i, k]`` rows of class
        ``k`` fall in bin ``i``.
    adjustment_factor
        As in :func:`woe_iv`.

    Returns
    -------
    list of BinStats
        Entry ``k`` is ``woe_iv(label_counts[:, k], label_counts.sum(axis=1) - label_counts[:, k])``:
        class ``k``'s rows are the events, every other class's rows the non-events (FATE's
        ``mask_label``).

    Raises
    ------
    DataError
        ``label_counts`` not 2-D, or with negative or fractional entries (field ``label_counts``).
    """
    arr = np.asarray(label_counts)
    if arr.ndim != 2:
        raise DataError(
            f"must be a 2-D (n_bins, n_classes) array of counts. Got shape {arr.shape}.", field="label_counts"
        )
    n_classes = int(arr.shape[1])
    counts = _counts(arr.reshape(-1), "label_counts").reshape(arr.shape)
    row_total = counts.sum(axis=1)
    return [woe_iv(counts[:, k], row_total - counts[:, k], adjustment_factor) for k in range(n_classes)]
