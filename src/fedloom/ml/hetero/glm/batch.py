"""Mini-batches and the checks every party runs on its data before training or predicting.

Batches are cut once by the guest (optionally after a seeded shuffle) and sent to the hosts as
row positions, so every party uses the same rows in the same order in every epoch (FATE's
``batch_strategy: full``). Rows of the guest's and hosts' frames are already aligned by the
intersection; each party hashes its id list and the parties compare hashes, so a misaligned
table is refused before any gradient is computed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame

#: Columns listed in an error message at most.
SHOWN = 5


@dataclass
class BatchPlan:
    """Row positions of each batch: ``order[offsets[b]:offsets[b + 1]]`` is batch ``b``."""

    order: np.ndarray
    offsets: np.ndarray

    @classmethod
    def make(cls, n_rows: int, batch_size: int, shuffle: bool, seed: int | None) -> BatchPlan:
        """Cut ``n_rows`` rows into batches of ``batch_size`` (``-1``: one batch)."""
        order = np.arange(n_rows, dtype=np.int64)
        size = n_rows if batch_size == -1 or batch_size >= n_rows else batch_size
        if size < n_rows and shuffle:
            order = np.random.default_rng(seed).permutation(n_rows).astype(np.int64)
        offsets = np.arange(0, n_rows, max(size, 1), dtype=np.int64)
        offsets = np.append(offsets, n_rows).astype(np.int64)
        return cls(order, offsets)

    @classmethod
    def from_wire(cls, order: object, offsets: object, n_rows: int) -> BatchPlan:
        """Rebuild a plan received from the guest, checking it covers ``n_rows`` rows exactly once."""
        o = np.asarray(order)
        off = np.asarray(offsets)
        ok = (
            o.ndim == 1
            and off.ndim == 1
            and o.dtype.kind in "iu"
            and off.dtype.kind in "iu"
            and len(o) == n_rows
            and len(off) >= 2
            and off[0] == 0
            and off[-1] == n_rows
            and bool(np.all(np.diff(off) > 0))
            and np.array_equal(np.sort(o), np.arange(n_rows))
        )
        if not ok:
            raise DataError(f"the guest's batch plan does not cover the {n_rows} aligned rows exactly once")
        return cls(o.astype(np.int64), off.astype(np.int64))

    @property
    def n_batches(self) -> int:
        """Number of batches."""
        return len(self.offsets) - 1

    @property
    def sizes(self) -> list[int]:
        """Rows per batch."""
        return [int(s) for s in np.diff(self.offsets)]

    def rows(self, b: int) -> np.ndarray:
        """Row positions of batch ``b``."""
        return self.order[self.offsets[b] : self.offsets[b + 1]]


def ids_digest(ids: np.ndarray) -> str:
    """SHA-256 of the id list in order: equal digests mean the same rows in the same order."""
    h = hashlib.sha256()
    for i in ids.tolist():
        h.update(str(i).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def check_features(frame: Frame, party: str, what: str = "training") -> None:
    """Refuse NaN / infinite features, naming the table and the first bad columns."""
    feats = frame.features
    if feats.size and not np.all(np.isfinite(feats)):
        bad = np.flatnonzero(~np.all(np.isfinite(feats), axis=0))
        names = [frame.feature_names[i] for i in bad[:SHOWN]]
        rows = np.flatnonzero(~np.all(np.isfinite(feats[:, bad[:1]]), axis=1))
        table = f"table {frame.table}: " if frame.table else ""
        raise DataError(
            f"{table}the {what} data of {party} has NaN or infinite values in column(s) {names} "
            f"(first at row {int(rows[0])}); impute or drop them before training.",
            party=party,
            field=names[0],
        )


def check_columns(expected: tuple[str, ...] | list[str], frame: Frame, party: str, algorithm: str) -> Frame:
    """The frame's columns in the model's order, or DataError naming the missing / extra columns."""
    have = list(frame.feature_names)
    want = list(expected)
    if have == want:
        return frame
    missing = [c for c in want if c not in have]
    extra = [c for c in have if c not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing[:SHOWN]}{' …' if len(missing) > SHOWN else ''}")
        if extra:
            parts.append(f"unexpected {extra[:SHOWN]}{' …' if len(extra) > SHOWN else ''}")
        table = f"table {frame.table}: " if frame.table else ""
        raise DataError(
            f"{table}the data's columns differ from the {algorithm} model's on {party} "
            f"({len(have)} columns, the model has {len(want)}): {'; '.join(parts)}.",
            party=party,
            field=(missing or extra)[0],
        )
    return frame.select_features(want)


def check_aligned(own: str, other: str, party: str, peer: str, what: str) -> None:
    """DataError when two parties' id digests differ."""
    if own != other:
        raise DataError(
            f"the {what} rows of {party} and {peer} are not aligned (different ids or order): run "
            "the intersection first and give every party its aligned output.",
            party=party,
            field="id",
        )
