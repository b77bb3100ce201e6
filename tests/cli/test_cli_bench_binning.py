"""``fedloom bench binning``: the synthetic data, its argument checks and a tiny two-process run."""

from __future__ import annotations

import numpy as np
import pytest
from tests.cli.bench_cli_helpers import assert_one_line_config_error, run_bench_json

from fedloom.bench import binning


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--rows", "0"], "rows"),
        (["--guest-features", "0"], "guest_features"),
        (["--host-features", "-1"], "host_features"),
        (["--bin-num", "1"], "bin_num"),
        (["--method", "kmeans"], "method"),
        (["--key-size", "1025"], "key_size"),
        (["--classes", "1"], "classes"),
        (["--cipher", "rot13"], "cipher"),
        (["--workers", "0"], "workers"),
    ],
)
def test_bad_arguments_are_one_line_config_errors_before_any_party_starts(
    argv: list[str], field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_config_error("binning", argv, field, monkeypatch, capsys)


def test_each_party_builds_its_own_columns_and_the_guest_label_from_both_sides() -> None:
    # Execute
    g = binning.make_frame("guest", 2000, 4, 5, classes=2, seed=7)
    h = binning.make_frame("host", 2000, 4, 5, classes=2, seed=7)
    g3 = binning.make_frame("guest", 2000, 4, 5, classes=3, seed=7)
    # Assert: same ids in the same order, disjoint column names, no missing values
    assert list(g.ids) == list(h.ids) == [f"r{i}" for i in range(2000)]
    assert g.feature_names == ("x0", "x1", "x2", "x3") and h.feature_names == tuple(f"h{j}" for j in range(5))
    assert g.features.shape == (2000, 4) and h.features.shape == (2000, 5)
    assert not np.isnan(g.features).any() and not np.isnan(h.features).any()
    # the data is a function of the seed only (every process rebuilds the same table)
    again = binning.make_frame("host", 2000, 4, 5, seed=7)
    np.testing.assert_array_equal(again.features, h.features)
    assert not np.array_equal(binning.make_frame("host", 2000, 4, 5, seed=8).features, h.features)
    # labels: 0/1 (binary) and 0..2 (three classes), every class present
    assert set(np.unique(np.asarray(g.label))) == {0, 1}
    assert set(np.unique(np.asarray(g3.label))) == {0, 1, 2}
    # the label depends on the host's first columns (built by the guest from the same seeds) and
    # not on a column outside the logistic model: compare the event-rate gap above/below the median
    y = np.asarray(g.label)

    def gap(col: np.ndarray) -> float:
        hi = col > np.median(col)
        return abs(float(y[hi].mean() - y[~hi].mean()))

    informative = max(gap(h.features[:, j]) for j in range(binning.LABEL_COLUMNS))
    assert informative > 0.1
    assert gap(h.features[:, 4]) < 0.06


def test_phase_seconds_reads_the_summary_s_per_phase_timings() -> None:
    assert binning.phase_seconds({"phase_seconds": {"encrypt": 1.23456, "sum": 2}}) == {
        "encrypt": 1.235,
        "sum": 2.0,
    }
    assert binning.phase_seconds({"work": {"encryptions": 3}, "iv": {"a": "x"}}) == {}


@pytest.mark.parametrize(("cipher", "classes"), [("paillier", 2), ("plain", 3)])
def test_a_tiny_run_between_two_processes_reports_the_work_and_the_time(
    cipher: str, classes: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: 300 rows, 2 guest and 3 host columns, Paillier 1024 (or plain), over the CLI
    shape = ["--rows", "300", "--guest-features", "2", "--host-features", "3"]
    argv = [*shape, "--cipher", cipher, "--classes", str(classes), "--json"]
    # Execute
    report = run_bench_json("binning", argv, monkeypatch, capsys)
    # Assert: the shape echoed, the whole job done, the work counted as the protocol says
    assert (report["rows"], report["guest_features"], report["host_features"]) == (300, 2, 3)
    assert (report["bin_num"], report["method"], report["key_size"], report["classes"]) == (
        10,
        "quantile",
        1024,
        classes,
    )
    assert report["cipher"] == cipher
    assert report["host_columns_scored"] == 3
    assert report["encryptions"] == 300  # [y] once per row, nothing else
    assert report["ciphertexts_sent"] == report["ciphertexts_received"] >= 1
    # packing: fewer decryptions than the host's 3 columns × 10 bins (× classes)
    assert 1 <= report["decryptions"] <= report["ciphertexts_received"] and report["decryptions"] < 30
    parties = report["parties"]
    assert set(parties) == {"guest:9999", "host:10000"}
    assert report["bytes"] == sum(p["bytes_sent"] for p in parties.values())
    if cipher == "paillier":  # the guest sent at least 300 ciphertexts of 2048 bits (n² of a 1024-bit key)
        assert parties["guest:9999"]["bytes_sent"] >= 300 * 256
    assert report["seconds"] == parties["guest:9999"]["fit_seconds"] > 0
    assert parties["guest:9999"]["work"]["encryptions"] == 300
    assert parties["host:10000"]["work"]["decryptions"] == 0
    assert all(p["peak_rss_mib"] > 10 for p in parties.values())
    assert set(report["phases"]) == {"guest:9999", "host:10000"}
    assert all(report["phases"].values()), report["phases"]
    assert sum(report["phases"]["guest:9999"].values()) <= report["seconds"] + 0.01
    assert report["machine"]["omp_num_threads"] is not None and report["machine"]["cpu_count"] >= 1
    assert report["machine"]["workers_per_party"] >= 1
