"""Fixtures for the DSL tests: the FATE example jobs and a registry of permissive modules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fedloom.dsl import AnyParams, ModuleRegistry, ModuleSpec

#: FATE's examples: $FEDLOOM_FATE_EXAMPLES, else the shared copy. Tests that need them skip without.
FATE_DSL_DIR = (
    Path(
        os.environ.get(
            "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
        )
    )
    / "dsl_v2"
)


def _is_subsequence(words: list[str], of: list[str]) -> bool:
    it = iter(of)
    return all(w in it for w in words)


def _dsl_for(conf: Path) -> Path:
    """FATE's pairing: ``X_conf.json`` runs ``X_dsl.json``, else the most specific dsl of its folder
    whose name's words all appear, in order, in X (``..._rsa_cache_loader`` runs ``..._cache_loader``,
    ``test_secureboost_train_binary`` runs ``test_secureboost_train``)."""
    words = conf.name.removesuffix("_conf.json").split("_")
    best: tuple[int, Path] | None = None
    for dsl in conf.parent.glob("*_dsl.json"):
        dwords = dsl.name.removesuffix("_dsl.json").split("_")
        if (
            dwords[0] == words[0]
            and _is_subsequence(dwords, words)
            and (best is None or len(dwords) > best[0])
        ):
            best = (len(dwords), dsl)
    if best is None:
        raise LookupError(f"no dsl for {conf}")
    return best[1]


def fate_job_pairs() -> list[tuple[Path, Path]]:
    """Every (conf, dsl) pair of the FATE examples (upload confs excluded)."""
    confs = sorted(p for p in FATE_DSL_DIR.glob("*/*_conf.json") if p.parent.name != "upload")
    return [(c, _dsl_for(c)) for c in confs]


def fate_modules() -> set[str]:
    """Every module name used by the FATE example dsls."""
    names: set[str] = set()
    for path in FATE_DSL_DIR.glob("*/*_dsl.json"):
        names |= {c["module"] for c in json.loads(path.read_text())["components"].values()}
    return names


def permissive_registry() -> ModuleRegistry:
    """A registry with every FATE example module, any parameters, every role."""
    reg = ModuleRegistry()
    for name in sorted(fate_modules()):
        reg.register(
            ModuleSpec(
                name,
                roles={"guest", "host", "arbiter"},
                params_model=AnyParams,
                outputs={"data", "model", "cache"},
                requires_data=name not in ("Reader", "CacheLoader"),
            )
        )
    return reg


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fate_pair" in metafunc.fixturenames:
        pairs = fate_job_pairs() if FATE_DSL_DIR.is_dir() else []  # empty: pytest skips the test
        metafunc.parametrize("fate_pair", pairs, ids=[c.name.removesuffix("_conf.json") for c, _ in pairs])


@pytest.fixture
def fate_dir() -> Path:
    """The FATE dsl_v2 example folder."""
    if not FATE_DSL_DIR.is_dir():
        pytest.skip("FATE examples not present")
    return FATE_DSL_DIR


@pytest.fixture
def all_fate_pairs(fate_dir: Path) -> list[tuple[Path, Path]]:
    """Every (conf, dsl) pair of the FATE examples."""
    return fate_job_pairs()


@pytest.fixture
def fate_registry(fate_dir: Path) -> ModuleRegistry:
    """Every FATE example module, registered with permissive parameters."""
    return permissive_registry()


@pytest.fixture
def lr_job() -> tuple[dict, dict]:
    """FATE's hetero LR train job (conf, dsl) as dicts, for tests that break it."""
    base = FATE_DSL_DIR / "hetero_logistic_regression"
    if not base.is_dir():
        pytest.skip("FATE examples not present")
    conf = json.loads((base / "hetero_lr_normal_conf.json").read_text())
    dsl = json.loads((base / "hetero_lr_normal_dsl.json").read_text())
    return conf, dsl
