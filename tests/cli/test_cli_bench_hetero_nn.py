"""``fedloom bench hetero-nn``: its argument checks, its conf and centralised network, a tiny
two-process run."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tests.cli.bench_cli_helpers import assert_one_line_config_error, run_bench_json

from fedloom.bench import hetero_nn as bench
from fedloom.bench import secureboost


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--dataset", "mnist"], "dataset"),
        (["--rows", "5"], "rows"),
        (["--epochs", "0"], "epochs"),
        (["--key-size", "1025"], "key_size"),
        (["--cipher", "rot13"], "cipher"),
        (["--batch-size", "0"], "batch_size"),
    ],
)
def test_bad_arguments_are_one_line_config_errors_before_any_party_starts(
    argv: list[str], field: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_config_error("hetero-nn", argv, field, monkeypatch, capsys)


def test_the_parties_get_the_secureboost_benchmarks_columns_and_split() -> None:
    # Execute
    x_tr, y_tr, x_te, _ = secureboost.load(2000)
    g_tr, g_te = bench.frames("guest", 2000)
    h_tr, h_te = bench.frames("host", 2000)
    # Assert: guest = label + x0..x9, host = x10..x29, same ids in the same order
    assert g_tr.feature_names == tuple(f"x{i}" for i in range(10)) and g_tr.label is not None
    assert h_tr.feature_names == tuple(f"x{i}" for i in range(10, 30)) and h_tr.label is None
    assert list(g_tr.ids) == list(h_tr.ids) and list(g_te.ids) == list(h_te.ids)
    np.testing.assert_array_equal(np.hstack([g_tr.features, h_tr.features]), x_tr)
    np.testing.assert_array_equal(np.hstack([g_te.features, h_te.features]), x_te)
    np.testing.assert_array_equal(np.asarray(g_tr.label), y_tr)


def test_the_conf_has_the_issues_shape_per_role() -> None:
    # Execute
    guest, host = bench.conf("guest", 3), bench.conf("host", 3)
    # Assert: bottom 10→4 and 20→4, interactive 4+4→4, top 4→1 on the guest only, Paillier 1024
    assert guest["bottom_nn_define"]["0-0"]["in_features"] == 10
    assert host["bottom_nn_define"]["0-0"]["in_features"] == 20
    assert (
        guest["bottom_nn_define"]["0-0"]["out_features"]
        == host["bottom_nn_define"]["0-0"]["out_features"]
        == 4
    )
    inter = guest["interactive_layer_define"]["0-0"]
    assert (inter["guest_dim"], inter["host_dim"], inter["out_dim"]) == (4, 4, 4)
    assert (
        guest["top_nn_define"]["0-0"]["in_features"] == 4
        and guest["top_nn_define"]["0-0"]["out_features"] == 1
    )
    assert host["top_nn_define"] is None
    assert guest["encrypt_param"] == {"method": "Paillier", "key_length": 1024}
    assert bench.conf("guest", 3, cipher="plain")["encrypt_param"]["method"] == "plain"


def test_the_centralised_network_learns_the_synthetic_task() -> None:
    # Prepare
    x_tr, y_tr, x_te, y_te = secureboost.load(3000)
    # Execute: 3 epochs of batches of 128 rows
    predict = bench.centralised_reference(x_tr[:, :10], x_tr[:, 10:], y_tr, 3, 128, 0.01, 0.01)
    p = predict(x_te[:, :10], x_te[:, 10:])
    # Assert: probabilities, and better than chance by far
    assert p.shape == (900,) and ((p > 0) & (p < 1)).all()
    assert roc_auc_score(y_te, p) > 0.8


@pytest.mark.slow
def test_a_tiny_run_between_two_processes_reports_time_auc_and_the_centralised_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("fedloom.ml.hetero.nn")
    # Prepare: 1,000 rows (700 train), 2 epochs of batches of 64, over the CLI; the plain cipher
    # keeps it short on a shared machine (Paillier runs in the FATE job and quality tests)
    argv = ["--rows", "1000", "--epochs", "2", "--batch-size", "64", "--cipher", "plain", "--json"]
    # Execute
    report = run_bench_json("hetero-nn", argv, monkeypatch, capsys)
    # Assert
    assert (report["rows"], report["train_rows"], report["epochs"]) == (1000, 700, 2)
    assert report["cipher"] == "plain" and report["batch_size"] == 64
    assert report["epoch_seconds_source"] == "summary.seconds_per_epoch"  # the model's own timing
    assert len(report["epoch_seconds"]) == 2 and all(s > 0 for s in report["epoch_seconds"])
    assert sum(report["epoch_seconds"]) <= report["fit_seconds"] + 0.01
    assert 0.6 < report["test_auc"] <= 1.0  # 22 steps on an informative synthetic set (chance: 0.5)
    parties = report["parties"]
    assert set(parties) == {"guest:9999", "host:10000"}
    assert report["bytes"] == sum(p["bytes_sent"] for p in parties.values())
    # the host sends its bottom output for every training row each epoch: 2 · 700 · 4 float64 at least
    assert parties["host:10000"]["bytes_sent"] >= 2 * 700 * 4 * 8
    assert all(v > 10 for v in report["peak_rss_mib"].values())
    central = report["centralised"]
    assert central["fit_seconds"] > 0 and 0.6 < central["test_auc"] <= 1.0
