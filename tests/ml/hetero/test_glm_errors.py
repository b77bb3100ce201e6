"""Hetero GLM: bad labels, NaN features, misaligned rows, wrong predict columns, batches too small
to keep the residual secret and malformed peer messages are clear, typed errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from glm_party_targets import breast

from fedloom.core import PartyId
from fedloom.core.errors import ConfigError, DataError, MessageError, ProtocolError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.glm import messages as msg
from fedloom.ml.hetero.glm import records
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


# -- finding 6: batches small enough to solve Xᵀd for d are refused unless allowed -------------------
@pytest.mark.parametrize(
    "batch_size,words",
    [(21, "batch 0 of the plan has 21 rows"), (284, "the last batch of the plan has 1 rows")],
    ids=["every-batch", "last-short-batch"],
)
def test_batches_a_host_could_solve_are_a_config_error(batch_size: int, words: str) -> None:
    # breast: the host has 20 features, so a batch of ≤ 21 rows lets it solve X_hᵀd for d
    guest, host = breast()
    rows = np.arange(546 if batch_size == 21 else guest.n_rows)  # 26 batches of 21 / 284 + 284 + 1
    with pytest.raises(ConfigError) as err:
        fit_lr(guest.take(rows), host.take(rows), batch_size=batch_size)
    assert err.value.field == "batch_size" and words in str(err.value)
    assert "host:10000 has 20 weights" in str(err.value) and "allow_small_batches" in str(err.value)


def test_small_batches_run_when_explicitly_allowed() -> None:
    guest, host = breast()
    out = fit_lr(guest, host, batch_size=284, allow_small_batches=True)
    assert out[A].n_iter == [1] and len(out[H].coef[0]) == 20


@pytest.mark.parametrize("refuser", ["host", "arbiter"])
def test_host_and_arbiter_refuse_small_batches_for_themselves(refuser: str) -> None:
    # The guest's conf allows small batches; the refusing party's own conf does not.
    guest, host = breast()
    lax = HeteroLRParams.from_dict({**PLAIN, "batch_size": 21, "allow_small_batches": True})
    strict = HeteroLRParams.from_dict({**PLAIN, "batch_size": 21})
    with pytest.raises(ConfigError) as err:
        run_parties(
            {
                G: lambda c: HeteroLRGuest(lax).fit(c, guest),
                H: lambda c: HeteroLRHost(strict if refuser == "host" else lax).fit(c, host),
                A: lambda c: HeteroLRArbiter(strict if refuser == "arbiter" else lax).fit(c),
            },
            timeout=20,
        )
    assert err.value.field == "batch_size"
    assert err.value.party == (str(H) if refuser == "host" else str(A))


# -- finding 7: peer data is validated at the boundary into typed records (MessageError) --------------
DIGEST = "ab" * 32


def good_setup(**change: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ids": DIGEST,
        "n_rows": 4,
        "order": np.array([2, 0, 1, 3]),
        "offsets": np.array([0, 2, 4]),
        "n_models": 1,
        "n_weights": 3,
        "validate": None,
    }
    values.update(change)
    return values


def test_a_well_formed_setup_becomes_a_typed_record() -> None:
    setup = records.Setup.from_wire(good_setup(), "guest:9999")
    assert setup.plan.sizes == [2, 2] and setup.plan.rows(0).tolist() == [2, 0]
    assert (setup.n_rows, setup.n_models, setup.n_weights, setup.validate) == (4, 1, 3, None)
    again = records.Setup.from_wire(setup.to_wire(), "guest:9999")
    assert again.ids == setup.ids and again.plan.order.tolist() == setup.plan.order.tolist()


@pytest.mark.parametrize(
    "value,field",
    [
        ([1, 2], "setup"),
        ({"ids": DIGEST}, "setup"),
        (good_setup(extra=1), "setup"),
        (good_setup(ids="not-a-digest"), "ids"),
        (good_setup(n_rows=True), "n_rows"),
        (good_setup(n_rows="4"), "n_rows"),
        (good_setup(order=[2, 0, 1, 3]), "batch_plan"),
        (good_setup(order=np.array([0, 0, 1, 3])), "batch_plan"),
        (good_setup(order=np.array([0.0, 1.0, 2.0, 3.0])), "batch_plan"),
        (good_setup(offsets=np.array([0, 2, 2, 4])), "batch_plan"),
        (good_setup(offsets=np.array([[0, 4]])), "batch_plan"),
        (good_setup(n_models=0), "n_models"),
        (good_setup(n_weights=-1), "n_weights"),
        (good_setup(validate=7), "validate"),
    ],
)
def test_malformed_setups_are_message_errors_naming_the_sender(value: Any, field: str) -> None:
    with pytest.raises(MessageError) as err:
        records.Setup.from_wire(value, "guest:9999")
    assert err.value.party == "guest:9999" and err.value.field == field
    assert "guest:9999" in str(err.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: records.HostSetup.from_wire({"ids": DIGEST, "validate": None, "n_features": 0}, "host:1"),
        lambda: records.HostSetup.from_wire("setup", "host:1"),
        lambda: records.expect_flag(np.array([True, False]), "host:1", "converged"),
        lambda: records.expect_flag(1, "host:1", "converged"),
        lambda: records.expect_square_norm("0.5", "host:1", "weight_diff"),
        lambda: records.expect_square_norm(float("nan"), "host:1", "weight_diff"),
        lambda: records.expect_scores([1.0, 2.0], "host:1", "validate_forward", (2,)),
        lambda: records.expect_scores(np.ones(3), "host:1", "validate_forward", (2,)),
        lambda: records.expect_scores(np.array([1.0, np.inf]), "host:1", "validate_forward", (2,)),
        lambda: records.PredictForward.from_wire({"ids": DIGEST, "wx": np.ones((2, 2))}, "host:1", (2, 1)),
        lambda: records.PredictSetup.from_wire({"ids": DIGEST, "n_rows": -1}, "host:1"),
    ],
)
def test_other_malformed_records_are_message_errors(call: Any) -> None:
    with pytest.raises(MessageError) as err:
        call()
    assert err.value.party == "host:1" and err.value.field


def test_a_guest_sending_a_bad_batch_plan_is_named_by_host_and_arbiter() -> None:
    # Prepare: the guest plays its part by hand and sends a plan that repeats a row
    _, host = breast()
    p = HeteroLRParams.from_dict(PLAIN)

    def bad_guest(ctx: Any) -> None:
        ctx.recv_public_key(msg.PUBLIC_KEY, scheme="plain", min_bits=1024)
        order = np.zeros(host.n_rows, dtype=np.int64)
        ctx.send(msg.SETUP, good_setup(n_rows=host.n_rows, order=order, offsets=np.array([0, host.n_rows])))
        ctx.recv_all(msg.HOST_SETUP)

    # Execute / Assert
    with pytest.raises(MessageError) as err:
        run_parties(
            {G: bad_guest, H: lambda c: HeteroLRHost(p).fit(c, host), A: lambda c: HeteroLRArbiter(p).fit(c)},
            timeout=20,
        )
    assert err.value.party == str(G) and err.value.field == "batch_plan"


def test_zero_maker_closed_under_a_waiting_party_is_a_protocol_error() -> None:
    from fedloom.crypto.cipher import generate_keypair
    from fedloom.ml.hetero.glm.zeros import ZeroMaker

    _, sk = generate_keypair("plain", 1024)
    zeros = ZeroMaker(sk, ahead=0)
    zeros.close()
    with pytest.raises(ProtocolError, match="closed"):
        zeros.take(3)
