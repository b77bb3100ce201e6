"""fedloom.models imports only fedloom.core (and itself); torch/transformers load lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "fedloom"


def _fedloom_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] == "fedloom"}


def test_models_import_only_core_and_models() -> None:
    for path in sorted((SRC / "models").rglob("*.py")):
        for name in _fedloom_imports(path):
            assert name.startswith(("fedloom.core", "fedloom.models")), f"{path}: imports {name}"


def test_light_imports_do_not_load_torch() -> None:
    code = (
        "import sys, fedloom.models, fedloom.models.datasets, fedloom.cli.nn, fedloom.cli.datasets\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
