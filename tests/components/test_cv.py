"""Cross-validation in the model-component base (``cv_param.need_cv``), for every model component.

The folds come from the ids alone (every party derives them; nothing is sent), each fold trains
the algorithm from scratch on the other folds, and the held-out predictions are scored. The
end-to-end test runs HeteroLR (``plain`` cipher) through the real job runner and checks that each
fold's predictions equal those of a model trained on that fold alone: exactly, since the same
fixed-point steps run on the same rows in the same order (1e-12 leaves room for nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold
from tests.job_dsl import hetero_lr_dsl

from fedloom.components.model import CVSettings, cv_folds, cv_summary
from fedloom.core import ConfigError, DataError, PartyId
from fedloom.data import Frame, TableStore
from fedloom.dsl import load_job
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRParams
from fedloom.runner.job import run_party
from fedloom.testing import run_parties

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
G, H, A = (PartyId.parse(p) for p in ("guest:9999", "host:10000", "arbiter:10000"))
LR = {
    "penalty": "L2",
    "alpha": 0.01,
    "optimizer": "rmsprop",
    "learning_rate": 0.15,
    "max_iter": 3,
    "batch_size": -1,
    "early_stop": "diff",
    "tol": 1e-12,
    "init_param": {"init_method": "zeros"},
    "encrypt_param": {"method": "plain", "key_length": 1024},
}


# -- folds ---------------------------------------------------------------------------------------
def test_folds_without_shuffle_are_sklearn_kfold() -> None:
    ids = np.asarray([f"id{i}" for i in range(23)])
    folds = cv_folds(ids, 4, shuffle=False, seed=None)
    for i, (_, test) in enumerate(KFold(4).split(ids)):
        assert np.flatnonzero(folds == i).tolist() == test.tolist()


def test_shuffled_folds_depend_on_the_ids_and_seed_only() -> None:
    # Prepare: the same ids in another row order (as another party might hold them)
    ids = np.asarray([str(i) for i in range(100)])
    perm = np.random.default_rng(0).permutation(100)
    # Execute
    a = dict(zip(ids, cv_folds(ids, 5, True, 7), strict=True))
    b = dict(zip(ids[perm], cv_folds(ids[perm], 5, True, 7), strict=True))
    other = dict(zip(ids, cv_folds(ids, 5, True, 8), strict=True))
    # Assert
    assert a == b
    assert a != other
    assert sorted(np.bincount(list(a.values())).tolist()) == [20] * 5


def test_fewer_rows_than_folds_and_bad_settings_are_refused() -> None:
    with pytest.raises(DataError, match="n_splits=5"):
        cv_folds(np.asarray(["a", "b"]), 5, False, None)
    with pytest.raises(ConfigError, match=r"cv_param\.n_splits") as err:
        CVSettings.of({"cv_param": {"n_splits": 1, "need_cv": True}}, "hetero_lr_0")
    assert err.value.field == "cv_param.n_splits" and err.value.component == "hetero_lr_0"
    with pytest.raises(ConfigError, match=r"cv_param\.n_fold"):
        CVSettings.of({"cv_param": {"n_fold": 3}})


def test_summary_is_mean_and_std_over_folds() -> None:
    s = cv_summary([{"auc": 0.8, "ks": float("nan")}, {"auc": 0.6, "ks": 0.4}])
    assert s["auc"] == pytest.approx({"mean": 0.7, "std": 0.1})
    assert s["ks"] == {"mean": 0.4, "std": 0.0}


# -- a job ---------------------------------------------------------------------------------------
DSL = hetero_lr_dsl()


def conf(lr: dict[str, Any]) -> dict[str, Any]:
    tables = {"guest": "breast_hetero_guest", "host": "breast_hetero_host"}
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "component_parameters": {
            "common": {"intersection_0": {"intersect_method": "ecdh"}, "hetero_lr_0": lr},
            "role": {
                role: {"0": {"reader_0": {"table": {"name": t, "namespace": "experiment"}},
                             "data_transform_0": {"with_label": role == "guest"}}}
                for role, t in tables.items()
            },
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    store = TableStore(path)
    for role in ("guest", "host"):
        upload = EXAMPLES / "upload" / f"breast_hetero_{role}.json"
        store.upload(json.loads(upload.read_text()), upload.parent)
    return path


def breast() -> tuple[Frame, Frame]:
    """The two breast tables as Frames with text ids (as the job's DataTransform makes them)."""
    frames = []
    for role in ("guest", "host"):
        df = pd.read_csv(EXAMPLES / "data" / f"breast_hetero_{role}.csv")
        cols = [c for c in df.columns if c not in ("id", "y")]
        label = df["y"].to_numpy() if "y" in df else None
        ids = df["id"].astype(str).to_numpy()
        frames.append(Frame(ids, df[cols].to_numpy(np.float64), cols, label=label))
    return frames[0], frames[1]


def run_job(conf_: dict[str, Any], data_dir: Path, job_dir: Path) -> dict[PartyId, Any]:
    def target(party: PartyId) -> Any:
        return lambda ctx: run_party(ctx, conf_, DSL, str(data_dir), str(job_dir), None)

    return run_parties({p: target(p) for p in (G, H, A)}, timeout=120)


def output(job_dir: Path, party: str, name: str) -> Path:
    suffix = ".json" if name in ("model", "metrics") else ".parquet"
    return job_dir / "outputs" / "hetero_lr_0" / party / f"{name}{suffix}"


def test_hetero_lr_cv_folds_equal_training_on_each_fold_alone(data_dir: Path, tmp_path: Path) -> None:
    # Prepare
    cv = {"n_splits": 3, "shuffle": True, "random_seed": 103, "need_cv": True, "output_fold_history": True}
    # Execute
    run_job(conf({**LR, "cv_param": cv}), data_dir, tmp_path)
    # Assert: the data output holds every fold's train and held-out predictions
    preds = pd.read_parquet(output(tmp_path, "guest-9999", "data"))
    assert list(preds.columns)[-2:] == ["type", "fold"]
    assert sorted(preds.groupby(["fold", "type"]).size().items()) == [
        ((0, "train"), 379), ((0, "validate"), 190),
        ((1, "train"), 379), ((1, "validate"), 190),
        ((2, "train"), 380), ((2, "validate"), 189),
    ]  # fmt: skip
    held_out = preds[preds["type"] == "validate"]
    assert sorted(held_out["id"].astype(str)) == sorted(preds["id"].astype(str).unique())  # each row once
    # ... and per-fold scores with their summary; no model (FATE's CV job outputs none)
    metrics = json.loads(output(tmp_path, "guest-9999", "metrics").read_text())
    assert metrics["mode"] == "cv" and len(metrics["cv_folds"]) == 3
    assert set(metrics["cv_summary"]) >= {"auc", "ks"}
    aucs = [f["auc"] for f in metrics["cv_folds"]]
    assert metrics["cv_summary"]["auc"]["mean"] == pytest.approx(np.mean(aucs))
    for party in ("guest-9999", "host-10000", "arbiter-10000"):
        assert not output(tmp_path, party, "model").exists()
    # Assert: each fold's model is the model of that fold trained alone
    guest, host = breast()
    p = HeteroLRParams.from_dict(LR)
    for i in range(3):
        fold = preds[preds["fold"] == i]
        train_ids = fold[fold["type"] == "train"]["id"].to_numpy()
        test_ids = fold[fold["type"] == "validate"]["id"].to_numpy()
        gt, ht = guest.select(train_ids), host.select(train_ids)
        gv, hv = guest.select(test_ids), host.select(test_ids)

        def guest_fn(c: Any, gt: Any = gt, gv: Any = gv) -> Any:
            role = HeteroLRGuest(p)
            return role.predict(c.sub("p"), role.fit(c.sub("f"), gt, None), gv)

        def host_fn(c: Any, ht: Any = ht, hv: Any = hv) -> Any:
            role = HeteroLRHost(p)
            return role.predict(c.sub("p"), role.fit(c.sub("f"), ht, None), hv)

        alone = run_parties({G: guest_fn, H: host_fn, A: lambda c: HeteroLRArbiter(p).fit(c.sub("f"))})
        expected = alone[G].score
        got = fold[fold["type"] == "validate"]["predict_score"].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_a_bad_cv_param_is_refused_when_the_job_loads() -> None:
    assert load_job(conf({**LR, "cv_param": {"need_cv": True, "n_splits": 2}}), DSL) is not None
    with pytest.raises(ConfigError, match=r"cv_param\.n_splits") as err:
        load_job(conf({**LR, "cv_param": {"need_cv": True, "n_splits": 0}}), DSL)
    assert err.value.component == "hetero_lr_0"


def test_cv_of_a_warm_start_is_refused_naming_the_model_input(data_dir: Path, tmp_path: Path) -> None:
    # Prepare: hetero_lr_1 continues hetero_lr_0's model and asks for cross-validation as well
    dsl = json.loads(json.dumps(DSL))
    dsl["components"]["hetero_lr_1"] = {
        "module": "HeteroLR",
        "input": {"data": {"train_data": ["intersection_0.data"]}, "model": ["hetero_lr_0.model"]},
        "output": {"data": ["data"], "model": ["model"]},
    }
    c = conf({**LR, "max_iter": 1})
    c["component_parameters"]["common"]["hetero_lr_1"] = {**LR, "cv_param": {"need_cv": True, "n_splits": 2}}

    def target(party: PartyId) -> Any:
        return lambda ctx: run_party(ctx, c, dsl, str(data_dir), str(tmp_path), None)

    # Execute / Assert
    with pytest.raises(ConfigError, match="need_cv with a model input") as err:
        run_parties({p: target(p) for p in (G, H, A)}, timeout=120)
    assert err.value.field == "input.model"
