"""The Paillier benchmark returns the documented structure (tiny run)."""

from __future__ import annotations

import json

import pytest

from fedloom.bench import paillier as bench
from fedloom.crypto.paillier import get_num_workers


def test_run_structure() -> None:
    result = bench.run(key_size=1024, n=12)
    assert set(result) == {"key_size", "n", "fedloom", "phe", "ratio"}
    assert result["key_size"] == 1024 and result["n"] == 12
    for part in ("fedloom", "phe", "ratio"):
        assert set(result[part]) == {"encrypt", "decrypt", "add", "mul_scalar"}
        assert all(isinstance(v, float) and v > 0 for v in result[part].values())
    assert get_num_workers() == 1  # restored


def test_main_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--key-size", "1024", "--n", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 5
