"""Mini-batches and the checks every party runs on its data before training or predicting.

Batches are cut once by the guest (optionally after a seeded shuffle) and sent to the hosts as
row positions, so every party uses the same rows in the same order in every epoch (FATE's
``batch_strategy: full``). With ``batch_strategy: random`` the guest draws one batch per epoch
(:meth:`BatchPlan.sample`, :func:`random_batch_seed`) and sends it at the start of the epoch.
Rows of the guest's and hosts' frames are already aligned by the intersection; each party hashes
its id list and the parties compare hashes, so a misaligned table is refused before any gradient
is computed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fedloom.core.errors import ConfigError, DataError, MessageError
from fedloom.data.frame import Frame

if TYPE_CHECKING:
    from fedloom.ml.hetero.glm.params import GLMParams

log = logging.getLogger(__name__)

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
    def sample(cls, n_rows: int, batch_size: int, rng: np.random.Generator) -> BatchPlan:
        """``batch_strategy: random``: one batch of ``batch_size`` distinct rows drawn by ``rng``
        (FATE 1.x draws one such batch per epoch)."""
        order = np.sort(rng.choice(n_rows, size=batch_size, replace=False)).astype(np.int64)
        return cls(order, np.array([0, batch_size], dtype=np.int64))

    @classmethod
    def from_wire(
        cls, order: object, offsets: object, n_rows: int, sender: str | None = None, sample: bool = False
    ) -> BatchPlan:
        """Rebuild a plan received from the guest, checking it covers ``n_rows`` rows exactly once
        (``sample``: distinct rows among ``n_rows``, as :meth:`sample` draws them).

        Raises
        ------
        MessageError
            ``order`` / ``offsets`` are not 1-D int arrays, or do not cut ``n_rows`` rows into
            non-empty batches with every row exactly once (names the sender).
        """
        ok = (
            isinstance(order, np.ndarray)
            and isinstance(offsets, np.ndarray)
            and order.ndim == 1
            and offsets.ndim == 1
            and order.dtype.kind in "iu"
            and offsets.dtype.kind in "iu"
            and (len(order) == n_rows or sample)
            and len(offsets) >= 2
            and offsets[0] == 0
            and offsets[-1] == len(order)
            and bool(np.all(np.diff(offsets.astype(np.int64)) > 0))
            and (
                np.array_equal(np.sort(order), np.arange(n_rows))
                or (
                    sample
                    and int(order.min()) >= 0
                    and int(order.max()) < n_rows
                    and len(np.unique(order)) == len(order)
                )
            )
        )
        if not ok:
            raise MessageError(
                f"the batch plan{' from ' + sender if sender else ''} does not cut the {n_rows} aligned "
                "rows into non-empty batches with every row exactly once",
                party=sender,
                field="batch_plan",
            )
        assert isinstance(order, np.ndarray) and isinstance(offsets, np.ndarray)
        return cls(order.astype(np.int64), offsets.astype(np.int64))

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


def random_batch_seed(p: GLMParams, n_rows: int) -> int | None:
    """``batch_strategy: random``: the seed of the per-epoch batches (``init_param.random_seed``, or
    fresh randomness), or ``None`` when batches are cut once (``full``, or a batch size that covers
    every row: FATE then falls back to one full batch too)."""
    if p.batch_strategy != "random" or p.batch_size == -1 or p.batch_size >= n_rows:
        return None
    seed = p.init_param.random_seed
    return int(seed) if seed is not None else secrets.randbits(63)


def check_batch_sizes(
    plan: BatchPlan, weights: dict[str, int], allowed: bool, party: str, algorithm: str
) -> None:
    r"""Refuse a batch plan in which a party could solve its own gradient for the residual.

    A party with :math:`k` weights learns :math:`k` linear combinations :math:`X^Td` of the
    :math:`n_b` residuals of a batch. With :math:`n_b \le k` the system has a unique solution
    and the party learns :math:`d` row by row — a host then gets the labels (LR: :math:`d =
    \tfrac14 w^Tx - \tfrac12 y`, and at zero initial weights :math:`d = -\tfrac12 y` exactly),
    the guest the hosts' scores. One more row leaves a one-dimensional family, which binary
    labels still pin down; so every batch, the last short one included, must have more than
    :math:`k + 1` rows for every party. (More rows do not make :math:`X^Td` harmless: it is
    disclosed by design, as in FATE; see :mod:`fedloom.ml.hetero.glm`.)

    Parameters
    ----------
    plan
        The batch plan.
    weights
        Each party's number of weights (gradient entries), by party name.
    allowed
        ``allow_small_batches``: accept such batches anyway (logged as a warning).
    party
        The party running the check (named in the error).
    algorithm
        Named in the error (``HeteroLR``).

    Raises
    ------
    ConfigError
        Naming ``batch_size``.
    """
    sizes = plan.sizes
    smallest = min(sizes)
    who, k = max(weights.items(), key=lambda kv: kv[1])
    if smallest > k + 1:
        return
    where = sizes.index(smallest)
    what = "the last batch" if where == len(sizes) - 1 and len(sizes) > 1 else f"batch {where}"
    detail = (
        f"{what} of the plan has {smallest} rows and {who} has {k} weights: from its gradient of a "
        f"batch of at most {k + 1} rows it can solve for the residual d, hence the labels (or the "
        f"hosts' scores)"
    )
    if allowed:
        log.warning("%s: %s (allowed by allow_small_batches)", algorithm, detail)
        return
    raise ConfigError(
        f"The 'batch_size' parameter of {algorithm} must give batches of more than {k + 1} rows: "
        f"{detail}. Choose a batch size of at least {k + 2} rows whose last batch is also that "
        "large (or -1 for one batch), or set allow_small_batches: true to accept the disclosure.",
        party=party,
        field="batch_size",
    )


def check_weighted_sizes(
    plan: BatchPlan, s: np.ndarray, weights: dict[str, int], allowed: bool, party: str, algorithm: str
) -> None:
    """:func:`check_batch_sizes` counting only the rows of non-zero sample weight: a row of weight
    0 adds nothing to :math:`X^T(s \\odot d)`, so it does not make a batch larger.

    Raises
    ------
    ConfigError
        Naming ``batch_size`` (and saying that zero weights shrink the batch).
    """
    counts = [int(np.count_nonzero(s[plan.rows(b)])) for b in range(plan.n_batches)]
    who, k = max(weights.items(), key=lambda kv: kv[1])
    if min(counts) > k + 1:
        return
    detail = (
        f"a batch has {min(counts)} rows of non-zero sample weight and {who} has {k} weights: from "
        f"its gradient it could solve for those rows' residuals, hence their labels"
    )
    if allowed:
        log.warning("%s: %s (allowed by allow_small_batches)", algorithm, detail)
        return
    raise ConfigError(
        f"The 'batch_size' parameter of {algorithm} must give batches of more than {k + 1} rows of "
        f"non-zero sample weight: {detail}. Use larger batches (or -1), fewer zero weights, or set "
        "allow_small_batches: true to accept the disclosure.",
        party=party,
        field="batch_size",
    )


def check_features(frame: Frame, party: str, what: str = "training") -> None:
    """Refuse NaN / infinite features, naming the table and the first bad columns."""
    if frame.is_sparse and np.all(np.isfinite(frame.features.data)):
        return  # the implicit zeros are finite
    feats = frame.dense_features()
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
