"""Building and compiling pipelines (no job runs): FATE's names and layout, the DSL and conf they
compile to (compared with FATE's own JSON of the same job), parameters per party, job parameters,
FATE's example config, errors, and the JSON dump."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from tests.fate_jobs import DSL_V2

from fedloom.components import registry
from fedloom.core.errors import ConfigError
from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.component import (
    Component,
    DataIO,
    DataTransform,
    Evaluation,
    HeteroPoisson,
    Intersection,
    Reader,
    component_class,
)
from fedloom.pipeline.interface import Data, Model
from fedloom.pipeline.runtime.entity import JobParameters
from fedloom.pipeline.utils.tools import load_job_config

POISSON = DSL_V2 / "hetero_poisson_regression"


def fate_poisson_pipeline() -> PipeLine:
    """FATE's test_hetero_poisson_train_job (dsl_v2) written as a pipeline."""
    guest, host, arbiter = 9999, 10000, 10000
    pipeline = (
        PipeLine()
        .set_initiator(role="guest", party_id=guest)
        .set_roles(guest=guest, host=host, arbiter=arbiter)
    )
    reader_0 = Reader(name="reader_0")
    reader_0.get_party_instance(role="guest", party_id=guest).component_param(
        table={"name": "dvisits_hetero_guest", "namespace": "experiment"}
    )
    reader_0.get_party_instance(role="host", party_id=host).component_param(
        table={"name": "dvisits_hetero_host", "namespace": "experiment"}
    )
    data_transform_0 = DataTransform(name="data_transform_0")
    data_transform_0.get_party_instance(role="guest", party_id=guest).component_param(
        with_label=True, label_name="doctorco", label_type="float", output_format="dense"
    )
    data_transform_0.get_party_instance(role="host", party_id=host).component_param(with_label=False)
    intersection_0 = Intersection(
        name="intersection_0",
        intersect_method="rsa",
        rsa_params={"hash_method": "sha256", "final_hash_method": "sha256", "key_length": 1024},
    )
    hetero_poisson_0 = HeteroPoisson(
        name="hetero_poisson_0",
        penalty="L2",
        tol=0.001,
        alpha=100.0,
        optimizer="rmsprop",
        batch_size=-1,
        learning_rate=0.01,
        encrypt_param={"key_length": 1024},
        init_param={"init_method": "zeros"},
        max_iter=10,
        early_stop="weight_diff",
        decay_sqrt=False,
        exposure_colname="exposure",
    )
    evaluation_0 = Evaluation(name="evaluation_0", eval_type="regression", pos_label=1)
    evaluation_0.get_party_instance(role="host", party_id=host).component_param(need_run=False)
    pipeline.add_component(reader_0)
    pipeline.add_component(data_transform_0, data=Data(data=reader_0.output.data))
    pipeline.add_component(intersection_0, data=Data(data=data_transform_0.output.data))
    pipeline.add_component(hetero_poisson_0, data=Data(train_data=intersection_0.output.data))
    pipeline.add_component(evaluation_0, data=Data(data=hetero_poisson_0.output.data))
    return pipeline


def test_compiles_to_fates_own_dsl_and_conf() -> None:
    pipeline = fate_poisson_pipeline().compile()
    assert pipeline.get_train_dsl() == json.loads(
        (POISSON / "test_hetero_poisson_train_job_dsl.json").read_text()
    )
    fate = json.loads((POISSON / "test_hetero_poisson_train_job_conf.json").read_text())
    conf = pipeline.get_train_conf()
    assert conf["component_parameters"] == fate["component_parameters"]
    assert conf["initiator"] == fate["initiator"] and conf["dsl_version"] == 2
    assert {r: sorted(ids) for r, ids in conf["role"].items()} == {
        r: sorted(ids) for r, ids in fate["role"].items()
    }
    assert conf["job_parameters"] == {"common": {"job_type": "train"}}


def test_every_module_has_a_class_with_fates_name() -> None:
    for spec in registry():
        cls = component_class(spec.name)
        assert issubclass(cls, Component) and cls.module == spec.name
    assert DataIO.module == "DataTransform" and issubclass(DataIO, DataTransform)


