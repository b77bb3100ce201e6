r"""Split candidates of a node from its per-bin sums: the same enumeration for every party.

A feature with :math:`k` value bins (ascending values) and maybe a missing bin :math:`m`
(index :math:`k`) offers these candidates, in this order (each is a **left** set of bins; the
right child is the node minus it):

- ``use_missing`` and a missing bin: for :math:`b = 0, \dots, k-1`: value bins :math:`\le b`
  (missing right, ``missing_left = False``); then for :math:`b = 0, \dots, k-2`: value bins
  :math:`\le b` and the missing bin (``missing_left = True``) — :math:`b = k-1` with missing left
  would leave the right child empty;
- otherwise the missing bin, if any, is ordered after every value (missing values always go
  right) and the candidates are the value bins :math:`\le b` for :math:`b = 0, \dots, k'-2`,
  :math:`k'` the number of ordered bins (so :math:`b = k-1`: "every value left, missing right").

A row goes left at a node split at ``(feature, bin b, missing_left)`` when its bin is a value
bin :math:`\le b`, or when it is missing and ``missing_left``.

:meth:`CandidatePlan.left_sums` computes the candidates' left sums of plaintext histograms
(the guest's own features, numpy); :func:`encrypted_left_sums` of encrypted ones (a host), by
running sums inside each feature: about two additions per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gmpy2
import numpy as np

from fedloom.crypto.paillier import EncryptedVector
from fedloom.crypto.paillier.plain import PlainVector


@dataclass(frozen=True)
class CandidatePlan:
    """The candidates of some features, and how to form them from the features' bin sums.

    Attributes
    ----------
    n_bins
        Bins per feature (missing bin included).
    has_missing
        Per feature, whether its last bin is its missing bin.
    use_missing
        Missing values choose their side (else they always go right).
    feature, bin, missing_left
        Per candidate: the feature's position in the plan, the last value bin going left, the
        missing side.
    """

    n_bins: np.ndarray
    has_missing: np.ndarray
    use_missing: bool
    feature: np.ndarray
    bin: np.ndarray
    missing_left: np.ndarray

    @classmethod
    def build(cls, n_bins: np.ndarray, has_missing: np.ndarray, use_missing: bool) -> CandidatePlan:
        """Enumerate the candidates (module docstring for the order)."""
        feats: list[int] = []
        bins: list[int] = []
        sides: list[bool] = []
        for f, (nb, miss) in enumerate(zip(n_bins.tolist(), has_missing.tolist(), strict=True)):
            k = nb - int(miss)
            if miss and use_missing:
                for b in range(k):
                    feats.append(f)
                    bins.append(b)
                    sides.append(False)
                for b in range(k - 1):
                    feats.append(f)
                    bins.append(b)
                    sides.append(True)
            else:
                for b in range(nb - 1):
                    feats.append(f)
                    bins.append(b)
                    sides.append(False)
        return cls(
            np.asarray(n_bins, dtype=np.int64),
            np.asarray(has_missing, dtype=bool),
            use_missing,
            np.asarray(feats, dtype=np.int64),
            np.asarray(bins, dtype=np.int64),
            np.asarray(sides, dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.feature)

    @property
    def starts(self) -> np.ndarray:
        """Offset of each feature's bins in a concatenated histogram."""
        return np.concatenate(([0], np.cumsum(self.n_bins)[:-1])).astype(np.int64)

    def left_sums(self, hist: np.ndarray) -> np.ndarray:
        """Candidates' left sums of a plaintext histogram ``(sum(n_bins), m)`` → ``(len(self), m)``."""
        out = np.zeros((len(self), hist.shape[1]), dtype=hist.dtype)
        starts = self.starts
        pos = 0
        for f, (nb, miss) in enumerate(zip(self.n_bins.tolist(), self.has_missing.tolist(), strict=True)):
            seg = hist[starts[f] : starts[f] + nb]
            k = nb - int(miss)
            run = np.cumsum(seg, axis=0)
            if miss and self.use_missing:
                out[pos : pos + k] = run[:k]
                pos += k
                out[pos : pos + k - 1] = run[: k - 1] + seg[k]
                pos += k - 1
            else:
                out[pos : pos + nb - 1] = run[: nb - 1]
                pos += nb - 1
        return out

    def goes_left(self, candidate: int, column_bins: np.ndarray) -> np.ndarray:
        """Rows going left at ``candidate`` given their bins in its feature."""
        f = int(self.feature[candidate])
        return go_left(
            column_bins,
            int(self.bin[candidate]),
            int(self.n_bins[f]) - int(self.has_missing[f]),
            bool(self.missing_left[candidate]),
        )


