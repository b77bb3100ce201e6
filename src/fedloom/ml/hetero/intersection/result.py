"""What the intersection returns on each party, and the checks on the ids it is given."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fedloom.core.errors import DataError

#: How many offending ids an error message lists.
SHOWN = 5


@dataclass
class IntersectionResult:
    """One party's outcome.

    Attributes
    ----------
    ids
        The intersection, sorted (Python string order, the same on every party), as an object
        array of ``str``; ``None`` where this party does not learn it (a host without
        ``sync_intersect_ids``; every party in cardinality-only mode).
    index
        ``index[i]`` is the position of ``ids[i]`` in this party's input, to align its rows;
        ``None`` with ``ids``.
    count
        Size of the intersection; ``None`` where this party does not learn it (a host without
        sync).
    method
        The protocol that ran: ``"ecdh"``, ``"rsa"`` or ``"dh"``.
    bytes_sent, bytes_received
        This party's traffic during the run, all channels.
    seconds
        Wall time of the run on this party, key generation included.
    cardinality_only
        Only the size was computed (no party learns which ids).
    per_host
        Guest only: the size of the intersection with each host (``"host:10000"``).
    """

    ids: np.ndarray | None
    index: np.ndarray | None
    count: int | None
    method: str
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    cardinality_only: bool = False
    per_host: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (ids as a list of strings)."""
        return {
            "ids": None if self.ids is None else [str(x) for x in self.ids],
            "count": self.count,
            "method": self.method,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "seconds": round(self.seconds, 6),
            "cardinality_only": self.cardinality_only,
            "per_host": dict(self.per_host),
        }


def check_ids(ids: object, party: str, field_name: str = "id") -> list[str]:
    """The ids as a list of ``str``, or DataError naming the party and the id column.

    Refused: a non-sequence, an empty list, any id that is not text (numbers, bytes, None, NaN),
    and duplicates. **Duplicate-id policy**: duplicates are refused (the first few are listed),
    never silently merged. PSI matches ids, not rows, so a duplicated id could not say which of
    its rows to align; de-duplicate the table (or make ids unique) before intersecting.
    """
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise DataError(
                f"ids must be one-dimensional, got shape {ids.shape}", party=party, field=field_name
            )
        values = ids.tolist()
    elif isinstance(ids, Sequence) and not isinstance(ids, str | bytes):
        values = list(ids)
    else:
        raise DataError(
            f"ids must be a sequence or 1-D array of strings, got {type(ids).__name__}",
            party=party,
            field=field_name,
        )
    if not values:
        raise DataError("the id list is empty: nothing to intersect", party=party, field=field_name)
    bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
    if bad:
        shown = ", ".join(f"row {i}: {values[i]!r} ({type(values[i]).__name__})" for i in bad[:SHOWN])
        raise DataError(
            f"ids must be text; {len(bad)} are not ({shown}). Read the id column as strings.",
            party=party,
            field=field_name,
        )
    if len(set(values)) != len(values):
        dup = [v for v, c in Counter(values).items() if c > 1]
        shown = ", ".join(repr(v) for v in dup[:SHOWN])
        raise DataError(
            f"{len(dup)} ids occur more than once (e.g. {shown}); intersection needs unique ids",
            party=party,
            field=field_name,
        )
    return values
