"""What the tests of the ``fedloom bench <name>`` commands share.

Running one benchmark over the CLI, checking that a bad argument ends as a one-line config
error before any party starts, and reading the ``--json`` report of a run. Imported as
``from tests.cli.bench_cli_helpers import ...`` (the suite runs from the repository root).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from fedloom.cli import main
from fedloom.core.errors import ConfigError, exit_code

#: The exit code of a :class:`ConfigError`.
CONFIG_EXIT = exit_code(ConfigError("x"))


def run_bench(command: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``fedloom bench <command> <argv>`` in this process.

    Parameters
    ----------
    command : str
        The benchmark's sub-command, e.g. ``"binning"``.
    argv : list of str
        Its arguments.
    monkeypatch : pytest.MonkeyPatch
        Sets ``sys.argv`` for the run.
    """
    monkeypatch.setattr(sys, "argv", ["fedloom", "bench", command, *argv])
    main()


def assert_one_line_config_error(
    command: str,
    argv: list[str],
    field: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Assert that ``fedloom bench <command> <argv>`` fails as a one-line config error.

    Parameters
    ----------
    command : str
        The benchmark's sub-command; the message names ``"<command> benchmark"``.
    argv : list of str
        The bad arguments.
    field : str
        The field the message must name.
    monkeypatch : pytest.MonkeyPatch
        Sets ``sys.argv`` for the run.
    capsys : pytest.CaptureFixture of str
        Reads the message from standard error.
    """
    with pytest.raises(SystemExit) as info:
        run_bench(command, argv, monkeypatch)
    assert info.value.code == CONFIG_EXIT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"field '{field}'" in err and f"{command} benchmark" in err


def run_bench_json(
    command: str, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """Run ``fedloom bench <command> <argv>`` (``argv`` holding ``--json``) and read its report.

    Parameters
    ----------
    command : str
        The benchmark's sub-command.
    argv : list of str
        Its arguments, ``--json`` among them.
    monkeypatch : pytest.MonkeyPatch
        Sets ``sys.argv`` for the run.
    capsys : pytest.CaptureFixture of str
        Reads the report from standard output.

    Returns
    -------
    dict
        The JSON report.
    """
    try:
        run_bench(command, argv, monkeypatch)
    except SystemExit as exc:  # a successful command may end with exit code 0
        assert exc.code in (0, None)
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report
