"""Shared by the server tests: the examples folder and its JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def load_example(*parts: str) -> dict[str, Any]:
    """The JSON file ``examples/<parts>``."""
    return dict(json.loads(EXAMPLES.joinpath(*parts).read_text()))
