"""Typed records of the binning messages, validated where they are received.

Everything a party receives from a peer is untrusted: it is checked here, once, before the
algorithm uses it; any problem is a :class:`~fedloom.core.errors.MessageError` naming the sender
(``party``) and the message field (``field``). The records travel as plain dicts of str / int /
bool / lists / numpy arrays / one ciphertext vector (the codec's types): the sender writes
:meth:`to_wire`, the receiver calls ``from_wire(value, sender, ...)``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from fedloom.crypto.paillier import EncryptedVector, PlainVector
from fedloom.ml.hetero.records_common import (
    MAX_ROWS,
    expect_count,
    expect_digest,
    expect_fields,
    message_error,
)

#: Most label classes.
MAX_CLASSES = 1000
#: Most columns one host may bin.
MAX_COLUMNS = 1 << 20
#: Most bins of one column (optimal binning's fine bins included).
MAX_BINS = 1 << 16
#: Most bins of all of a host's columns together.
MAX_TOTAL_BINS = 1 << 24


def _int_array(value: object, sender: str, field: str, length: int, low: int, high: int) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu" or value.ndim != 1:
        raise message_error(f"expected a 1-D int array. Got {type(value).__name__}.", sender, field)
    if len(value) != length:
        raise message_error(f"{len(value)} values where {length} were expected", sender, field)
    out = value.astype(np.int64)
    if len(out) and (int(out.min()) < low or int(out.max()) > high):
        raise message_error(f"values outside [{low}, {high}]", sender, field)
    return out


def anonymous_name(party_id: str, index: int) -> str:
    """The name the guest knows a host column by: ``host_<party_id>_<feature index>``."""
    return f"host_{party_id}_{index}"


@dataclass(frozen=True)
class HostSetup:
    """A host's ``HOST_SETUP``: its id digest, rows and how many columns it bins."""

    ids: str
    n_rows: int
    n_columns: int

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"ids": self.ids, "n_rows": self.n_rows, "n_columns": self.n_columns}

    @classmethod
    def from_wire(cls, value: object, sender: str) -> HostSetup:
        """Validate a received host setup."""
        v = expect_fields(value, sender, "host_setup", ("ids", "n_rows", "n_columns"))
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            n_rows=expect_count(v["n_rows"], sender, "n_rows", 0, MAX_ROWS),
            n_columns=expect_count(v["n_columns"], sender, "n_columns", 0, MAX_COLUMNS),
        )


@dataclass(frozen=True)
class Setup:
    """The guest's ``SETUP``: id digest, rows, label classes and the slot width of label sums.

    ``n_classes`` is 2 for binary labels (one slot: ``[y]`` with ``y ∈ {0, 1}``) and the class
    count otherwise (one slot per class, one-hot). ``slot_bits`` is ``bitlen(n_rows)``: no sum of
    at most ``n_rows`` zeros and ones can carry into the next slot.
    """

    ids: str
    n_rows: int
    n_classes: int
    slot_bits: int

    @property
    def label_slots(self) -> int:
        """Slots per label plaintext: 1 (binary) or one per class."""
        return 1 if self.n_classes <= 2 else self.n_classes

    @property
    def sum_bits(self) -> int:
        """Bits of one bin's label sum (all its class slots)."""
        return self.label_slots * self.slot_bits

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {
            "ids": self.ids,
            "n_rows": self.n_rows,
            "n_classes": self.n_classes,
            "slot_bits": self.slot_bits,
        }

    @classmethod
    def from_wire(cls, value: object, sender: str) -> Setup:
        """Validate a received setup (the slot width must be ``bitlen(n_rows)``)."""
        v = expect_fields(value, sender, "setup", ("ids", "n_rows", "n_classes", "slot_bits"))
        n = expect_count(v["n_rows"], sender, "n_rows", 1, MAX_ROWS)
        slot = expect_count(v["slot_bits"], sender, "slot_bits", 1, 64)
        if slot != n.bit_length():
            raise message_error(
                f"slot width {slot} bits for {n} rows (expected {n.bit_length()})", sender, "slot_bits"
            )
        return cls(
            ids=str(expect_digest(v["ids"], sender, "ids")),
            n_rows=n,
            n_classes=expect_count(v["n_classes"], sender, "n_classes", 1, MAX_CLASSES),
            slot_bits=slot,
        )


