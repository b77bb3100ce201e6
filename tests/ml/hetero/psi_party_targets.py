"""Party functions for the intersection's end-to-end test, each run in its own OS process."""

from __future__ import annotations

from typing import Any

from fedloom.context import Context
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost


def ids_for(party: str) -> list[str]:
    """Each party's ids, derived from its name so no id list travels through the launcher."""
    if party == "guest":
        return [f"u{i}" for i in range(0, 3000)]
    k = int(party)
    return [f"u{i}" for i in range(1000 * k, 1000 * k + 2500)][::-1]


def guest(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return IntersectionGuest(params).fit(ctx, ids_for("guest")).to_dict()


def host(ctx: Context, params: dict[str, Any], k: int) -> dict[str, Any]:
    return IntersectionHost(params).fit(ctx, ids_for(str(k))).to_dict()
