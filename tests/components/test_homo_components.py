"""The HomoNN and HomoLR components: FATE's confs parse, train through the component classes, and a
FATE homo LR job runs over OS processes through the job runner."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("torch")

import fedloom.components.homo_lr as homo_lr
import fedloom.components.homo_nn as homo_nn
from fedloom.components import Env, Inputs, registry
from fedloom.components.base import join_model_files, split_model_files
from fedloom.context import Context
from fedloom.core import ConfigError, PartyId
from fedloom.data import TableStore, frame_from_table, read_csv_table
from fedloom.dsl import load_job
from fedloom.ml.homo.nn_conf import HomoNNConf
from fedloom.runner.launcher import PartySpec, launch
from fedloom.testing import run_parties

FATE = Path(
    os.environ.get(
        "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[3] / "shared" / "fate_examples")
    )
)
NN_DIR, LR_DIR = FATE / "dsl_v2" / "homo_nn", FATE / "dsl_v2" / "homo_logistic_regression"
HERE = str(Path(__file__).parent)

pytestmark = pytest.mark.skipif(not NN_DIR.is_dir(), reason="FATE examples not present")


def fate_params(conf: Path, component: str) -> dict[str, Any]:
    return dict(json.loads(conf.read_text())["component_parameters"]["common"][component])


def frame(name: str) -> Any:
    return frame_from_table(read_csv_table(FATE / "data" / name), with_label=True, label_name="y")


def run_component(module: Any, params: dict[str, Any], data: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run a component's role classes on guest, host and arbiter (threads), like the runner does."""
    spec = registry().get(module.MODULE)
    model = spec.params_model(**params)

    def party(role: str, frame_: Any) -> Any:
        def run(ctx: Context) -> Any:
            env = Env(component="nn_0", party=ctx.party, party_index=0, data_dir=tmp)
            inputs = Inputs(data={"train_data": [frame_]} if frame_ is not None else {})
            if frame_ is None:
                inputs.missing["train_data"] = ["reader_0 does not run on this party"]
            return spec.entry[ctx.party.role](model, env).run(ctx.sub("nn_0"), inputs)

        return run

    fns = {role: party(role, f) for role, f in data.items()}
    return run_parties(fns, timeout=60)


def test_fate_homo_nn_confs_parse() -> None:
    binary = HomoNNConf.from_dict(fate_params(NN_DIR / "homo_nn_train_binary_conf.json", "nn_0")).spec()
    assert [ly["layer"] for ly in binary.layers] == ["Linear", "Sigmoid"]
    p = binary.params
    assert (p.loss, p.optimizer, p.lr, p.max_iter, p.local_epochs, p.batch_size, p.seed) == (
        "BCELoss", "adam", 0.01, 20, 1, 128, 100
    )  # fmt: skip
    assert p.optimizer_params == {"betas": (0.9, 0.999), "eps": 1e-08, "amsgrad": False}
    multi = HomoNNConf.from_dict(fate_params(NN_DIR / "homo_nn_train_multi_conf.json", "nn_0")).spec()
    # Softmax + CrossEntropyLoss is trained as LogSoftmax + NLL (the cross-entropy of the same probabilities)
    assert multi.layers[-1] == {"layer": "LogSoftmax", "dim": 1} and multi.params.loss == "NLLLoss"
    assert multi.params.max_iter == 50