def expect_labels(value: object, public_key: Any, n_rows: int, sender: str) -> EncryptedVector | PlainVector:
    """``ENC_LABELS``: one integer ciphertext per row under the accepted key."""
    field = "enc_labels"
    if not isinstance(value, EncryptedVector | PlainVector):
        raise message_error(f"expected a ciphertext vector. Got {type(value).__name__}.", sender, field)
    if value.public_key != public_key:
        raise message_error("ciphertexts under another key than the one accepted", sender, field)
    if len(value) != n_rows:
        raise message_error(f"{len(value)} ciphertexts for {n_rows} rows", sender, field)
    if value.frac_bits != 0:
        raise message_error("label ciphertexts must be integers (frac_bits 0)", sender, field)
    return value


@dataclass(frozen=True)
class OptimalRequest:
    """A host's request that the guest merge its fine bins (optimal binning).

    ``bin_num`` and ``params`` (its ``optimal_binning_param``) are the host's; ``merge`` names its
    numeric columns (categorical ones are not merged), ``missing`` those whose last bin is the
    missing bin (not merged, kept last).
    """

    bin_num: int
    params: dict[str, Any]
    merge: list[str]
    missing: list[str]

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {"bin_num": self.bin_num, "params": self.params, "merge": self.merge, "missing": self.missing}

    @classmethod
    def from_wire(cls, value: object, sender: str, names: list[str]) -> OptimalRequest:
        """Validate a received request (column names among ``names``)."""
        o = expect_fields(value, sender, "optimal", ("bin_num", "params", "merge", "missing"))
        if not isinstance(o["params"], dict):
            raise message_error("expected the optimal_binning_param object", sender, "optimal")
        known = set(names)
        for key in ("merge", "missing"):
            v = o[key]
            if not isinstance(v, list) or not set(v) <= known or len(set(v)) != len(v):
                raise message_error(f"{key}: expected a list of its own column names", sender, "optimal")
        return cls(
            expect_count(o["bin_num"], sender, "bin_num", 2, MAX_BINS), o["params"], o["merge"], o["missing"]
        )


