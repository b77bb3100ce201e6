"""Are two parties' rows the same rows in the same order? Id digests, compared before any work.

Rows of the guest's and hosts' frames are already aligned by the intersection; each party hashes
its id list (:func:`ids_digest`) and the parties compare hashes (:func:`check_aligned`), so a
misaligned table is refused before anything is computed on it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fedloom.core.errors import DataError, MessageError

__all__ = ["check_aligned", "check_rows", "ids_digest"]


def ids_digest(ids: np.ndarray) -> str:
    """SHA-256 of the id list in order: equal digests mean the same rows in the same order."""
    h = hashlib.sha256()
    for i in ids.tolist():
        h.update(str(i).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def check_aligned(own: str, other: str, party: str, peer: str, what: str) -> None:
    """DataError when two parties' id digests differ."""
    if own != other:
        raise DataError(
            f"the {what} rows of {party} and {peer} are not aligned (different ids or order): run "
            "the intersection first and give every party its aligned output.",
            party=party,
            field="id",
        )


def check_rows(announced: int, own: int, sender: str) -> None:
    """MessageError (naming ``sender`` and ``n_rows``) when the setup ``sender`` sent announces
    another row count than the ``own`` aligned rows of this host."""
    if announced != own:
        raise MessageError(
            f"setup from {sender}: {announced} rows where this host has {own} aligned rows",
            party=sender,
            field="n_rows",
        )
