"""Evaluation: metrics equal scikit-learn's on fixed predictions; plots and tables are written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from fedloom.components import Env, Inputs, Table
from fedloom.components.evaluation import Evaluation, EvaluationParams, EvaluationSkip
from fedloom.core import ConfigError, DataError, PartyId
from fedloom.dsl import load_job
from fedloom.ml.evaluation import evaluate_binary, evaluate_multi, evaluate_regression
from fedloom.ml.predictions import Predictions

GUEST = PartyId.parse("guest:9999")
RNG = np.random.default_rng(7)
N = 300


def env(tmp_path: Path) -> Env:
    return Env(component="evaluation_0", party=GUEST, party_index=0, data_dir=tmp_path, job_dir=tmp_path)


def table(pred: Predictions, kind: str | None = "train") -> Table:
    df = pred.to_pandas()
    if kind is not None:
        df["type"] = kind
    return Table(df, "id", "hetero_lr_0.data")


def run(tmp_path: Path, tables: list[Table], sources: list[str], **params: object) -> dict:
    comp = Evaluation(EvaluationParams.model_validate(params), env(tmp_path))
    out = comp.run(None, Inputs(data={"data": tables}, sources={"data": sources}))  # type: ignore[arg-type]
    return {"metrics": out.metrics, "data": out.data[0].df}


@pytest.fixture(scope="module")
def binary() -> Predictions:
    y = RNG.integers(0, 2, N)
    score = np.clip(0.35 * y + 0.65 * RNG.random(N), 0, 1)
    return Predictions(
        ids=np.array([str(i) for i in range(N)], dtype=object),
        score=score,
        result=(score >= 0.5).astype(int),
        label=y,
        task="binary",
        classes=[0, 1],
    )


def test_binary_metrics_equal_scikit_learn_and_plots_exist(tmp_path: Path, binary: Predictions) -> None:
    y, s, p = binary.label, binary.score, binary.result

    out = run(tmp_path, [table(binary)], ["hetero_lr_0.data"], eval_type="binary")

    m = out["metrics"]
    fpr, tpr, _ = skm.roc_curve(y, s)
    assert m["eval_type"] == "binary" and m["rows"] == N
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m["ks"] == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["precision"] == pytest.approx(skm.precision_score(y, p))
    assert m["recall"] == pytest.approx(skm.recall_score(y, p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p))
    series = m["series"]["hetero_lr_0.train"]
    assert series["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, p).tolist()
    assert series["confusion_matrix"]["labels"] == ["0", "1"]
    roc = series["roc_curve"]
    assert roc["points"] > len(roc["fpr"]) == 256 and roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert series["pr_curve"]["recall"][0] == 1.0
    out_dir = tmp_path / "outputs" / "evaluation_0" / "guest-9999"
    for name in ("roc", "pr", "ks"):
        png = out_dir / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert m["plots"][name] == str(png)
    json.dumps(m, allow_nan=False)  # metrics.json is strict JSON (ROC's +inf threshold is null)
    rows = out["data"].set_index("id")
    assert rows.loc["hetero_lr_0.train.auc", "value"] == pytest.approx(m["auc"])


def test_pos_label_reads_the_class_probability_from_predict_detail(
    tmp_path: Path, binary: Predictions
) -> None:
    out = run(tmp_path, [table(binary)], ["hetero_lr_0.data"], eval_type="binary", pos_label=0)

    y0 = (binary.label == 0).astype(int)
    assert out["metrics"]["auc"] == pytest.approx(skm.roc_auc_score(y0, 1 - binary.score))
    assert out["metrics"]["recall"] == pytest.approx(skm.recall_score(y0, (binary.result == 0).astype(int)))


def test_each_source_and_type_is_a_series(tmp_path: Path, binary: Predictions) -> None:
    half = N // 2
    train = Predictions(
        binary.ids[:half], binary.score[:half], binary.result[:half], binary.label[:half], "binary"
    )
    valid = Predictions(
        binary.ids[half:], binary.score[half:], binary.result[half:], binary.label[half:], "binary"
    )
    both = Table(pd.concat([table(train).df, table(valid, "validate").df], ignore_index=True), "id")

    out = run(
        tmp_path, [both, table(binary, None)], ["hetero_lr_0.data", "hetero_lr_1.data"], metrics=["auc"]
    )

    series = out["metrics"]["series"]
    assert list(series) == ["hetero_lr_0.train", "hetero_lr_0.validate", "hetero_lr_1.data"]
    assert series["hetero_lr_0.validate"]["auc"] == pytest.approx(
        skm.roc_auc_score(binary.label[half:], binary.score[half:])
    )
    assert set(series["hetero_lr_1.data"]) == {"rows", "positives", "auc"}
    assert out["metrics"]["headline"] == "hetero_lr_0.train"
    assert set(out["metrics"]["plots"]) == set()  # only AUC asked for: no curves drawn


def test_multi_class_metrics_equal_scikit_learn(tmp_path: Path) -> None:
    y = RNG.integers(0, 4, N)
    p = np.where(RNG.random(N) < 0.6, y, RNG.integers(0, 4, N))
    proba = np.full((N, 4), 0.1)
    proba[np.arange(N), p] = 0.7
    pred = Predictions(np.arange(N).astype(str).astype(object), proba, p, y, "multi", classes=[0, 1, 2, 3])

    m = run(tmp_path, [table(pred)], ["hetero_lr_0.data"], eval_type="multi")["metrics"]

    _, rec, _, support = skm.precision_recall_fscore_support(y, p)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["precision"] == pytest.approx(skm.precision_score(y, p, average="macro"))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    per_class = m["series"]["hetero_lr_0.train"]["per_class"]
    assert [per_class[str(c)]["recall"] for c in range(4)] == pytest.approx(rec)
    assert [per_class[str(c)]["support"] for c in range(4)] == support.tolist()
    assert (
        m["series"]["hetero_lr_0.train"]["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, p).tolist()
    )
    assert (tmp_path / "outputs" / "evaluation_0" / "guest-9999" / "confusion.png").is_file()


def test_regression_metrics_equal_scikit_learn(tmp_path: Path) -> None:
    y = RNG.normal(size=N)
    v = y + RNG.normal(scale=0.3, size=N)
    pred = Predictions(np.arange(N).astype(str).astype(object), v, v, y, "regression")

    m = run(tmp_path, [table(pred)], ["hetero_linr_0.data"], eval_type="regression")["metrics"]

    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, v))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, v)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, v))
    assert m["r2"] == pytest.approx(skm.r2_score(y, v))
    assert m["explained_variance"] == pytest.approx(skm.explained_variance_score(y, v))


def test_fate_metric_names_are_accepted_and_unknown_ones_refused() -> None:
    res = evaluate_regression([1.0, 2.0, 4.0], [1.0, 2.5, 3.0], metrics=["r2_score", "mean_absolute_error"])
    assert set(res.scores) == {"rows", "r2", "mae"}
    assert set(evaluate_multi([1, 2], [1, 1], metrics=["confusion_mat"]).scores) >= {"confusion_matrix"}

    with pytest.raises(ValueError, match="binary evaluation does not compute 'lift'"):
        EvaluationParams.model_validate({"eval_type": "binary", "metrics": ["auc", "lift"]})
    with pytest.raises(ValueError, match="clustering evaluation is not supported"):
        EvaluationParams.model_validate({"eval_type": "clustering"})


def test_errors_name_what_is_wrong(tmp_path: Path, binary: Predictions) -> None:
    raw = Table(pd.DataFrame({"id": ["a", "b"], "x0": [1.0, 2.0]}), "id")
    with pytest.raises(DataError, match=r"reader_0.data is not a prediction table.*'label'"):
        run(tmp_path, [raw], ["reader_0.data"])
    unlabelled = Predictions(binary.ids, binary.score, binary.result, None, "binary")
    with pytest.raises(DataError, match=f"{N} of {N} row\\(s\\) have no label"):
        run(tmp_path, [table(unlabelled)], ["hetero_lr_0.data"])
    with pytest.raises(DataError, match=r"binary evaluation needs two label values.*use eval_type 'multi'"):
        evaluate_binary([0, 1, 2], [0.1, 0.5, 0.9])
    one_class = evaluate_binary([1, 1, 1], [0.2, 0.6, 0.9])
    assert one_class.scores["auc"] is None and "one class only" in one_class.scores["note"]


def test_hosts_and_arbiter_skip_and_fate_confs_load() -> None:
    out = EvaluationSkip(EvaluationParams(), None).run(None, Inputs())  # type: ignore[arg-type]
    assert "guest" in out.metrics["note"] and not out.data

    conf = {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "component_parameters": {
            "common": {
                "reader_0": {"table": {"name": "t", "namespace": "ns"}},
                "evaluation_0": {"eval_type": "regression", "pos_label": 1},
            },
            "role": {"host": {"0": {"evaluation_0": {"need_run": False}}}},
        },
    }
    dsl = {
        "components": {
            "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
            "evaluation_0": {"module": "Evaluation", "input": {"data": {"data": ["reader_0.data"]}}},
        }
    }
    job = load_job(conf, dsl)
    assert job.need_run("evaluation_0", "host", 0) is False
    assert job.params_for("evaluation_0", "guest", 0).eval_type == "regression"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="metrics"):
        conf["component_parameters"]["common"]["evaluation_0"]["metrics"] = ["auc"]
        load_job(conf, dsl)