def test_keras_and_zoo_confs_parse_and_bad_ones_name_the_field() -> None:
    keras = {
        "config_type": "keras",
        "nn_define": {
            "class_name": "Sequential",
            "config": {
                "layers": [
                    {
                        "class_name": "Dense",
                        "config": {"units": 8, "activation": "relu", "input_shape": [30]},
                    },
                    {"class_name": "Dropout", "config": {"rate": 0.1}},
                    {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}},
                ]
            },
        },
        "loss": "binary_crossentropy",
        "optimizer": "SGD",
        "max_iter": 4,
        "batch_size": 32,
    }
    spec = HomoNNConf.from_dict(keras).spec()
    assert [ly["layer"] for ly in spec.layers] == ["Linear", "ReLU", "Dropout", "Linear", "Sigmoid"]
    assert spec.layers[3]["in_features"] == 8 and spec.params.loss == "BCELoss" and spec.params.max_iter == 4
    zoo = HomoNNConf.from_dict(
        {"model": {"name": "tabular_mlp", "n_classes": 4, "params": {"hidden": [16]}}}
    ).spec()
    assert zoo.zoo is not None and zoo.params.loss == "NLLLoss"
    bad = fate_params(NN_DIR / "homo_nn_train_binary_conf.json", "nn_0")
    bad["nn_define"]["1-1"]["layer"] = "Conv9d"
    with pytest.raises(ConfigError, match=r"'nn_define.1-1.layer' parameter of HomoNN must be one of"):
        homo_nn.HomoNNComponentParams(**bad)
    with pytest.raises(ConfigError, match=r"'trainer.trainer_name'"):
        HomoNNConf.from_dict({**keras, "trainer": {"trainer_name": "fedprox_trainer"}})
    with pytest.raises(ConfigError, match=r"'no_such_thing' parameter of HomoNN is not a known parameter"):
        HomoNNConf.from_dict({**keras, "no_such_thing": 1})


def test_homo_nn_component_trains_on_breast_and_predicts_from_its_model(tmp_path: Path) -> None:
    params = fate_params(NN_DIR / "homo_nn_train_binary_conf.json", "nn_0")
    params["trainer"]["param"]["epochs"] = 8
    g, h = frame("breast_homo_guest.csv"), frame("breast_homo_host.csv")
    out = run_component(homo_nn, params, {"guest": g, "host": h, "arbiter": None}, tmp_path)
    guest = out["guest"]
    df = guest.data[0].df
    assert set(df["type"]) == {"train"} and len(df) == g.n_rows
    assert (df["predict_result"] == df["label"]).mean() > 0.9
    assert guest.metrics["rounds"] == 8 and out["arbiter"].metrics["clients"] == ["guest:9999", "host:10000"]
    # predict mode: rebuild the network from the stored artifact, as the runner stores it: the
    # weights in weights.safetensors next to model.json (no JSON lists of floats)
    written, files = split_model_files(guest.model)
    (tmp_path / "model.json").write_text(json.dumps(written))
    for file_name, content in files.items():
        (tmp_path / file_name).write_bytes(content)
    assert list(files) == ["weights.safetensors"] and "state" not in written["model"]
    stored = join_model_files(json.loads((tmp_path / "model.json").read_text()), tmp_path)
    spec = registry().get("HomoNN")
    env = Env(component="nn_0", party=PartyId.parse("guest:9999"), party_index=0, data_dir=tmp_path)
    test = frame("breast_homo_test.csv")
    pred = run_parties(
        {
            "guest": lambda ctx: spec.entry[ctx.party.role](spec.params_model(**params), env).run(
                ctx.sub("nn_0"), Inputs(data={"test_data": [test]}, models=[stored])
            )
        }
    )["guest"]
    assert (pred.data[0].df["predict_result"] == pred.data[0].df["label"]).mean() > 0.9


def test_homo_nn_component_multi_class_on_vehicle(tmp_path: Path) -> None:
    params = fate_params(NN_DIR / "homo_nn_train_multi_conf.json", "nn_0")
    params["trainer"]["param"]["epochs"] = 10
    g, h = frame("vehicle_scale_homo_guest.csv"), frame("vehicle_scale_homo_host.csv")
    out = run_component(homo_nn, params, {"guest": g, "host": h, "arbiter": None}, tmp_path)
    df = out["host"].data[0].df
    detail = json.loads(df["predict_detail"].iloc[0])
    assert sorted(detail) == ["0", "1", "2", "3"] and abs(sum(detail.values()) - 1) < 1e-6
    assert (df["predict_result"] == df["label"]).mean() > 0.5  # 4 classes, 10 epochs: well above chance
    losses = out["guest"].metrics["loss_history"]
    assert losses[-1] < losses[0]


