"""Logging setup shared by the CLI, the launcher and every party process."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-5s %(party)s %(name)s: %(message)s"


class _PartyFilter(logging.Filter):
    """Stamp every record with this process's party, so logs of several parties join cleanly."""

    def __init__(self, party: str) -> None:
        super().__init__()
        self.party = party

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "party"):
            record.party = self.party
        return True


def setup_logging(level: str | int | None = None, *, party: str = "-", file: Path | None = None) -> None:
    """Configure the ``fedloom`` logger once per process.

    Parameters
    ----------
    level
        A level name or number; defaults to ``$FEDLOOM_LOG_LEVEL`` or ``WARNING``.
    party
        Shown in every line (``guest:9999``) so that logs of several parties can be merged.
    file
        Also write to this file (a party's log under the job directory).
    """
    level = level or os.environ.get("FEDLOOM_LOG_LEVEL", "WARNING")
    root = logging.getLogger("fedloom")
    root.handlers.clear()
    root.setLevel(level if isinstance(level, int) else str(level).upper())
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_PartyFilter(party))
        root.addHandler(handler)
    root.propagate = False
