"""Channels: the named, directed links an algorithm declares once in its ``messages.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fedloom.core.errors import ConfigError
from fedloom.core.roles import Role

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _roles(value: Role | tuple[Role, ...] | frozenset[Role]) -> frozenset[Role]:
    if isinstance(value, Role):
        return frozenset({value})
    return frozenset(value)


@dataclass(frozen=True, init=False)
class Channel:
    """A named link from parties of role(s) ``src`` to parties of role(s) ``dst``.

    ``Channel("residual", src=GUEST, dst=HOST, disclosure="ciphertext only")``: only a guest may
    send on it, only a host may receive from it. Declared once per algorithm so ``grep RESIDUAL``
    finds both ends.

    Parameters
    ----------
    name
        lower_snake_case, unique within the algorithm; a segment of the wire address.
    src, dst
        The role(s) that may send and receive.
    disclosure
        What the receiver learns *in clear* from one message, written for a reader of the
        privacy ledger: ``"ciphertext only"``, ``"Xᵀd + uniform mask: nothing"``,
        ``"intersection ids"``. Every job's ``privacy.json`` is built from these declarations;
        an algorithm's docstring and its channels must agree. Channels of the product must
        state it (a test checks); an empty value is shown as ``"undeclared"``.
    """

    name: str
    src: frozenset[Role]
    dst: frozenset[Role]
    disclosure: str

    def __init__(
        self,
        name: str,
        src: Role | tuple[Role, ...] | frozenset[Role],
        dst: Role | tuple[Role, ...] | frozenset[Role],
        *,
        disclosure: str = "",
    ) -> None:
        if not _NAME.match(name):
            raise ConfigError(f"channel names are lower_snake_case, at most 64 characters. Got {name!r}.")
        if not isinstance(disclosure, str):
            raise ConfigError(f"a channel's disclosure is a sentence. Got {type(disclosure).__name__}.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "src", _roles(src))
        object.__setattr__(self, "dst", _roles(dst))
        object.__setattr__(self, "disclosure", disclosure.strip())

    def __str__(self) -> str:
        def fmt(roles: frozenset[Role]) -> str:
            return "|".join(sorted(r.value for r in roles))

        return f"{self.name} ({fmt(self.src)} -> {fmt(self.dst)})"
