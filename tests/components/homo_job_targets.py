"""Party target for the HomoLR job test: registers the homo components, then runs the job's party."""

from __future__ import annotations

from typing import Any

from fedloom.context import Context


def run_party(ctx: Context, **kwargs: Any) -> dict[str, Any]:
    import fedloom.components.homo_lr
    import fedloom.components.homo_nn
    from fedloom.runner.job import run_party as run

    assert fedloom.components.homo_lr.SPEC.name == "HomoLR"
    return run(ctx, **kwargs)
