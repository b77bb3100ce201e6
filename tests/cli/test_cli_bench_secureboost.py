"""``fedloom bench secureboost``: the data set-up, its argument checks and a tiny two-process run."""

from __future__ import annotations

import numpy as np
import pytest
from tests.cli.bench_cli_helpers import assert_one_line_config_error, run_bench_json

from fedloom.bench import secureboost as bench


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--dataset", "mnist"], "dataset"),
        (["--rows", "5"], "rows"),
        (["--trees", "0"], "trees"),
        (["--depth", "0"], "depth"),
        (["--key-size", "1025"], "key_size"),
        (["--cipher", "rot13"], "cipher"),
        (["--bin-num", "1"], "bin_num"),
        (["--workers", "0"], "workers"),
    ],
)
def test_bad_arguments_are_one_line_config_errors_before_any_party_starts(
    argv: list[str], field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_config_error("secureboost", argv, field, monkeypatch, capsys)


def test_the_data_is_split_stratified_and_standardised_with_the_train_part() -> None:
    # Execute
    x_tr, y_tr, x_te, y_te = bench.load(2000)
    g_tr, g_te = bench.frames("guest", 2000)
    h_tr, _ = bench.frames("host", 2000)
    # Assert: 70/30, same class balance, train columns standardised, test with the train's statistics
    assert (len(x_tr), len(x_te)) == (1400, 600) and x_tr.shape[1] == 30
    assert abs(y_tr.mean() - y_te.mean()) < 0.01
    np.testing.assert_allclose(x_tr.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(x_tr.std(axis=0), 1.0, atol=1e-9)
    assert np.abs(x_te.mean(axis=0)).max() > 1e-6  # not re-standardised on its own
    # guest: label + x0..x9; host: x10..x29; both hold the same ids in the same order
    assert g_tr.feature_names == tuple(f"x{i}" for i in range(10)) and g_tr.label is not None
    assert h_tr.feature_names == tuple(f"x{i}" for i in range(10, 30)) and h_tr.label is None
    assert list(g_tr.ids) == list(h_tr.ids) and len(g_te.ids) == 600
    np.testing.assert_array_equal(np.hstack([g_tr.features, h_tr.features]), x_tr)


@pytest.mark.slow
def test_a_tiny_run_between_two_processes_reports_time_auc_and_xgboost(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("fedloom.ml.hetero.secureboost.guest")
    # Prepare: 1,000 rows (700 train), 2 trees of depth 2, Paillier 1024, over the CLI
    argv = ["--rows", "1000", "--trees", "2", "--depth", "2", "--workers", "1", "--json"]
    # Execute
    report = run_bench_json("secureboost", argv, monkeypatch, capsys)
    # Assert
    assert (report["rows"], report["train_rows"], report["trees"], report["depth"]) == (1000, 700, 2, 2)
    assert report["key_size"] == 1024 and report["cipher"] == "paillier" and report["bin_num"] == 32
    assert report["fit_seconds"] > 0 and report["seconds_per_tree"] > 0
    assert len(report["tree_seconds"]) == 2 and sum(report["tree_seconds"]) <= report["fit_seconds"] + 0.01
    assert 0.7 < report["test_auc"] <= 1.0  # two shallow trees on an informative synthetic set
    assert report["phases"] and sum(report["phases"].values()) <= report["fit_seconds"] + 0.01
    assert report["seconds_per_tree"] * 2 <= report["fit_seconds"] + 0.01
    parties = report["parties"]
    assert set(parties) == {"guest:9999", "host:10000"}
    assert report["bytes"] == sum(p["bytes_sent"] for p in parties.values())
    assert parties["guest:9999"]["bytes_sent"] >= 700 * 256  # 700 ciphertexts of 2048 bits, at least
    assert all(v > 10 for v in report["peak_rss_mib"].values())
    xgb = report["xgboost"]
    assert xgb["fit_seconds"] > 0 and 0.7 < xgb["test_auc"] <= 1.0
