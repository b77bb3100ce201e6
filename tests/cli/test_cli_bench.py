"""``fedloom bench ...`` with bad arguments: one line naming the field, ConfigError's exit code.

Before, ``--n -5`` or ``--key-size 7`` ended in a Python traceback (a ValueError deep inside).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from fedloom.cli import main
from fedloom.core.errors import ConfigError, exit_code

CONFIG_EXIT = exit_code(ConfigError("x"))


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["paillier", "--n", "-5"], "n"),
        (["paillier", "--key-size", "7"], "key_size"),
        (["paillier", "--key-size", "1025"], "key_size"),
        (["psi", "--method", "md5"], "method"),
        (["psi", "--n", "0"], "n"),
        (["psi", "--overlap", "1.5"], "overlap"),
        (["psi", "--key-size", "7"], "key_size"),
        (["hetero-lr", "--dataset", "unknown"], "dataset"),
        (["hetero-lr", "--epochs", "0"], "epochs"),
        (["hetero-lr", "--key-size", "7"], "key_size"),
        (["hetero-lr", "--workers", "0"], "workers"),
        (["fuzz", "--n", "-5"], "n"),
        (["fuzz", "--seed", "-1"], "seed"),
    ],
)
def test_bad_bench_arguments_are_one_line_config_errors(
    argv: list[str], field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["fedloom", "bench", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == CONFIG_EXIT == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ConfigError: ") and f"field '{field}'" in err


def test_the_console_script_exits_with_the_config_error_code() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from fedloom.cli import main; main()", "bench", "paillier", "--n", "-5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == CONFIG_EXIT
    assert "Traceback" not in proc.stderr and "field 'n'" in proc.stderr


def test_benchmarks_share_the_key_size_rule_party_rows_and_printer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from fedloom.bench import hetero_lr, paillier
    from fedloom.bench.common import party_rows, print_report

    # Execute / Assert: both Paillier benchmarks word the key-size rule the same way
    for run, owner in ((paillier.run, "Paillier"), (hetero_lr.run, "hetero LR")):
        with pytest.raises(ConfigError) as info:
            run(key_size=1025)
        assert info.value.field == "key_size"
        assert f"parameter of the {owner} benchmark must be an even int in [1024, 8192]. Got 1025." in str(
            info.value
        )
    rows = party_rows(
        {"guest:9999": {"seconds": 1.23456, "bytes_sent": 7, "other": 1}}, ("seconds", "bytes_sent")
    )
    assert rows == {"guest:9999": {"seconds": 1.235, "bytes_sent": 7}}
    assert print_report({"a": 1}, as_json=True) == 0 and capsys.readouterr().out == '{"a": 1}\n'
