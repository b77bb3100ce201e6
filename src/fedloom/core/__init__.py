"""Shared vocabulary of every layer: roles, party ids, the error hierarchy, logging."""

from fedloom.core.errors import (
    ConfigError,
    CryptoError,
    DataError,
    DecryptionOverflowError,
    FedloomError,
    KeyMismatchError,
    MessageError,
    PartyFailedError,
    PartyTimeoutError,
    ProtocolError,
)
from fedloom.core.roles import ARBITER, GUEST, HOST, PartyId, Role

__all__ = [
    "ARBITER",
    "GUEST",
    "HOST",
    "ConfigError",
    "CryptoError",
    "DataError",
    "DecryptionOverflowError",
    "FedloomError",
    "KeyMismatchError",
    "MessageError",
    "PartyFailedError",
    "PartyId",
    "PartyTimeoutError",
    "ProtocolError",
    "Role",
]
