"""Every FATE DSL v2 example job parses and validates; predict DSLs derive as FATE derives them."""

from __future__ import annotations

import json
from pathlib import Path

from fedloom.core import Role
from fedloom.dsl import ModuleRegistry, derive_predict_conf, derive_predict_dsl, load_job


def test_every_fate_job_validates(fate_pair: tuple[Path, Path], fate_registry: ModuleRegistry) -> None:
    # Prepare
    conf_path, dsl_path = fate_pair
    # Execute
    job = load_job(conf_path, dsl_path, fate_registry)
    # Assert: run order is a topological order of the whole dsl
    dsl = json.loads(dsl_path.read_text())
    assert sorted(job.order) == sorted(dsl["components"])
    for i, name in enumerate(job.order):
        assert all(job.order.index(up) < i for up in job.upstream(name))
    for name in job.order:
        for role in job.roles_for(name):
            for idx in range(len(job.party_ids(role))):
                assert isinstance(job.parameters_for(name, role, idx), dict)
    assert job.initiator.role is Role.GUEST


def test_every_fate_dsl_file_is_covered(fate_dir: Path, all_fate_pairs: list[tuple[Path, Path]]) -> None:
    used = {dsl for _, dsl in all_fate_pairs}
    assert set(fate_dir.glob("*/*_dsl.json")) == used
    assert len(all_fate_pairs) == 35


def test_fate_reader_tables_reach_each_party(fate_registry: ModuleRegistry, fate_dir: Path) -> None:
    base = fate_dir / "intersect"
    job = load_job(
        base / "test_intersect_job_rsa_split_conf.json", base / "test_intersect_job_dsl.json", fate_registry
    )
    assert job.parameters_for("reader_0", "guest", 0) == {
        "table": {"name": "breast_hetero_guest", "namespace": "experiment"}
    }
    assert job.parameters_for("reader_0", "host", 0)["table"]["name"] == "breast_hetero_host"
    rsa = job.parameters_for("intersect_0", "host", 0)["rsa_params"]
    assert rsa["split_calculation"] is True and rsa["random_base_fraction"] == 0.5


def test_predict_dsl_derives_like_fate_for_hetero_lr(fate_dir: Path) -> None:
    base = fate_dir / "hetero_logistic_regression"
    expected = json.loads((base / "hetero_lr_normal_predict_dsl.json").read_text())
    derived = derive_predict_dsl(
        base / "hetero_lr_normal_dsl.json", ["data_transform_0", "intersection_0", "hetero_lr_0"]
    )
    assert derived == expected
    # default deploy list: everything but Evaluation
    assert derive_predict_dsl(base / "hetero_lr_normal_dsl.json") == expected


def test_predict_dsl_derives_like_fate_for_secureboost_with_validation_branch(fate_dir: Path) -> None:
    base = fate_dir / "hetero_secureboost"
    expected = json.loads((base / "test_predict_dsl.json").read_text())
    derived = derive_predict_dsl(
        base / "test_secureboost_train_dsl.json",
        ["data_transform_0", "intersection_0", "hetero_secure_boost_0"],
    )
    assert derived == expected


def test_left_out_component_is_bypassed(fate_dir: Path) -> None:
    # homo LR reads scale_0's output; without scale_0 it reads what fed scale_0.
    derived = derive_predict_dsl(
        fate_dir / "homo_logistic_regression" / "homo_lr_train_dsl.json", ["data_transform_0", "homo_lr_0"]
    )
    lr = derived["components"]["homo_lr_0"]
    assert lr["input"] == {
        "data": {"test_data": ["data_transform_0.data"]},
        "model": ["pipeline.homo_lr_0.model"],
    }
    assert "scale_0" not in derived["components"]


def test_isometric_model_is_dropped_in_predict(fate_dir: Path) -> None:
    derived = derive_predict_dsl(
        fate_dir / "hetero_feature_selection" / "hetero_feature_selection_iv_top_k_dsl.json"
    )
    sel = derived["components"]["hetero_feature_selection_0"]["input"]
    assert "isometric_model" not in sel and sel["model"] == ["pipeline.hetero_feature_selection_0.model"]


def test_derived_predict_job_validates(fate_registry: ModuleRegistry, fate_dir: Path) -> None:
    base = fate_dir / "hetero_logistic_regression"
    predict_dsl = derive_predict_dsl(base / "hetero_lr_normal_dsl.json")
    predict_conf = derive_predict_conf(base / "hetero_lr_normal_conf.json", predict_dsl, "m1", "v1")
    job = load_job(predict_conf, predict_dsl, fate_registry)
    assert job.job_type == "predict"
    assert job.job_parameters_for("guest", 0)["model_id"] == "m1"
    assert job.parameters_for("reader_0", "host", 0)["table"]["name"] == "breast_hetero_host"
    assert "hetero_lr_0" not in predict_conf["component_parameters"].get("common", {})
