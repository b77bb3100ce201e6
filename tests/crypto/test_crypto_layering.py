"""The Paillier layer (fedloom.crypto.paillier, cipher.py) imports only fedloom.core, gmpy2, numpy
and the stdlib, and never pickle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import fedloom.crypto

ALLOWED_THIRD_PARTY = {"gmpy2", "numpy"}
FORBIDDEN = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_paillier_imports_point_down_only() -> None:
    root = Path(fedloom.crypto.__file__).parent
    files = [*sorted((root / "paillier").rglob("*.py")), root / "cipher.py", root / "__init__.py"]
    assert files
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "fedloom":
                assert name.startswith(("fedloom.core", "fedloom.crypto")), f"{path.name} imports {name}"
            else:
                assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names or top == "__future__", (
                    f"{path.name} imports {name}"
                )