def test_names_parameters_and_references_follow_fate() -> None:
    a, b = HeteroPoisson(max_iter=3), HeteroPoisson()
    assert int(b.name.rsplit("_", 1)[1]) == int(a.name.rsplit("_", 1)[1]) + 1
    assert a.name.startswith("heteropoisson_")
    assert a.max_iter == 3  # a parameter reads as an attribute
    dio = DataIO(name="dataio_0")
    assert dio.output.data == "dataio_0.data" and dio.output.model == "dataio_0.model"
    assert dio.input.data == "dataio_0.data"
    assert a.input.data.train_data == f"{a.name}.train_data"  # a learner's inputs
    with pytest.raises(ConfigError, match="no model output"):
        _ = Reader(name="r").output.model
    inst = dio.get_party_instance(role="guest", party_id=9999)
    assert dio.get_party_instance(role="guest", party_id=9999) is inst
    inst.component_param(with_label=True)
    dio.get_party_instance(role="host").component_param(with_label=False)  # every host: "all"
    dio.get_party_instance(role="host", party_id=[10000, 10001]).algorithm_param(label_name="y")
    roles = {"guest": [9999], "host": [10000, 10001]}
    assert dio.get_config(roles=roles) == {
        "role": {
            "guest": {"0": {"dataio_0": {"with_label": True}}},
            "host": {"all": {"dataio_0": {"with_label": False}}, "0|1": {"dataio_0": {"label_name": "y"}}},
        }
    }
    with pytest.raises(ConfigError, match="not a guest of the pipeline") as info:
        dio.get_config(roles={"guest": [1]})
    assert info.value.component == "dataio_0"


def test_job_parameters_and_fate_config(tmp_path: Path) -> None:
    jp = JobParameters(task_parallelism=1, timeout=300, backend=0)
    jp.get_party_instance(role="host", party_id=10000).job_param(task_cores=2)
    roles = {"guest": [9999], "host": [10000]}
    assert jp.get_config(roles=roles) == {
        "common": {"task_parallelism": 1, "timeout": 300},
        "role": {"host": {"0": {"task_cores": 2}}},
    }
    (tmp_path / "config.yaml").write_text(
        "parties:\n  guest: [9999]\n  host: [10000, 10001]\n  arbiter: [10000]\nwork_mode: 0\n"
    )
    cfg = load_job_config(tmp_path / "config.yaml")
    assert (cfg.parties.guest, cfg.parties.host, cfg.parties.arbiter, cfg.work_mode) == (
        [9999],
        [10000, 10001],
        [10000],
        0,
    )
    (tmp_path / "config.json").write_text(json.dumps({"parties": {"guest": [1]}}))
    assert load_job_config(str(tmp_path / "config.json")).parties.host is None
    (tmp_path / "config.txt").write_text("parties: {}")
    with pytest.raises(ConfigError, match=r"from a \.txt file"):
        load_job_config(tmp_path / "config.txt")


def test_compile_errors_name_component_and_field() -> None:
    pipeline = fate_poisson_pipeline()
    pipeline.hetero_poisson_0.component_param(max_itr=5)  # misspelt
    with pytest.raises(ConfigError) as info:
        pipeline.compile()
    assert info.value.component == "hetero_poisson_0" and info.value.field == "max_itr"
    with pytest.raises(ConfigError, match="already in the pipeline"):
        pipeline.add_component(Reader(name="reader_0"))
    bad = PipeLine().set_roles(guest=9999)
    bad.add_component(Reader(name="reader_0"))
    with pytest.raises(ConfigError, match="initiator"):
        bad.compile()
    with pytest.raises(ConfigError, match="deploy its components first"):
        PipeLine().add_component(fate_poisson_pipeline(), data=Data(predict_input={"a.data": "b.data"}))
    with pytest.raises(ConfigError, match=r"predict pipeline|deploy components"):
        fate_poisson_pipeline().predict()
    with pytest.raises(ConfigError, match="Model"):
        fate_poisson_pipeline().add_component(DataIO(name="x"), model="dataio_0.model")  # type: ignore[arg-type]


def test_dump_is_json_and_loads_back(tmp_path: Path) -> None:
    pipeline = fate_poisson_pipeline()
    pipeline.add_component(
        DataIO(name="dataio_9"), data=Data(data="reader_0.data"), model=Model(model="data_transform_0.model")
    )
    pipeline.compile()
    path = tmp_path / "pipe.json"
    raw = pipeline.dump(path)
    assert json.loads(raw) == json.loads(path.read_text())
    loaded = PipeLine.load_model_from_file(path)
    assert loaded.is_load() and not loaded.is_deploy()
    assert type(loaded.dataio_9) is DataIO
    assert loaded.compile().get_train_dsl() == pipeline.get_train_dsl()
    assert loaded.get_train_conf() == pipeline.get_train_conf()
    # a pickle (what FATE writes) is refused, not unpickled
    path.write_bytes(pickle.dumps({"format": "fedloom.pipeline/1"}))
    with pytest.raises(ConfigError, match="not JSON"):
        PipeLine.load_model_from_file(path)
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ConfigError, match="not a fedloom pipeline dump"):
        PipeLine.load_model_from_file(path)
