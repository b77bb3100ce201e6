"""FATE's hetero Poisson pipeline example, run in-process (no server) with only its imports changed.

The script (``scripts/pipeline-hetero-poisson.py``) trains Reader → DataIO → Intersection →
HeteroPoisson (with a validate branch: reader_1 → dataio_1 fed ``Model(dataio_0.output.model)`` →
intersection_1) → Evaluation, deploys, dumps to JSON, loads it back, describes it and predicts with
a pipeline built from the loaded one. Checked against computations written here with numpy/pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.pipeline.conftest import ROWS, fate_config, fate_script

from fedloom.core.errors import ConfigError, FedloomError
from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.backend.task_info import TaskInfo

pytestmark = pytest.mark.slow
TABLES = ("dvisits_hetero_guest", "dvisits_hetero_host")


def test_fate_hetero_poisson_script_runs_and_predicts(
    local_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fate_config(local_env, TABLES)
    fate_script("pipeline-upload.py")(str(config))
    pipeline, predict_pipeline = fate_script("pipeline-hetero-poisson.py")(str(config))
    check_poisson_run(local_env, pipeline, predict_pipeline, capsys.readouterr())
    assert pipeline.get_train_job().backend == "local"


def check_poisson_run(
    folder: Path, pipeline: PipeLine, predict_pipeline: PipeLine, out: pytest.CaptureResult[str]
) -> None:
    """What the FATE Poisson script must have done (in-process or on a server)."""
    local_env = folder

    # FATE's progress lines while waiting, and the job's own id in them
    job_id = pipeline.get_train_job_id()
    assert f"Job id is {job_id}" in out.err
    assert "Running component " in out.err and ", time elapse: 0:00:" in out.err
    assert f"Job is success!!! Job id is {job_id}" in out.err
    assert "Pipeline Stage is fit" in out.err  # describe() of the loaded pipeline

    # the DSL the pipeline compiled: FATE's, wired as the script says
    dsl = pipeline.get_train_dsl()["components"]
    assert dsl["dataio_1"] == {
        "module": "DataTransform",
        "input": {"data": {"data": ["reader_1.data"]}, "model": ["dataio_0.model"]},
        "output": {"data": ["data"], "model": ["model"]},
    }
    assert dsl["hetero_poisson_0"]["input"] == {
        "data": {"train_data": ["intersection_0.data"], "validate_data": ["intersection_1.data"]}
    }
    assert dsl["intersection_0"]["output"] == {"data": ["data"]}
    conf = pipeline.get_train_conf()
    assert conf["component_parameters"]["role"]["host"]["0"]["evaluation_0"] == {"need_run": False}
    assert conf["component_parameters"]["role"]["guest"]["0"]["dataio_0"]["label_name"] == "doctorco"

    # the trained model, recomputed centrally: guest's and host's linear parts, exp link
    guest = pd.read_csv(local_env / "examples/data/dvisits_hetero_guest.csv")
    host = pd.read_csv(local_env / "examples/data/dvisits_hetero_host.csv")
    g_model = pipeline.get_component("hetero_poisson_0").get_model_param()
    h_model = TaskInfo(pipeline.get_train_job(), pipeline.hetero_poisson_0, "host", 10000).get_model_param()
    gm, hm = g_model["model"], h_model["model"]
    assert gm["feature_names"] == ["hscore", "chcond1", "chcond2"]
    eta = guest[gm["feature_names"]].to_numpy() @ np.asarray(gm["coef"][0]) + gm["intercept"][0]
    eta = eta + host[hm["feature_names"]].to_numpy() @ np.asarray(hm["coef"][0])
    expected = pd.Series(np.exp(eta), index=guest["id"].astype(str))

    summary = pipeline.get_component("hetero_poisson_0").get_summary()
    assert summary["n_iter"] == 10 and summary["train_rows"] == ROWS
    assert [v["epoch"] for v in summary["validation"]] == [4, 9]  # validation_freqs=5

    # the predict pipeline built from the loaded one applies exactly that model to reader_0's rows
    assert predict_pipeline.get_predict_job_id() not in (None, job_id)
    predicted = predict_pipeline.get_component("hetero_poisson_0").get_output_data()
    assert len(predicted) == ROWS and set(predicted["type"]) == {"test"}
    got = predicted.set_index(predicted["id"].astype(str))["predict_result"]
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-9)
    pdsl = predict_pipeline.get_predict_dsl()["components"]
    assert pdsl["dataio_0"]["input"] == {
        "data": {"data": ["reader_0.data"]},
        "model": ["pipeline.dataio_0.model"],
    }
    assert pdsl["hetero_poisson_0"]["input"]["data"] == {"test_data": ["intersection_0.data"]}
    assert predict_pipeline.get_predict_conf()["job_parameters"]["common"]["model_version"] == job_id

    # evaluation of the training output, recomputed from that output
    train_out = pipeline.get_component("hetero_poisson_0").get_output_data()
    err = train_out["label"].to_numpy() - train_out["predict_result"].to_numpy()
    ev = pipeline.get_component("evaluation_0").get_summary()
    assert ev["mse"] == pytest.approx(float(np.mean(err**2)), rel=1e-12)
    assert ev["mae"] == pytest.approx(float(np.mean(np.abs(err))), rel=1e-12)

    # the dump is JSON (no pickle) and loads back to the same deployed pipeline
    dumped = json.loads((local_env / "pipeline-hetero-poisson.json").read_text())
    assert dumped["format"] == "fedloom.pipeline/1" and dumped["deployed"] == [
        "dataio_0",
        "intersection_0",
        "hetero_poisson_0",
    ]
    loaded = PipeLine.load_model_from_file(local_env / "pipeline-hetero-poisson.json")
    assert loaded.is_load() and loaded.is_deploy()
    assert loaded.get_train_dsl() == pipeline.get_train_dsl()
    assert loaded.get_component("hetero_poisson_0").get_model_param() == g_model


def test_failed_party_is_named_with_component_and_reason(local_env: Path) -> None:
    from fedloom.pipeline.component import DataTransform, Intersection, Reader
    from fedloom.pipeline.interface import Data

    config = fate_config(local_env, TABLES, rows=60)
    fate_script("pipeline-upload.py")(str(config))
    pipe = (
        PipeLine(progress=None).set_initiator(role="guest", party_id=9999).set_roles(guest=9999, host=10000)
    )
    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=9999).component_param(
        table={"name": "dvisits_hetero_guest", "namespace": "experiment"}
    )
    reader_0.get_party_instance(role="host", party_id=10000).component_param(
        table={"name": "dvisits_hetero_host", "namespace": "experiment"}
    )
    data_transform_0 = DataTransform(name="data_transform_0")
    data_transform_0.get_party_instance(role="guest", party_id=9999).component_param(
        with_label=True, label_name="no_such_column"
    )
    data_transform_0.get_party_instance(role="host", party_id=10000).component_param(with_label=False)
    pipe.add_component(reader_0)
    pipe.add_component(data_transform_0, data=Data(data=reader_0.output.data))
    pipe.add_component(Intersection(name="intersection_0"), data=Data(data=data_transform_0.output.data))
    with pytest.raises(FedloomError) as info:
        pipe.fit()
    err = info.value
    assert err.party == "guest:9999" and err.component == "data_transform_0"
    assert "no_such_column" in str(err)
    with pytest.raises(ConfigError, match="fit the pipeline successfully"):
        pipe.deploy_component()
