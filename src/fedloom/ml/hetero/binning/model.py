"""The fitted binning of one party: its columns' bins and scores, plain numbers only.

:meth:`BinningModel.to_dict` is the stored model (the component's artifact ``"model"``, read by
feature selection and by predict jobs)::

    {"method": "quantile", "bin_num": 10,
     "classes": [0, 1] | None,              # the guest's label values (None on a host)
     "multi_class": false,
     "columns": {                           # this party's binned columns
        "x0": {"bins": ColumnBins.to_dict(),
               "iv": float | {class: float} | None,
               "stats": BinStats.to_dict() | {class: BinStats.to_dict()} | None,
               "woe_from_guest": bool,
               "woe": [float, ...] | None}},   # host only, when the guest returned them
     "host_columns": {                      # guest only: the hosts' columns, by anonymous name
        "host_10000_3": {"party": "host-10000", "n_bins": 5, "iv": ..., "stats": ...}},
     "anonymous": {"x3": "host_10000_3"},   # host only: its columns' anonymous names
     "work": {"encryptions": int, "ciphertexts_received": int, "ciphertexts_sent": int,
              "decryptions": int}}

Multi-class labels (one-vs-rest) key ``iv`` and ``stats`` by the class as a string
(:func:`class_key`: ``2`` and ``2.0`` are both ``"2"``). A host never holds the counts of its
bins: its ``stats`` and ``iv`` are ``None``, and ``woe`` holds what the guest returned for the
columns it transforms by WOE (binary labels only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedloom.core.errors import DataError
from fedloom.ml.feature.bins import ColumnBins
from fedloom.ml.feature.woe import BinStats

#: Per-class values of a multi-class (one-vs-rest) model, by :func:`class_key`.
PerClass = dict[str, BinStats]


def class_key(label: object) -> str:
    """A label value as a JSON key: integral numbers without a fraction (``2.0`` → ``"2"``)."""
    if isinstance(label, bool | np.bool_):
        return str(int(label))
    if isinstance(label, int | np.integer):
        return str(int(label))
    if isinstance(label, float | np.floating):
        v = float(label)
        return str(int(v)) if v.is_integer() else repr(v)
    return str(label)


def _plain(label: object) -> object:
    """A numpy scalar as the JSON-able Python value."""
    return label.item() if isinstance(label, np.generic) else label


def _iv(stats: BinStats | PerClass | None) -> float | dict[str, float] | None:
    if stats is None:
        return None
    if isinstance(stats, BinStats):
        return float(stats.iv)
    return {k: float(s.iv) for k, s in stats.items()}


def _stats_to_dict(stats: BinStats | PerClass | None) -> object:
    if stats is None:
        return None
    if isinstance(stats, BinStats):
        return stats.to_dict()
    return {k: s.to_dict() for k, s in stats.items()}


def _stats_from_dict(value: object, where: str) -> BinStats | PerClass | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataError(f"binning model: {where}.stats must be an object or null", field=f"{where}.stats")
    if "iv" in value and not isinstance(value["iv"], Mapping):
        return BinStats.from_dict(dict(value))
    out: PerClass = {}
    for k, s in value.items():
        if not isinstance(s, Mapping):
            raise DataError(f"binning model: {where}.stats[{k!r}] must be an object", field=f"{where}.stats")
        out[str(k)] = BinStats.from_dict(dict(s))
    return out


def _woe_from_dict(value: object, where: str) -> np.ndarray | dict[str, np.ndarray] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): _floats(v, where) for k, v in value.items()}
    return _floats(value, where)


def _floats(value: object, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.empty(0)
        ok = False
    else:
        ok = arr.ndim == 1 and bool(np.all(np.isfinite(arr)))
    if not ok:
        raise DataError(f"binning model: {where}.woe must be a list of finite numbers", field=f"{where}.woe")
    return arr


@dataclass
class ColumnResult:
    """One of this party's binned columns.

    Attributes
    ----------
    bins
        The bins (split points or categories, missing bin).
    stats
        Guest: the column's counts, WOE and IV (per class with multi-class labels); host: None.
    woe_from_guest
        Host: the guest returned this column's WOE (its ``transform_param`` asked for it).
    woe
        Host: the WOE per bin the guest returned (None otherwise). Guest: read ``stats.woe``.
    """

    bins: ColumnBins
    stats: BinStats | PerClass | None = None
    woe_from_guest: bool = False
    woe: np.ndarray | dict[str, np.ndarray] | None = None

    @property
    def iv(self) -> float | dict[str, float] | None:
        """The column's IV (per class with multi-class labels), or None without counts."""
        return _iv(self.stats)

    def woe_values(self) -> np.ndarray | dict[str, np.ndarray] | None:
        """The WOE per bin this party knows (its own counts, or the guest's answer), or None."""
        if self.woe is not None:
            return self.woe
        if isinstance(self.stats, BinStats):
            return np.asarray(self.stats.woe)
        if isinstance(self.stats, dict):
            return {k: np.asarray(s.woe) for k, s in self.stats.items()}
        return None

    def to_dict(self) -> dict[str, object]:
        """This column's entry of ``BinningModel.to_dict()["columns"]``."""
        woe: object = None
        if isinstance(self.woe, dict):
            woe = {k: [float(x) for x in v] for k, v in self.woe.items()}
        elif self.woe is not None:
            woe = [float(x) for x in self.woe]
        return {
            "bins": self.bins.to_dict(),
            "iv": self.iv,
            "stats": _stats_to_dict(self.stats),
            "woe_from_guest": self.woe_from_guest,
            "woe": woe,
        }

    @classmethod
    def from_dict(cls, d: object, where: str) -> ColumnResult:
        """Read one column entry (DataError naming the column on bad input)."""
        if not isinstance(d, Mapping) or "bins" not in d:
            raise DataError(f"binning model: column {where} must be an object with 'bins'", field=where)
        bins = d["bins"]
        if not isinstance(bins, Mapping):
            raise DataError(f"binning model: {where}.bins must be an object", field=where)
        return cls(
            bins=ColumnBins.from_dict(dict(bins)),
            stats=_stats_from_dict(d.get("stats"), where),
            woe_from_guest=bool(d.get("woe_from_guest", False)),
            woe=_woe_from_dict(d.get("woe"), where),
        )


