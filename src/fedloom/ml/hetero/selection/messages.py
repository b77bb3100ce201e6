"""Hetero feature selection messages, in the order they are sent.

One exchange per IV filter with ``select_federated`` (namespace ``filter-<position in
filter_methods>``); local filters and IV filters without federation send nothing::

    HOST_CANDIDATES   host → guest   the anonymous names of the host's candidate columns
    KEPT_COLUMNS      guest → host   the anonymous names of the host columns the filter keeps

Both carry lists of anonymous column names (``host_<party id>_<feature index>``, from the binning
model); :func:`names_from` checks what a party receives before it is used.
"""

from __future__ import annotations

from fedloom.context import Channel, NamespacePath
from fedloom.core import GUEST, HOST
from fedloom.core.errors import MessageError

__all__ = ["FILTER", "HOST_CANDIDATES", "KEPT_COLUMNS", "names_from"]

#: Every role's namespace for the filter at position ``i`` of ``filter_methods``.
FILTER = NamespacePath("filter")

HOST_CANDIDATES = Channel(
    "host_candidates",
    src=HOST,
    dst=GUEST,
    disclosure="the anonymous names of the host's columns still candidates for this IV filter: which "
    "of its column positions select_col_indexes and its earlier local filters left (no values)",
)
KEPT_COLUMNS = Channel(
    "kept_columns",
    src=GUEST,
    dst=HOST,
    disclosure="which of the host's candidate columns the guest's IV rule keeps (anonymous names): a "
    "function of the labels through the IVs (the host learns its columns' IV ranking at the cut: "
    "which are above the threshold, or among the top k / top percentile of all parties' columns)",
)


def names_from(value: object, sender: str, field: str, allowed: set[str] | None = None) -> list[str]:
    """A received list of distinct column names (a subset of ``allowed`` when given).

    Raises
    ------
    MessageError
        Not a list of text, a name repeated, or a name outside ``allowed`` (naming the sender).
    """
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MessageError(
            f"{field} from {sender}: expected a list of column names. Got {type(value).__name__}.",
            party=sender,
            field=field,
        )
    if len(set(value)) != len(value):
        raise MessageError(f"{field} from {sender}: a column name repeats", party=sender, field=field)
    if allowed is not None:
        foreign = [v for v in value if v not in allowed]
        if foreign:
            raise MessageError(
                f"{field} from {sender}: {len(foreign)} name(s) are not among the columns expected "
                f"here ({foreign[:3]})",
                party=sender,
                field=field,
            )
    return list(value)
