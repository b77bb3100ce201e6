"""The HomoNN DSL job of examples/jobs/homo_nn_mnist: client tables exported from the MNIST cache,
uploaded, and the job run with ``fedloom run`` (every party its own process) for one round."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from fedloom.core import DataError
from fedloom.data import TableStore

JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "homo_nn_mnist"


@pytest.mark.slow
def test_mnist_homo_nn_job_runs_one_round_on_a_slice(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fedloom.cli import app
    from fedloom.models.datasets import ensure, load_image_dataset
    from fedloom.models.datasets.split import _main as export

    try:
        ensure("mnist")
    except DataError as err:
        pytest.skip(f"mnist unavailable: {err}")
    # Prepare: 900 training images over 3 clients (iid), 300 test images; the example's conf with
    # one round and a small network so the slice learns within a round
    export(["mnist", "--clients", "3", "--limit", "900", "--test-limit", "300", "--out", str(tmp_path / "t")])
    store = TableStore(tmp_path / "data")
    for conf in sorted((tmp_path / "t").glob("*.upload.json")):
        store.upload(json.loads(conf.read_text()), conf_dir=conf.parent)
    conf = json.loads((JOB / "conf.json").read_text())
    nn = conf["component_parameters"]["common"]["nn_0"]
    nn["trainer"]["param"].update(epochs=1, batch_size=16)
    nn["model"]["params"]["hidden"] = [64]
    nn["optimizer"]["lr"] = 0.1
    (tmp_path / "conf.json").write_text(json.dumps(conf))
    # Execute
    files = ["-c", str(tmp_path / "conf.json"), "-d", str(JOB / "dsl.json")]
    dirs = ["--data-dir", str(tmp_path / "data"), "--job-dir", str(tmp_path / "jobs")]
    res = CliRunner().invoke(app, ["run", *files, "--json", *dirs])
    # Assert: every party done, one round over the three clients' 900 rows
    assert res.exit_code == 0, res.output
    (job,) = (tmp_path / "jobs").iterdir()
    out = job / "outputs" / "nn_0"
    arbiter = json.loads((out / "arbiter-10000" / "metrics.json").read_text())
    assert arbiter["rounds"] == 1 and arbiter["samples"] == 900
    assert arbiter["clients"] == ["guest:9999", "host:10000", "host:10001"]
    models = [json.loads((out / p / "model.json").read_text())["model"] for p in ("guest-9999", "host-10000")]
    assert models[0]["history"][0]["global_loss"] == models[1]["history"][0]["global_loss"]
    # The guest's predictions on its training rows, scored here from the output table
    preds = pd.read_parquet(out / "guest-9999" / "data.parquet")
    train, val = preds[preds["type"] == "train"], preds[preds["type"] == "validate"]
    assert len(train) == 300 and len(val) == 300  # its third of the training slice, the test slice
    _, labels = load_image_dataset("mnist", "train", limit=900)
    assert np.array_equal(train["label"].to_numpy(), labels[train["id"].astype(int).to_numpy()])
    assert (train["predict_result"] == train["label"]).mean() > 0.5
    # Every client validated on the test table: the arbiter's aggregate is the guest's accuracy there
    val_acc = (val["predict_result"] == val["label"]).mean()
    assert arbiter["val_accuracy"] == pytest.approx(val_acc, abs=1e-9) and val_acc > 0.5


@pytest.mark.parametrize("folder", ["homo_nn_mnist", "homo_nn_tiny_gpt", "homo_nn_bert"])
def test_recipe_jobs_validate(folder: str) -> None:
    import fedloom.components.homo_nn  # noqa: F401  (registers HomoNN)
    from fedloom.components import registry
    from fedloom.dsl import load_job

    job = JOB.parent / folder
    conf, dsl = (json.loads((job / f).read_text()) for f in ("conf.json", "dsl.json"))
    load_job(conf, dsl, registry())
    assert conf["role"] == {"guest": [9999], "host": [10000, 10001], "arbiter": [10000]}


def test_token_table_models_give_class_log_probabilities() -> None:
    import torch

    from fedloom.ml.homo.recipe_fedavg import token_model

    params = {"vocab_size": 50, "context": 5, "n_embd": 8, "n_head": 2, "n_layer": 1, "n_ff": 16}
    model = token_model("tiny_gpt", params, 50, 5)
    x = torch.randint(0, 50, (4, 5)).float()
    out = model(x)
    assert out.shape == (4, 50)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(4))
    with torch.no_grad():  # the last position of the inner GPT, as log-probabilities
        ref = torch.log_softmax(model.inner(x.long())[:, -1, :], -1)
    torch.testing.assert_close(out, ref)
