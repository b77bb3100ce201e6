"""Shared by the board's browser tests: paths, the Chromium flags, the :class:`Board` record."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
LR = EXAMPLES / "jobs" / "hetero_lr"
FEDLOOM = str(Path(sys.executable).parent / "fedloom")
HOST_PARTY = "host-10000"
N_SCALES = 17  # + reader, data transform, intersection = 20 components

# Chromium's own background traffic (component updates, sync, QUIC probes) has its connections
# refused on a closed network, which stalls start-up; a fresh profile keeps every run alike.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Board:
    """The running server and its jobs (ids) as the tests see them."""

    url: str
    token: str
    home: Path
    jobs: dict[str, str] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def new_context(browser: Any) -> Any:
    """A context at 1280×800, the "first screen" of the failure test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return context
