"""``fedloom bench scale``: argument checks and a tiny local run between two party processes."""

from __future__ import annotations

import pytest
from tests.cli.bench_cli_helpers import CONFIG_EXIT, run_bench, run_bench_json


@pytest.mark.parametrize(
    ("argv", "field"),
    [(["--backend", "spark"], "--backend.backend"), (["--workers", "0,2"], "--workers")],
)
def test_bad_arguments_are_one_line_config_errors(
    argv: list[str], field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        run_bench("scale", argv, monkeypatch)
    assert info.value.code == CONFIG_EXIT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and f"field '{field}'" in err, err


@pytest.mark.slow
def test_a_tiny_local_run_reports_seconds_speedup_and_tasks_per_worker_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 3,000 rows (2,100 train), one tree: enough additions per level for the pool to take them
    argv = ["--backend", "local", "--workers", "1,2", "--rows", "3000", "--trees", "1", "--json"]
    report = run_bench_json("scale", argv, monkeypatch, capsys)
    one, two = report["results"]
    assert (one["workers"], two["workers"]) == (1, 2) and report["rows"] == 3000
    assert one["speedup"] == 1.0
    assert two["speedup"] == round(one["seconds_per_tree"] / two["seconds_per_tree"], 2)
    assert len(one["tree_seconds"]) == len(two["tree_seconds"]) == 1
    # one worker runs inline; two workers send the host's histograms and packing to the pool
    assert one["tasks"] == {"guest": 0, "host": 0} and two["tasks"]["host"] > 0
    assert {"encrypt", "host_splits_wait", "decrypt"} <= set(one["guest_phases"])
    assert {"histogram", "pack"} <= set(one["host_phases"])
    assert 0 <= one["serial_seconds"] <= one["seconds_per_tree"]