def distinct_candidates(plan: CandidatePlan, node_bins: np.ndarray) -> np.ndarray:
    """Which candidates a party offers at a node whose rows have ``node_bins`` (its features).

    A candidate whose last left bin holds none of the node's rows splits the node exactly as the
    candidate before it; one whose missing side is left with no missing row, as its
    ``missing_left=False`` twin; one with every row left, not at all. Only the first of equal
    splits is kept (the lowest bin, missing right), which is the one the tie rule of
    :func:`fedloom.ml.tree.best_split_cumulative` would pick among candidates in plan order. The
    offering party knows its own bin counts anyway; dropping the repeats tells the receiver
    nothing it could not read from equal sums, and saves their encryption work.
    """
    n = node_bins.shape[0]
    keep = np.zeros(len(plan), dtype=bool)
    counts = [np.bincount(node_bins[:, f], minlength=int(nb)) for f, nb in enumerate(plan.n_bins.tolist())]
    cum = [np.cumsum(c) for c in counts]
    for i, (f, b, side) in enumerate(
        zip(plan.feature.tolist(), plan.bin.tolist(), plan.missing_left.tolist(), strict=True)
    ):
        cnt = counts[f]
        k = int(plan.n_bins[f]) - int(plan.has_missing[f])
        n_left = int(cum[f][b]) + (int(cnt[k]) if side else 0)
        missing_rows = int(cnt[k]) if plan.has_missing[f] else 0
        keep[i] = cnt[b] > 0 and 0 < n_left < n and (not side or missing_rows > 0)
    return keep


def candidate_counts(plan: CandidatePlan, node_bins: np.ndarray) -> np.ndarray:
    """Rows going left at every candidate, for a node whose rows have ``node_bins``."""
    flat = (node_bins.astype(np.int64) + plan.starts[None, :]).ravel()
    hist = np.bincount(flat, minlength=int(plan.n_bins.sum())).reshape(-1, 1)
    return plan.left_sums(hist)[:, 0].astype(np.int64)


def go_left(column_bins: np.ndarray, split_bin: int, n_value_bins: int, missing_left: bool) -> np.ndarray:
    """A value bin ``<= split_bin`` goes left; a missing one (index ``>= n_value_bins``) goes
    left only with ``missing_left``."""
    col = np.asarray(column_bins)
    missing = col >= n_value_bins
    return np.where(missing, missing_left, col <= split_bin)


def _ops(vec: Any) -> tuple[Any, Any]:
    """(add, modulus) of a vector's ciphertexts: a product mod n² (Paillier) or a sum mod n (plain)."""
    if isinstance(vec, EncryptedVector):
        n2 = vec.public_key.nsquare
        return (lambda a, b: a * b % n2), n2
    n = vec.public_key.n
    return (lambda a, b: (a + b) % n), n


def encrypted_left_sums(
    plan: CandidatePlan, hist: EncryptedVector | PlainVector
) -> EncryptedVector | PlainVector:
    """Candidates' encrypted left sums of an encrypted histogram (``sum(n_bins)`` ciphertexts).

    Same order as :meth:`CandidatePlan.left_sums`; the result is a deterministic function of
    ``hist`` (re-randomise before it goes to the key owner).
    """
    add, _ = _ops(hist)
    cs = hist.ciphertexts
    out: list[Any] = []
    starts = plan.starts.tolist()
    for f, (nb, miss) in enumerate(zip(plan.n_bins.tolist(), plan.has_missing.tolist(), strict=True)):
        seg = cs[starts[f] : starts[f] + nb]
        k = nb - int(miss)
        run: list[Any] = []
        acc = None
        for c in seg[: (k if (miss and plan.use_missing) else nb - 1)]:
            acc = c if acc is None else add(acc, c)
            run.append(acc)
        if miss and plan.use_missing:
            out.extend(run)
            out.extend(add(r, seg[k]) for r in run[: k - 1])
        else:
            out.extend(run)
    return type(hist)(hist.public_key, out, hist.frac_bits)  # type: ignore[arg-type]


def fill_skipped(
    partial: EncryptedVector | PlainVector,
    total: EncryptedVector | PlainVector,
    n_bins: np.ndarray,
    skip: np.ndarray,
) -> EncryptedVector | PlainVector:
    """The full histogram from ``column_histograms`` output that left out bin ``skip[f]`` of each
    feature: the left-out bin is the node total minus the feature's other bins."""
    cs = partial.ciphertexts
    t = total.ciphertexts[0]
    paillier = isinstance(partial, EncryptedVector)
    add, mod = _ops(partial)
    out: list[Any] = []
    pos = 0
    for nb, s in zip(n_bins.tolist(), skip.tolist(), strict=True):
        kept = nb - (1 if s >= 0 else 0)
        seg = cs[pos : pos + kept]
        pos += kept
        if s < 0:
            out.extend(seg)
            continue
        acc = None
        for c in seg:
            acc = c if acc is None else add(acc, c)
        if acc is None:
            derived = t
        elif paillier:
            derived = t * gmpy2.invert(acc, mod) % mod
        else:
            derived = (t - acc) % mod
        out.extend(seg[:s])
        out.append(derived)
        out.extend(seg[s:])
    return type(partial)(partial.public_key, out, partial.frac_bits)  # type: ignore[arg-type]
