"""Namespace paths: how an algorithm's loops nest its sub-contexts, declared once for every role.

Both ends of a channel must build the same address, so both must nest namespaces the same way.
Written by hand in each role (``ctx.sub("class", k).sub("epoch", e).sub("batch", b)``), a
mismatch (``"batches"``, a level left out, another order) shows only as a ``recv`` that never
completes. Declare the path once, in the algorithm's ``messages.py`` next to its channels, and let
every role build its contexts from that one object::

    # ml/hetero/lr/messages.py
    EPOCH = NamespacePath("class", "epoch")         # .../class-k/epoch-e
    BATCH = EPOCH.then("batch")                      # .../class-k/epoch-e/batch-b

    # guest.py, host.py and arbiter.py alike
    ectx = EPOCH.at(ctx, k, e)                       # from the algorithm's root context
    bctx = BATCH.within(ectx, b)                     # one level down, from a context at EPOCH

A misspelt name is a ``NameError`` at import, a wrong number of indices or a context at the wrong
depth a :class:`~fedloom.core.errors.ProtocolError` at the call, before anything is sent.
"""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING

from fedloom.core.errors import ConfigError, ProtocolError

if TYPE_CHECKING:
    from fedloom.context.context import Context

#: A level's name: no '-' (it separates the name from the index in a segment).
_NAME = re.compile(r"^[A-Za-z0-9_.]{1,100}$")


class NamespacePath:
    """A declared sequence of namespace levels, each ``name-<index>`` (or a fixed ``name``).

    Parameters
    ----------
    names
        The levels, outermost first.
    indexed
        Whether these levels take an index (``"epoch"`` → ``epoch-3``) or are fixed segments
        (``NamespacePath("setup", indexed=False)`` → ``setup``).

    Examples
    --------
    >>> ROUND = NamespacePath("round")
    >>> PLAIN = ROUND.then("plain")
    >>> PLAIN.segments(2, 0)
    ('round-2', 'plain-0')
    >>> str(PLAIN)
    'round-<i>/plain-<i>'
    """

    __slots__ = ("levels", "parent")

    levels: tuple[tuple[str, bool], ...]
    parent: NamespacePath | None

    def __init__(self, *names: str, indexed: bool = True) -> None:
        self.levels = _levels(names, indexed)
        self.parent = None

    def then(self, *names: str, indexed: bool = True) -> NamespacePath:
        """This path with ``names`` appended; the new path's :meth:`within` starts from this one."""
        child = NamespacePath.__new__(NamespacePath)
        child.levels = self.levels + _levels(names, indexed)
        child.parent = self
        return child

    @property
    def arity(self) -> int:
        """How many indices :meth:`at` takes."""
        return sum(indexed for _, indexed in self.levels)

    def segments(self, *indices: int) -> tuple[str, ...]:
        """The namespace segments of this path at ``indices`` (one per indexed level, in order)."""
        return _segments(self, self.levels, indices)

    def at(self, ctx: Context, *indices: int) -> Context:
        """``ctx`` (the algorithm's root context) one context down per level of this path."""
        return ctx.derive(namespace=(*ctx.namespace, *self.segments(*indices)))

    def within(self, ctx: Context, *indices: int) -> Context:
        """The levels :meth:`then` added, below ``ctx``, which must stand at the parent path.

        Raises
        ------
        ProtocolError
            This path was not made with :meth:`then`, or ``ctx``'s namespace does not end at the
            parent path (a level left out or added), or the indices do not fit.
        """
        parent = self.parent
        if parent is None:
            raise ProtocolError(f"namespace {self} has no parent path: use .at(ctx, ...)")
        if not parent.ends(ctx.namespace):
            here = "/".join(ctx.namespace) or "the root"
            raise ProtocolError(
                f"namespace {self} is entered from a context at {parent}; this one is at {here}"
            )
        own = _segments(self, self.levels[len(parent.levels) :], indices)
        return ctx.derive(namespace=(*ctx.namespace, *own))

    def ends(self, namespace: tuple[str, ...]) -> bool:
        """Whether ``namespace`` ends with this path's levels, at any indices."""
        n = len(self.levels)
        if len(namespace) < n:
            return False
        for (name, indexed), segment in zip(self.levels, namespace[len(namespace) - n :], strict=True):
            if not indexed:
                if segment != name:
                    return False
                continue
            head, _, index = segment.rpartition("-")
            if head != name or not index.isdigit():
                return False
        return True

    def __str__(self) -> str:
        return "/".join(f"{name}-<i>" if indexed else name for name, indexed in self.levels)

    def __repr__(self) -> str:
        return f"NamespacePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamespacePath) and other.levels == self.levels

    def __hash__(self) -> int:
        return hash(self.levels)


def _levels(names: tuple[str, ...], indexed: bool) -> tuple[tuple[str, bool], ...]:
    if not names:
        raise ConfigError("a namespace path needs at least one level")
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f"namespace levels are letters, digits, '_' or '.' (no '-'), at most 100. Got {name!r}."
            )
    return tuple((name, indexed) for name in names)


def _segments(
    path: NamespacePath, levels: tuple[tuple[str, bool], ...], indices: tuple[int, ...]
) -> tuple[str, ...]:
    """``levels`` at ``indices``, one index per indexed level; ``path`` names them in errors."""
    wanted = [name for name, indexed in levels if indexed]
    if len(indices) != len(wanted):
        raise ProtocolError(
            f"namespace {path} needs {len(wanted)} index(es) here ({', '.join(wanted) or 'none'}). "
            f"Got {len(indices)}: {indices}."
        )
    it = iter(indices)
    return tuple(f"{name}-{_index(next(it), name)}" if indexed else name for name, indexed in levels)


def _index(value: int, name: str) -> int:
    try:
        index = operator.index(value)
    except TypeError:
        index = -1
    if isinstance(value, bool) or index < 0:
        raise ProtocolError(f"the index of namespace level '{name}' must be an int >= 0. Got {value!r}.")
    return index