@dataclass(frozen=True)
class HostBins:
    """A host's ``HOST_BINS``: per anonymous column its bins' row counts and packed label sums.

    Attributes
    ----------
    columns
        Anonymous names ``host_<party_id>_<feature index>``, in the host's column order.
    n_bins
        Bins per column (missing bin included).
    counts
        Row count of every bin, column by column (``sum(n_bins)`` values; each column's sum is
        the row count).
    derived
        Per column, the bin whose label sum is not sent (the guest derives it), or -1.
    woe
        Anonymous names of the columns whose WOE the host wants back.
    optimal
        The host's optimal-binning request, or None.
    sums
        Packed encrypted label sums of every non-derived bin (see :mod:`fedloom.ml.hetero.binning`).
    """

    columns: list[str]
    n_bins: np.ndarray
    counts: np.ndarray
    derived: np.ndarray
    woe: list[str]
    optimal: OptimalRequest | None
    sums: Any

    def to_wire(self) -> dict[str, object]:
        """The dict sent on the wire."""
        return {
            "columns": list(self.columns),
            "n_bins": self.n_bins.astype(np.int64),
            "counts": self.counts.astype(np.int64),
            "derived": self.derived.astype(np.int64),
            "woe": list(self.woe),
            "optimal": None if self.optimal is None else self.optimal.to_wire(),
            "sums": self.sums,
        }

    @property
    def n_sums(self) -> int:
        """Label sums the host packed (every bin but the derived ones)."""
        return int(self.n_bins.sum()) - int(np.count_nonzero(self.derived >= 0))

    @classmethod
    def from_wire(
        cls,
        value: object,
        sender: str,
        *,
        party_id: str,
        n_columns: int,
        n_rows: int,
        public_key: Any,
        slots_per_ciphertext: int,
    ) -> HostBins:
        """Validate a received ``HOST_BINS`` before anything is decrypted.

        Checks the names (this host's anonymous names, distinct, as many as announced), the bin
        counts (each column's counts sum to the rows), the derived bins, and that ``sums`` holds
        exactly ``ceil(n_sums / slots_per_ciphertext)`` integer ciphertexts under the guest's key:
        the guest decrypts nothing it did not expect.
        """
        v = expect_fields(
            value, sender, "host_bins", ("columns", "n_bins", "counts", "derived", "woe", "optimal", "sums")
        )
        names = v["columns"]
        pattern = re.compile(rf"^host_{re.escape(party_id)}_(0|[1-9][0-9]{{0,8}})$")
        if (
            not isinstance(names, list)
            or len(names) != n_columns
            or not all(isinstance(n, str) and pattern.match(n) for n in names)
            or len(set(names)) != len(names)
        ):
            raise message_error(
                f"expected {n_columns} distinct anonymous names host_{party_id}_<index>", sender, "columns"
            )
        n_bins = _int_array(v["n_bins"], sender, "n_bins", n_columns, 1, MAX_BINS)
        total = int(n_bins.sum())
        if total > MAX_TOTAL_BINS:
            raise message_error(f"{total} bins in all (at most {MAX_TOTAL_BINS})", sender, "n_bins")
        counts = _int_array(v["counts"], sender, "counts", total, 0, n_rows)
        starts = np.concatenate(([0], np.cumsum(n_bins)[:-1])).astype(np.int64)
        if n_columns and np.any(np.add.reduceat(counts, starts) != n_rows):
            raise message_error(f"a column's bin counts do not add up to the {n_rows} rows", sender, "counts")
        derived = _int_array(v["derived"], sender, "derived", n_columns, -1, MAX_BINS)
        if np.any(derived >= n_bins):
            raise message_error("a derived bin index is not a bin of its column", sender, "derived")
        woe = v["woe"]
        if not isinstance(woe, list) or not set(woe) <= set(names) or len(set(woe)) != len(woe):
            raise message_error("expected a list of its own column names", sender, "woe")
        optimal = None if v["optimal"] is None else OptimalRequest.from_wire(v["optimal"], sender, names)
        record = cls(list(names), n_bins, counts, derived, list(woe), optimal, None)
        expected = math.ceil(record.n_sums / slots_per_ciphertext)
        sums = v["sums"]
        if not isinstance(sums, EncryptedVector | PlainVector):
            raise message_error(f"expected a ciphertext vector. Got {type(sums).__name__}.", sender, "sums")
        if sums.public_key != public_key:
            raise message_error("ciphertexts under another key than the guest's", sender, "sums")
        if len(sums) != expected or sums.frac_bits != 0:
            raise message_error(
                f"{len(sums)} packed ciphertexts (frac_bits {sums.frac_bits}) where {expected} integer ones "
                f"were expected ({record.n_sums} sums, {slots_per_ciphertext} per ciphertext)",
                sender,
                "sums",
            )
        return cls(list(names), n_bins, counts, derived, list(woe), optimal, sums)


def expect_groups(value: object, sender: str, fine_bins: dict[str, int]) -> dict[str, list[int]]:
    """``HOST_GROUPS``: per column, the ascending last fine bin of each merged bin (last = fine − 1)."""
    field = "host_groups"
    if not isinstance(value, dict) or set(value) != set(fine_bins):
        raise message_error(f"expected the groups of exactly the columns {sorted(fine_bins)}", sender, field)
    out: dict[str, list[int]] = {}
    for name, fine in fine_bins.items():
        arr = value[name]
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iu" or arr.ndim != 1 or len(arr) == 0:
            raise message_error(f"{name}: expected a non-empty 1-D int array", sender, field)
        last = [int(x) for x in arr.tolist()]
        if any(b <= a for a, b in itertools.pairwise(last)) or last[0] < 0 or last[-1] != fine - 1:
            raise message_error(f"{name}: groups must ascend and end at fine bin {fine - 1}", sender, field)
        out[name] = last
    return out


def expect_woe(value: object, sender: str, n_bins: dict[str, int]) -> dict[str, np.ndarray]:
    """``HOST_WOE``: per asked column, one finite WOE per bin."""
    field = "host_woe"
    if not isinstance(value, dict) or set(value) != set(n_bins):
        raise message_error(f"expected the WOE of exactly the columns {sorted(n_bins)}", sender, field)
    out: dict[str, np.ndarray] = {}
    for name, n in n_bins.items():
        arr = value[name]
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.shape != (n,):
            raise message_error(f"{name}: expected {n} float WOE values", sender, field)
        if not np.all(np.isfinite(arr)):
            raise message_error(f"{name}: NaN or infinite WOE", sender, field)
        out[name] = arr.astype(np.float64)
    return out


__all__ = [
    "HostBins",
    "HostSetup",
    "OptimalRequest",
    "Setup",
    "anonymous_name",
    "expect_groups",
    "expect_labels",
    "expect_woe",
]