@dataclass
class HostColumnResult:
    """A host column as the guest knows it: its owner, bin count and label statistics."""

    party: str
    n_bins: int
    stats: BinStats | PerClass

    @property
    def iv(self) -> float | dict[str, float]:
        """The column's IV (per class with multi-class labels)."""
        iv = _iv(self.stats)
        assert iv is not None
        return iv

    def to_dict(self) -> dict[str, object]:
        """This column's entry of ``BinningModel.to_dict()["host_columns"]``."""
        return {
            "party": self.party,
            "n_bins": self.n_bins,
            "iv": self.iv,
            "stats": _stats_to_dict(self.stats),
        }

    @classmethod
    def from_dict(cls, d: object, where: str) -> HostColumnResult:
        """Read one host column entry (DataError naming it on bad input)."""
        if not isinstance(d, Mapping) or not {"party", "n_bins", "stats"} <= set(d):
            raise DataError(
                f"binning model: host column {where} must have 'party', 'n_bins' and 'stats'", field=where
            )
        stats = _stats_from_dict(d["stats"], where)
        n_bins = d["n_bins"]
        if stats is None or not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 0:
            raise DataError(f"binning model: host column {where} needs stats and an int n_bins", field=where)
        return cls(party=str(d["party"]), n_bins=n_bins, stats=stats)


