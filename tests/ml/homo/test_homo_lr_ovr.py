"""HomoLR one-vs-rest (FATE's multi-class HomoLR): the class list agreed through secure
aggregation, one FedAvg per class equal to FedAvg on that binary task, argmax predictions in
FATE's layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fedloom.core import DataError
from fedloom.data import Frame, frame_from_table, read_csv_table
from fedloom.ml.homo.lr import HomoLRArbiter, HomoLRClient, HomoLRModel
from fedloom.ml.homo.params import HomoLRParams
from fedloom.testing import run_parties

DATA = (
    Path(
        os.environ.get(
            "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[4] / "shared" / "fate_examples")
        )
    )
    / "data"
)
#: FATE's homo_lr_one_vs_all conf, with 10 epochs instead of 1.
FATE_CONF = {
    "penalty": "L2", "tol": 1e-05, "alpha": 0.01, "optimizer": "sgd", "batch_size": -1,
    "learning_rate": 0.15, "init_param": {"init_method": "zeros"}, "max_iter": 10, "early_stop": "diff",
    "encrypt_param": {"method": None}, "decay": 1, "decay_sqrt": True,
    "cv_param": {"n_splits": 4, "shuffle": True, "random_seed": 33, "need_cv": False},
    "callback_param": {"callbacks": ["ModelCheckpoint", "EarlyStopping"]},
}  # fmt: skip


def frame(name: str) -> Frame:
    if not (DATA / name).exists():
        pytest.skip("FATE example data not present")
    return frame_from_table(read_csv_table(DATA / name), with_label=True, label_name="y")


def relabel(f: Frame, y: np.ndarray) -> Frame:
    return Frame(f.ids, f.features, f.feature_names, y, f.match_id_name, f.label_name, f.table)


def fit_all(params: HomoLRParams, guest: Frame, host: Frame) -> dict[str, HomoLRModel]:
    out = run_parties(
        {
            "guest": lambda ctx: HomoLRClient(params).fit(ctx, guest),
            "host": lambda ctx: HomoLRClient(params).fit(ctx, host),
            "arbiter": lambda ctx: HomoLRArbiter(params).fit(ctx),
        }
    )
    return {role: out[role] for role in ("guest", "host", "arbiter")}


@pytest.fixture(scope="module")
def vehicle() -> tuple[Frame, Frame, Frame]:
    return (
        frame("vehicle_scale_homo_guest.csv"),
        frame("vehicle_scale_homo_host.csv"),
        frame("vehicle_scale_homo_test.csv"),
    )


@pytest.fixture(scope="module")
def ovr(vehicle: tuple[Frame, Frame, Frame]) -> dict[str, HomoLRModel]:
    guest, host, _ = vehicle
    return fit_all(HomoLRParams.from_dict(FATE_CONF), guest, host)


def test_every_party_holds_one_model_per_agreed_class(ovr: dict[str, HomoLRModel]) -> None:
    guest, host, arbiter = ovr["guest"], ovr["host"], ovr["arbiter"]

    assert guest.classes == host.classes == arbiter.classes == [0, 1, 2, 3]
    for k in range(4):
        assert np.array_equal(guest.per_class[k].weights, host.per_class[k].weights)
        assert np.array_equal(guest.per_class[k].weights, arbiter.per_class[k].weights)
        assert guest.per_class[k].intercept == arbiter.per_class[k].intercept
    assert guest.weights.size == 0 and arbiter.feature_names == []
    summary = guest.summary()
    assert summary["classes"] == [0, 1, 2, 3] and summary["rounds"] == 10
    per_class = summary["per_class"]
    assert isinstance(per_class, dict) and set(per_class) == {"0", "1", "2", "3"}


def test_each_class_model_equals_fedavg_on_that_binary_task(
    ovr: dict[str, HomoLRModel], vehicle: tuple[Frame, Frame, Frame]
) -> None:
    guest, host, _ = vehicle
    params = HomoLRParams.from_dict(FATE_CONF)
    for k, c in enumerate(ovr["guest"].classes):
        assert guest.label is not None and host.label is not None
        binary = fit_all(
            params,
            relabel(guest, (guest.label == c).astype(float)),
            relabel(host, (host.label == c).astype(float)),
        )
        for role in ("guest", "host", "arbiter"):
            assert binary[role].per_class == []
            np.testing.assert_array_equal(ovr[role].per_class[k].weights, binary[role].weights)
            assert ovr[role].per_class[k].intercept == binary[role].intercept
            untimed = [{n: v for n, v in r.items() if n != "seconds"} for r in binary[role].history]
            assert [
                {n: v for n, v in r.items() if n != "seconds"} for r in ovr[role].per_class[k].history
            ] == untimed


def test_predictions_are_the_argmax_of_the_class_scores_in_fates_layout(
    ovr: dict[str, HomoLRModel], vehicle: tuple[Frame, Frame, Frame]
) -> None:
    model, test = ovr["guest"], vehicle[2]

    preds = model.predict(test)
    df = preds.to_pandas()

    scores = np.column_stack([m.predict_proba(test.features) for m in model.per_class])
    np.testing.assert_array_equal(df["predict_result"], np.argmax(scores, axis=1))
    np.testing.assert_allclose(df["predict_score"], scores.max(axis=1))
    detail = json.loads(df["predict_detail"][0])
    assert list(detail) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(list(detail.values()), scores[0])
    assert np.mean(df["predict_result"] == test.label) > 0.35  # 10 full-batch sgd epochs; chance is 0.25
    again = HomoLRModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.to_dict() == model.to_dict()
    np.testing.assert_array_equal(again.predict(test).result, preds.result)


def test_a_class_only_one_client_holds_is_trained_everywhere_in_plain_mode_too(
    vehicle: tuple[Frame, Frame, Frame],
) -> None:
    guest, host, _ = vehicle
    assert guest.label is not None
    keep = np.flatnonzero(guest.label != 3)
    guest_no_3 = guest.take(keep)
    params = HomoLRParams.from_dict({**FATE_CONF, "max_iter": 2, "secure_aggregate": False})

    out = fit_all(params, guest_no_3, host)

    assert out["guest"].classes == out["arbiter"].classes == [0, 1, 2, 3]
    assert len(out["guest"].per_class) == 4


def test_binary_labels_still_train_one_model() -> None:
    guest, host = frame("breast_homo_guest.csv"), frame("breast_homo_host.csv")

    out = fit_all(HomoLRParams.from_dict({**FATE_CONF, "max_iter": 2}), guest, host)

    assert out["guest"].per_class == [] and out["guest"].weights.size == 30
    assert "classes" not in out["guest"].to_dict()


@pytest.mark.parametrize(("bad", "shown"), [(0.5, "0.5"), (300.0, "300.0"), (-1.0, "-1.0")])
def test_labels_that_are_not_small_integers_are_refused_before_anything_is_sent(
    vehicle: tuple[Frame, Frame, Frame], bad: float, shown: str
) -> None:
    guest = vehicle[0]
    assert guest.label is not None
    y = guest.label.astype(float).copy()
    y[3] = bad

    with pytest.raises(DataError, match=rf"integers 0\.\.255; .* holds \[{shown}\]"):
        HomoLRClient(HomoLRParams(max_iter=1)).fit(None, relabel(guest, y))  # type: ignore[arg-type]
