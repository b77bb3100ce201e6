"""A HeteroLR pipeline with binning and IV selection (FATE-style script, only imports changed), run
in-process: the selection reads the binning's IVs (isometric model), the LR trains on the kept
columns only, and the evaluation's AUC equals the one computed here from the LR's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.pipeline.conftest import fate_config, fate_script

pytestmark = pytest.mark.slow
TABLES = ("breast_hetero_guest", "breast_hetero_host")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def test_hetero_lr_with_binning_and_selection(local_env: Path) -> None:
    config = fate_config(local_env, TABLES, rows=200)
    fate_script("pipeline-upload.py")(str(config), tables=TABLES)
    pipeline = fate_script("pipeline-hetero-lr-binning-selection.py")(str(config))

    dsl = pipeline.get_train_dsl()["components"]
    assert dsl["hetero_feature_selection_0"]["input"] == {
        "data": {"data": ["intersection_0.data"]},
        "isometric_model": ["hetero_feature_binning_0.model"],
    }
    binning = pipeline.get_component("hetero_feature_binning_0").get_summary()
    selection = pipeline.get_component("hetero_feature_selection_0").get_model_param()["model"]
    iv_filter = selection["filters"][0]
    # the selection used the binning's IVs (guest columns) ...
    for col, value in iv_filter["values"].items():
        assert value == pytest.approx(binning["iv"][col], rel=1e-12)
    # ... and kept the 7 largest across both parties (top_k 7, federated)
    host_ivs = iv_filter["hosts"]["host:10000"]["values"]
    everything = {**iv_filter["values"], **host_ivs}
    top7 = set(sorted(everything, key=everything.get, reverse=True)[:7])
    kept = set(selection["kept"]) | set(iv_filter["hosts"]["host:10000"]["kept"])
    assert kept == top7

    # the LR trained on the kept columns only, on both sides
    lr_guest = pipeline.get_component("hetero_lr_0").get_model_param()["model"]
    assert lr_guest["feature_names"] == selection["kept"]
    job_dir = Path(pipeline.get_train_job().job_dir)
    lr_host = json.loads((job_dir / "outputs/hetero_lr_0/host-10000/model.json").read_text())["model"]
    host_kept = sorted(int(c.rsplit("_", 1)[1]) for c in iv_filter["hosts"]["host:10000"]["kept"])
    assert lr_host["feature_names"] == [f"x{i}" for i in host_kept]

    out = pipeline.get_component("hetero_lr_0").get_output_data()
    ev = pipeline.get_component("evaluation_0").get_summary()
    labels = out["label"].to_numpy().astype(int)
    assert ev["auc"] == pytest.approx(auc(labels, out["predict_score"].to_numpy()), abs=1e-12)