@dataclass
class Work:
    """What a fit cost in cryptography: counted by the party that did it.

    Attributes
    ----------
    encryptions
        Ciphertexts this party encrypted (guest: one per row, once).
    ciphertexts_sent, ciphertexts_received
        Ciphertexts (packed ones count once) this party sent / received.
    decryptions
        Ciphertexts this party decrypted (guest: about bins × columns / slots per host).
    """

    encryptions: int = 0
    ciphertexts_received: int = 0
    ciphertexts_sent: int = 0
    decryptions: int = 0

    def to_dict(self) -> dict[str, int]:
        """The four counters."""
        return {
            "encryptions": self.encryptions,
            "ciphertexts_received": self.ciphertexts_received,
            "ciphertexts_sent": self.ciphertexts_sent,
            "decryptions": self.decryptions,
        }

    @classmethod
    def from_dict(cls, d: object) -> Work:
        """Read the counters (missing ones are 0)."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise DataError("binning model: 'work' must be an object", field="work")
        values = {}
        for k in ("encryptions", "ciphertexts_received", "ciphertexts_sent", "decryptions"):
            v = d.get(k, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise DataError(f"binning model: work.{k} must be an int >= 0", field=f"work.{k}")
            values[k] = v
        return cls(**values)


@dataclass
class BinningModel:
    """One party's fitted hetero binning (see the module docstring for the stored layout).

    Attributes
    ----------
    method, bin_num
        The binning's ``method`` and ``bin_num``.
    classes
        Guest: the label values, ascending (None on a host).
    multi_class
        More than two classes: statistics are one-vs-rest, per class.
    columns
        This party's binned columns by name, in the data's order.
    host_columns
        Guest: the hosts' columns by anonymous name ``host_<party_id>_<feature index>``.
    anonymous
        Host: its columns' anonymous names (what the guest calls them).
    work
        Cryptographic work counters.
    seconds
        Seconds per phase of the fit (not stored by :meth:`to_dict`; shown by :meth:`summary`).
    traffic
        Bytes sent / received during the fit when the transport counts them (not stored).
    """

    method: str
    bin_num: int
    classes: list[Any] | None = None
    multi_class: bool = False
    columns: dict[str, ColumnResult] = field(default_factory=dict)
    host_columns: dict[str, HostColumnResult] = field(default_factory=dict)
    anonymous: dict[str, str] = field(default_factory=dict)
    work: Work = field(default_factory=Work)
    seconds: dict[str, float] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)

    @property
    def class_keys(self) -> list[str] | None:
        """The classes as JSON keys (:func:`class_key`), or None on a host."""
        return None if self.classes is None else [class_key(c) for c in self.classes]

    def iv(self) -> dict[str, float | dict[str, float] | None]:
        """IV of every column this party knows: own columns first, then the hosts' (guest)."""
        out: dict[str, float | dict[str, float] | None] = {n: c.iv for n, c in self.columns.items()}
        out.update({n: c.iv for n, c in self.host_columns.items()})
        return out

    def to_dict(self) -> dict[str, object]:
        """The stored model (JSON-able; see the module docstring)."""
        return {
            "method": self.method,
            "bin_num": self.bin_num,
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "multi_class": self.multi_class,
            "columns": {n: c.to_dict() for n, c in self.columns.items()},
            "host_columns": {n: c.to_dict() for n, c in self.host_columns.items()},
            "anonymous": dict(self.anonymous),
            "work": self.work.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: object) -> BinningModel:
        """Read a stored model (DataError naming the bad field)."""
        if not isinstance(d, Mapping):
            raise DataError(f"a binning model is a JSON object. Got {type(d).__name__}.", field="model")
        for key in ("method", "bin_num", "columns"):
            if key not in d:
                raise DataError(f"binning model: missing '{key}'", field=key)
        columns = d["columns"]
        hosts = d.get("host_columns") or {}
        anonymous = d.get("anonymous") or {}
        classes = d.get("classes")
        if (
            not isinstance(columns, Mapping)
            or not isinstance(hosts, Mapping)
            or not isinstance(anonymous, Mapping)
        ):
            raise DataError("binning model: columns, host_columns and anonymous are objects", field="columns")
        if classes is not None and not isinstance(classes, list):
            raise DataError("binning model: classes must be a list or null", field="classes")
        bin_num = d["bin_num"]
        if not isinstance(bin_num, int) or isinstance(bin_num, bool):
            raise DataError("binning model: bin_num must be an int", field="bin_num")
        return cls(
            method=str(d["method"]),
            bin_num=bin_num,
            classes=None if classes is None else list(classes),
            multi_class=bool(d.get("multi_class", False)),
            columns={str(n): ColumnResult.from_dict(c, str(n)) for n, c in columns.items()},
            host_columns={str(n): HostColumnResult.from_dict(c, str(n)) for n, c in hosts.items()},
            anonymous={str(k): str(v) for k, v in anonymous.items()},
            work=Work.from_dict(d.get("work")),
        )

    def summary(self) -> dict[str, object]:
        """Metrics for the component: IVs, bins per column, work counters, seconds, bytes."""

        def rounded(v: float | dict[str, float] | None) -> object:
            if v is None:
                return None
            if isinstance(v, dict):
                return {k: _finite(x) for k, x in v.items()}
            return _finite(v)

        out: dict[str, object] = {
            "method": self.method,
            "bin_num": self.bin_num,
            "multi_class": self.multi_class,
            "columns": len(self.columns),
            "host_columns": len(self.host_columns),
            "n_bins": {n: c.bins.n_bins for n, c in self.columns.items()}
            | {n: c.n_bins for n, c in self.host_columns.items()},
            "iv": {n: rounded(v) for n, v in self.iv().items()},
            "work": self.work.to_dict(),
        }
        if self.seconds:
            out["seconds"] = {k: round(v, 6) for k, v in self.seconds.items()}
        if self.traffic:
            out["bytes"] = dict(self.traffic)
        return out


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None
