"""Imports point down the layer list of DESIGN.md §2 only; heavy libraries load lazily.

One deliberate change to the order of DESIGN.md §2: ``dsl`` sits below ``runner`` and
``components``. The DSL layer is a pure schema (it imports only ``core``); the runner executes a
parsed job and every component registers its ``ModuleSpec`` with the DSL registry, so both must
be allowed to import it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "fedloom"

#: Top of the list first. A module may import its own layer and any layer below it.
LAYERS = [
    ["cli", "bench"],
    ["pipeline"],  # DESIGN §2: cli -> pipeline -> server (the Pipeline submits through FlowClient)
    ["server"],
    ["runner", "testing"],
    ["components"],
    ["dsl"],
    ["ml"],
    ["models"],
    ["protocols"],
    ["data"],
    ["compute"],
    ["context"],
    ["transport"],
    ["crypto"],
    ["core"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: Extra walls: "models know no federation", "crypto knows no transport".
FORBIDDEN = {"models": {"context", "transport", "protocols", "ml", "runner", "components"}}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "fedloom" else None


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_every_import_points_down() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        here = rel.parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        assert here in RANK, f"{rel}: layer '{here}' is not in the layer list"
        for lineno, module in imports(path):
            there = layer_of(module)
            if there is None or there == here:
                continue
            if RANK.get(there, -1) < RANK[here] or there in FORBIDDEN.get(here, set()):
                problems.append(f"{rel}:{lineno}: {here} imports {module}")
    assert not problems, "imports that point up the layer list:\n" + "\n".join(problems)


def test_importing_fedloom_core_layers_loads_no_heavy_library() -> None:
    code = (
        "import sys, fedloom.cli, fedloom.context, fedloom.crypto.paillier;"
        "heavy = [m for m in ('torch', 'transformers', 'ray', 'pandas') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
