"""FedAvg of torch models (fedloom.ml.homo.nn): equal to local training with one client, learns with
three, refuses mismatched clients, reports a dropped client, runs over OS processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from homo_party_targets import blobs, factory  # type: ignore[import-not-found]  # noqa: E402

from fedloom.context import Context  # noqa: E402
from fedloom.core import ConfigError, DataError, PartyId, PartyTimeoutError  # noqa: E402
from fedloom.ml.homo.nn import (  # noqa: E402
    HomoNNArbiter,
    HomoNNClient,
    evaluate,
    state_to_vector,
    vector_to_state,
)
from fedloom.ml.homo.params import HomoNNParams  # noqa: E402
from fedloom.models.mlp import MLP, MLPConfig  # noqa: E402
from fedloom.models.train import TrainConfig, fit  # noqa: E402
from fedloom.runner.launcher import PartySpec, launch  # noqa: E402
from fedloom.testing import run_parties  # noqa: E402

HERE = str(Path(__file__).parent)


def federation(
    params: HomoNNParams,
    data: dict[str, Any],
    model_factory: Callable[[], Any] = factory,
    timeout: float = 60,
) -> dict[str, Any]:
    fns: dict[str, Callable[[Context], Any]] = {
        p: (lambda ctx, d=d: HomoNNClient(params, model_factory).fit(ctx, d)) for p, d in data.items()
    }
    fns["arbiter:10000"] = lambda ctx: HomoNNArbiter(params).fit(ctx)
    return run_parties(fns, timeout=timeout)


def test_state_vector_round_trip_keeps_buffers() -> None:
    model = MLP(MLPConfig(8, (16,), 3, batchnorm=True))
    model(torch.randn(4, 8))  # moves the BatchNorm statistics
    vec = state_to_vector(model)
    other = MLP(MLPConfig(8, (16,), 3, batchnorm=True))
    vector_to_state(other, vec)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    with pytest.raises(DataError, match=r"the model has"):
        vector_to_state(other, vec[:-1])


@pytest.mark.parametrize("secure", [True, False])
def test_one_client_equals_local_training(secure: bool) -> None:
    # Prepare
    x, y = blobs(1)
    params = HomoNNParams(max_iter=3, local_epochs=2, batch_size=32, lr=0.05, secure_aggregate=secure)
    torch.manual_seed(0)
    local = factory()
    fit(local, x, y, TrainConfig(epochs=6, batch_size=32, lr=0.05, momentum=0.9, seed=0))
    # Execute
    out = federation(params, {"guest:9999": (x, y)})
    # Assert: same seed → same weights; the only difference is the fixed-point rounding of the
    # aggregate (≤ 2^-25 per value per round), far below 1e-6
    fed = out["guest:9999"].model
    assert np.abs(state_to_vector(fed) - state_to_vector(local)).max() < 1e-6
    assert len(out["arbiter:10000"].rounds) == 3


def test_three_clients_learn_and_secure_equals_plain_aggregation() -> None:
    # Prepare: three clients of different sizes (weighted average matters)
    data = {"guest:9999": blobs(1, 300), "host:10000": blobs(2, 100), "host:10001": blobs(3, 500)}
    base = {"max_iter": 3, "local_epochs": 1, "batch_size": 32, "lr": 0.05}
    torch.manual_seed(0)
    _, before, _ = evaluate(factory(), blobs(99))
    # Execute
    secure = federation(HomoNNParams(**base), data)
    plain = federation(HomoNNParams(**base, secure_aggregate=False), data)
    # Assert: every client ends with the same global model, which learned
    vecs = [state_to_vector(secure[p].model) for p in data]
    assert all(np.array_equal(vecs[0], v) for v in vecs[1:])
    _, after, _ = evaluate(secure["guest:9999"].model, blobs(99))
    assert after > 0.9 > before + 0.3
    arb = secure["arbiter:10000"]
    assert arb.rounds[-1]["samples"] == 900 and arb.rounds[-1]["loss"] < arb.rounds[0]["loss"]
    np.testing.assert_allclose(vecs[0], state_to_vector(plain["guest:9999"].model), atol=1e-6)


def test_mnist_slice_three_clients_improve_accuracy() -> None:
    from fedloom.models.datasets import ensure, load_image_dataset

    try:
        ensure("mnist")
    except DataError as err:
        pytest.skip(f"mnist unavailable: {err}")
    images, labels = load_image_dataset("mnist", "train", limit=1500)
    x = torch.from_numpy(images).float().div_(255.0).reshape(len(images), -1)
    y = torch.from_numpy(labels).long()
    tx, ty = load_image_dataset("mnist", "test", limit=1000)
    x_test, y_test = (
        torch.from_numpy(tx).float().div_(255.0).reshape(len(tx), -1),
        torch.from_numpy(ty).long(),
    )
    data = {p: (x[i::3], y[i::3]) for i, p in enumerate(["guest:9999", "host:10000", "host:10001"])}
    small = lambda: MLP(MLPConfig(784, (64,), 10))  # noqa: E731
    params = HomoNNParams(max_iter=3, local_epochs=1, batch_size=32, lr=0.05)
    torch.manual_seed(0)
    _, before, _ = evaluate(small(), (x_test, y_test))
    out = federation(params, data, small)
    _, after, _ = evaluate(out["guest:9999"].model, (x_test, y_test))
    assert before < 0.2 and after > 0.8
    assert (
        out["guest:9999"].history.rounds[-1]["global_loss"]
        < out["guest:9999"].history.rounds[0]["global_loss"]
    )


def test_convergence_stops_early() -> None:
    params = HomoNNParams(max_iter=50, local_epochs=1, batch_size=-1, lr=0.01, early_stop="diff", tol=1e-2)
    out = federation(params, {"guest:9999": blobs(1), "host:10000": blobs(2)})
    rounds = out["arbiter:10000"].rounds
    assert out["arbiter:10000"].converged and len(rounds) < 50
    assert abs(rounds[-1]["loss"] - rounds[-2]["loss"]) < 1e-2
    assert out["guest:9999"].history.converged and out["guest:9999"].history.n_rounds == len(rounds)


def test_mismatched_clients_are_refused() -> None:
    params = HomoNNParams(max_iter=2)
    other = lambda: MLP(MLPConfig(8, (17,), 3))  # noqa: E731
    fns: dict[str, Callable[[Context], Any]] = {
        "guest": lambda ctx: HomoNNClient(params, factory).fit(ctx, blobs(1)),
        "host": lambda ctx: HomoNNClient(params, other).fit(ctx, blobs(2)),
        "arbiter": lambda ctx: HomoNNArbiter(params).fit(ctx),
    }
    with pytest.raises(ConfigError, match=r"models differ in size.*share one architecture"):
        run_parties(fns, timeout=20)
    fns["host"] = lambda ctx: HomoNNClient(HomoNNParams(max_iter=3), factory).fit(ctx, blobs(2))
    with pytest.raises(ConfigError, match=r"host:10000 runs FedAvg with other settings: max_iter=3"):
        run_parties(fns, timeout=20)
    with pytest.raises(ConfigError, match=r"The 'lr' parameter of HomoNN must be a number > 0. Got 0"):
        HomoNNParams(lr=0).validate()


class _Gone(Exception):
    """The party stops answering (no failure notice: a silent drop-out)."""


def test_a_client_that_drops_out_is_reported_within_the_timeout() -> None:
    # Prepare: host:10001 trains round 0, then disappears without a word
    timeout = 3.0
    params = HomoNNParams(max_iter=3, batch_size=64)

    def dropping(ctx: Context) -> None:
        client = HomoNNClient(params, factory)
        train = client.local_train

        def local_train(r: int) -> tuple[float, int]:
            if r == 1:
                raise _Gone
            return train(r)

        client.local_train = local_train  # type: ignore[method-assign]
        try:
            client.fit(ctx, blobs(3))
        except _Gone:
            return

    fns: dict[str, Callable[[Context], Any]] = {
        "guest:9999": lambda ctx: HomoNNClient(params, factory).fit(ctx, blobs(1)),
        "host:10000": lambda ctx: HomoNNClient(params, factory).fit(ctx, blobs(2)),
        "host:10001": dropping,
        "arbiter:10000": lambda ctx: HomoNNArbiter(params).fit(ctx),
    }
    # Execute
    t0 = time.monotonic()
    with pytest.raises(PartyTimeoutError) as err:
        run_parties(fns, timeout=timeout)
    # Assert: the arbiter names the dropped client and the round; nobody hangs
    assert time.monotonic() - t0 < timeout + 5
    msg = str(err.value)
    assert "round 1" in msg and "no masked input from host:10001" in msg and "1 of 3 clients" in msg


def test_fedavg_over_os_processes(tmp_path: Path) -> None:
    g, h, a = PartyId.parse("guest:9999"), PartyId.parse("host:10000"), PartyId.parse("arbiter:10000")
    specs = [
        PartySpec(g, "homo_party_targets:client", {"seed": 1}),
        PartySpec(h, "homo_party_targets:client", {"seed": 2}),
        PartySpec(a, "homo_party_targets:arbiter"),
    ]
    res = launch(specs, python_path=[HERE], job_dir=tmp_path, timeout=60)
    res.raise_for_failure()
    out = res.results()
    assert out[a]["rounds"] == 3 and out[a]["samples"] == 600
    assert out[g]["checksum"] == out[h]["checksum"]  # one global model
    assert out[g]["accuracy"] > 0.9
