"""Hetero GLM: bad labels, NaN features, misaligned rows and wrong predict columns are clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast

from fedloom.core import PartyId
from fedloom.core.errors import ConfigError, DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.lr import HeteroLRArbiter, HeteroLRGuest, HeteroLRHost, HeteroLRModel, HeteroLRParams
from fedloom.ml.hetero.poisson import HeteroPoissonArbiter, HeteroPoissonGuest, HeteroPoissonHost
from fedloom.testing import run_parties

G, H, A = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
PLAIN: dict[str, Any] = {"max_iter": 1, "encrypt_param": {"method": "plain", "key_length": 1024}}


def fit_lr(guest: Frame, host: Frame, **extra: Any) -> dict[PartyId, Any]:
    p = HeteroLRParams.from_dict({**PLAIN, **extra})
    return run_parties(
        {
            G: lambda c: HeteroLRGuest(p).fit(c, guest),
            H: lambda c: HeteroLRHost(p).fit(c, host),
            A: lambda c: HeteroLRArbiter(p).fit(c),
        },
        timeout=20,
    )


def relabel(frame: Frame, label: np.ndarray) -> Frame:
    return Frame(frame.ids, frame.features, frame.feature_names, label=label, table=frame.table)


def test_three_classes_for_binary_lr_is_a_data_error() -> None:
    guest, host = breast()
    three = relabel(guest, np.arange(guest.n_rows) % 3)
    with pytest.raises(DataError) as err:
        fit_lr(three, host, multi_class="binary")
    assert err.value.field == "label" and "3 classes" in str(err.value) and "guest:9999" in str(err.value)


@pytest.mark.parametrize(
    "label,words",
    [(0.3, "class labels"), (1.0, "single class"), (np.nan, "NaN")],
    ids=["continuous", "one-class", "nan"],
)
def test_unusable_labels_are_data_errors(label: float, words: str) -> None:
    guest, host = breast()
    lab = np.ones(guest.n_rows)
    if label == 0.3:
        lab = np.linspace(0, 1, guest.n_rows)
    elif np.isnan(label):
        lab = guest.label.astype(float)
        lab[7] = np.nan
    with pytest.raises(DataError) as err:
        fit_lr(relabel(guest, lab), host)
    assert words in str(err.value) and err.value.field == "label"


def test_nan_features_name_the_column() -> None:
    guest, host = breast()
    feats = host.features.copy()
    feats[3, 5] = np.nan
    bad = Frame(host.ids, feats, host.feature_names, table="breast_h")
    with pytest.raises(DataError) as err:
        fit_lr(guest, bad)
    assert err.value.field == "h_x5" and "table breast_h" in str(err.value) and "host:10000" in str(err.value)


def test_misaligned_rows_are_refused_by_both_sides() -> None:
    guest, host = breast()
    shuffled = host.take(np.roll(np.arange(host.n_rows), 1))
    with pytest.raises(DataError) as err:
        fit_lr(guest, shuffled)
    assert "not aligned" in str(err.value) and err.value.field == "id"


def test_wrong_columns_at_predict_name_missing_and_extra() -> None:
    # Prepare
    guest, host = breast()
    out = fit_lr(guest, host)
    p = HeteroLRParams.from_dict(PLAIN)
    fewer = guest.select_features(list(guest.feature_names[:-1]))
    renamed = Frame(host.ids, host.features, [*host.feature_names[:-1], "other"])
    # Execute / Assert: the guest names the missing column
    with pytest.raises(DataError) as err:
        run_parties({G: lambda c: HeteroLRGuest(p).predict(c, out[G], fewer)})
    assert "missing ['x9']" in str(err.value) and "11" not in str(err.value).split("columns")[0]
    assert err.value.field == "x9"
    # the host names both
    with pytest.raises(DataError) as err:
        run_parties({H: lambda c: HeteroLRHost(p).predict(c, out[H], renamed)})
    assert "missing ['h_x19']" in str(err.value) and "unexpected ['other']" in str(err.value)
    # columns in another order are fine (reordered to the model's)
    reordered = guest.select_features(list(reversed(guest.feature_names)))
    pred = run_parties(
        {
            G: lambda c: HeteroLRGuest(p).predict(c, HeteroLRModel.from_dict(out[G].to_dict()), reordered),
            H: lambda c: HeteroLRHost(p).predict(c, out[H], host),
        }
    )[G]
    assert len(pred.score) == guest.n_rows


def test_model_of_another_algorithm_is_refused() -> None:
    d = HeteroLRModel(role="guest").to_dict()
    d["algorithm"] = "HeteroLinR"
    with pytest.raises(DataError):
        HeteroLRModel.from_dict(d)


def test_poisson_refuses_two_hosts() -> None:
    guest, host = breast()
    counts = relabel(guest, np.arange(guest.n_rows) % 4)
    h2 = PartyId.parse("host:10001")
    with pytest.raises(ConfigError) as err:
        run_parties(
            {
                G: lambda c: HeteroPoissonGuest(PLAIN).fit(c, counts),
                H: lambda c: HeteroPoissonHost(PLAIN).fit(c, host),
                h2: lambda c: HeteroPoissonHost(PLAIN).fit(c, host),
                A: lambda c: HeteroPoissonArbiter(PLAIN).fit(c),
            },
            timeout=10,
        )
    assert "one host" in str(err.value)