def test_homo_lr_component_trains_on_breast(tmp_path: Path) -> None:
    params = fate_params(LR_DIR / "homo_lr_train_conf.json", "homo_lr_0")
    g, h = frame("breast_homo_guest.csv"), frame("breast_homo_host.csv")
    out = run_component(homo_lr, params, {"guest": g, "host": h, "arbiter": None}, tmp_path)
    df = out["guest"].data[0].df
    assert (df["predict_result"] == df["label"]).mean() > 0.93
    assert out["arbiter"].model["model"]["weights"] == out["guest"].model["model"]["weights"]
    with pytest.raises(ConfigError, match=r"encrypt_param.method"):
        homo_lr.HomoLRComponentParams(**{**params, "encrypt_param": {"method": "Paillier"}})


def run_job(
    conf: dict[str, Any], dsl: dict[str, Any], tables: tuple[str, ...], tmp_path: Path
) -> dict[str, Any]:
    """Upload the tables, then run every party of the job as its own process through the job runner."""
    store = TableStore(tmp_path / "data")
    for name in tables:
        store.upload(
            {"file": str(FATE / "data" / f"{name}.csv"), "head": 1, "partition": 1, "table_name": name,
             "namespace": "experiment"}
        )  # fmt: skip
    load_job(conf, dsl, registry())  # validates the job (and every party's parameters) first
    parties = [PartyId.parse(p) for p in ("guest:9999", "host:10000", "arbiter:10000")]
    kwargs = {"conf": conf, "dsl": dsl, "data_dir": str(tmp_path / "data"), "job_dir": str(tmp_path / "job")}
    res = launch(
        [PartySpec(p, "homo_job_targets:run_party", kwargs) for p in parties],
        python_path=[HERE],
        job_id="homo_job",
        timeout=60,
        job_dir=tmp_path / "job",
    )
    res.raise_for_failure()
    return {str(p): r for p, r in res.results().items()}


def output(tmp_path: Path, component: str, party: str, name: str) -> Path:
    return tmp_path / "job" / "outputs" / component / party / name


def test_fate_homo_lr_job_runs_over_processes(tmp_path: Path) -> None:
    # Prepare: FATE's conf and dsl as they are (FeatureScale included)
    conf = json.loads((LR_DIR / "homo_lr_train_conf.json").read_text())
    dsl = json.loads((LR_DIR / "homo_lr_train_dsl.json").read_text())
    # Execute
    out = run_job(conf, dsl, ("breast_homo_guest", "breast_homo_host"), tmp_path)
    # Assert
    guest = out["guest:9999"]["components"]
    assert guest["scale_0"]["state"] == out["host:10000"]["components"]["scale_0"]["state"] == "done"
    assert guest["homo_lr_0"]["state"] == "done" and guest["homo_lr_0"]["metrics"]["rounds"] <= 30
    assert guest["evaluation_0"]["state"] == "done"
    preds = pd.read_parquet(output(tmp_path, "homo_lr_0", "guest-9999", "data.parquet"))
    assert (preds["predict_result"] == preds["label"]).mean() > 0.93
    weights = [
        json.loads(output(tmp_path, "homo_lr_0", p, "model.json").read_text())["model"]["weights"]
        for p in ("guest-9999", "host-10000", "arbiter-10000")
    ]
    assert weights[0] == weights[1] == weights[2]


@pytest.mark.slow
def test_fate_homo_nn_binary_job_runs_unchanged_over_processes(tmp_path: Path) -> None:
    conf = json.loads((NN_DIR / "homo_nn_train_binary_conf.json").read_text())
    dsl = json.loads((NN_DIR / "homo_nn_train_binary_dsl.json").read_text())
    out = run_job(conf, dsl, ("breast_homo_guest", "breast_homo_host"), tmp_path)
    guest = out["guest:9999"]["components"]
    assert guest["nn_0"]["metrics"]["rounds"] == 20 and guest["eval_0"]["state"] == "done"
    preds = pd.read_parquet(output(tmp_path, "nn_0", "guest-9999", "data.parquet"))
    assert (preds["predict_result"] == preds["label"]).mean() > 0.9
    arbiter = out["arbiter:10000"]["components"]["nn_0"]["metrics"]
    assert arbiter["clients"] == ["guest:9999", "host:10000"] and arbiter["samples"] == 227 + 228
