"""The server's API token: made at first start, kept 0600 in the server home, required on every request.

The token is 32 random bytes (URL-safe base64). It is written through a file created with mode
0600 (never world- or group-readable, not even for an instant), and the CLI and Pipeline read it
from there (``fedloom init --token-file``). A request proves it knows the token with
``Authorization: Bearer <token>``; the comparison is constant-time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

__all__ = ["check_token", "ensure_token", "read_token"]


def ensure_token(path: Path) -> str:
    """The token in ``path``, written first (mode 0600) when the file does not exist."""
    if path.exists():
        os.chmod(path, 0o600)  # a copied home may have lost the mode; never serve a readable token
        return read_token(path)
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def read_token(path: Path) -> str:
    """The token stored in ``path``."""
    return path.read_text(encoding="utf-8").strip()


def check_token(expected: str, header: str | None) -> bool:
    """Whether the ``Authorization`` header carries ``Bearer <expected>`` (constant-time)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), expected.encode())
