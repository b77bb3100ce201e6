"""Roles and party identities.

A party is a ``(role, party_id)`` pair written ``role:id`` (``guest:9999``). One organisation may
play several roles; FATE's examples run host and arbiter under the same party id, so the role is
part of the identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from fedloom.core.errors import ConfigError


class Role(StrEnum):
    """What a party does in a job (DESIGN.md §1)."""

    GUEST = "guest"
    HOST = "host"
    ARBITER = "arbiter"

    def __str__(self) -> str:
        return self.value


GUEST = Role.GUEST
HOST = Role.HOST
ARBITER = Role.ARBITER

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, order=True)
class PartyId:
    """One party of a job: its role and its id, written ``role:id``.

    Examples
    --------
    >>> PartyId.parse("guest:9999")
    PartyId(role=<Role.GUEST: 'guest'>, id='9999')
    >>> str(PartyId(Role.HOST, "10000"))
    'host:10000'
    """

    role: Role
    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            object.__setattr__(self, "role", _parse_role(str(self.role)))
        if not _ID.match(str(self.id)):
            raise ConfigError(
                f"a party id must be 1-64 letters, digits, '_', '.' or '-'. Got {self.id!r}.",
                field="party_id",
            )
        object.__setattr__(self, "id", str(self.id))

    @classmethod
    def parse(cls, text: str) -> PartyId:
        """Parse ``role:id``; raises :class:`ConfigError` on anything else."""
        role, sep, pid = str(text).partition(":")
        if not sep:
            raise ConfigError(
                f"a party must be written 'role:id', e.g. 'guest:9999'. Got {text!r}.", field="party"
            )
        return cls(_parse_role(role), pid)

    def __str__(self) -> str:
        return f"{self.role.value}:{self.id}"

    @property
    def dns_name(self) -> str:
        """A DNS-safe name for certificates and TLS host checks: ``guest-9999.fedloom``."""
        return f"{self.role.value}-{self.id.replace('_', '-').replace('.', '-')}.fedloom"


def _parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ConfigError(f"role must be one of {names}. Got {text!r}.", field="role") from None
