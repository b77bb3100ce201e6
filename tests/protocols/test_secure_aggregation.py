"""Pairwise-mask secure aggregation: exactly the sum, masked views, dropouts reported."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from fedloom.context import Context
from fedloom.core import CryptoError, MessageError, PartyFailedError, PartyTimeoutError, ProtocolError
from fedloom.protocols.secure_aggregation import (
    MaskedInput,
    SecureAggregationClient,
    SecureAggregationServer,
    decode_fixed,
    encode_fixed,
)
from fedloom.testing import run_parties

ARB = "arbiter:10000"


def clients(k: int) -> list[str]:
    return ["guest:9999"] + [f"host:{10000 + i}" for i in range(k - 1)]


def aggregate_job(
    xs: dict[str, np.ndarray], rounds: int = 1, scale_bits: int = 24, timeout: float = 30.0
) -> list[np.ndarray]:
    """Run setup + ``rounds`` aggregations of ``xs`` (scaled by round+1); the server's raw sums."""

    def client(x: np.ndarray) -> Callable[[Context], None]:
        def run(ctx: Context) -> None:
            agg = SecureAggregationClient(scale_bits=scale_bits)
            agg.setup(ctx.sub("setup"))
            for r in range(rounds):
                agg.aggregate(ctx.sub("round", r), x * (r + 1), round=r)

        return run

    def server(ctx: Context) -> list[np.ndarray]:
        agg = SecureAggregationServer(scale_bits=scale_bits)
        agg.setup(ctx)
        return [agg.aggregate_raw(ctx.sub("round", r), round=r) for r in range(rounds)]

    fns: dict[str, Callable[[Context], Any]] = {p: client(x) for p, x in xs.items()}
    fns[ARB] = server
    return run_parties(fns, timeout=timeout)[ARB]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(1, 4),
    n=st.integers(1, 40),
    scale=st.integers(8, 32),
    data=st.data(),
)
def test_server_gets_exactly_the_sum(k: int, n: int, scale: int, data: st.DataObject) -> None:
    # Prepare: values up to the largest magnitude the ring allows for k clients at this scale
    bound = min(1e9, 2.0 ** (61 - scale) / k)
    floats = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    xs = {p: np.array(data.draw(st.lists(floats, min_size=n, max_size=n))) for p in clients(k)}
    # Execute
    (raw,) = aggregate_job(xs, scale_bits=scale)
    # Assert: the integer sum is exact (Python ints, no float rounding anywhere) ...
    expected = [sum(round(float(x[i]) * 2**scale) for x in xs.values()) for i in range(n)]
    assert raw.view(np.int64).tolist() == expected
    # ... and decodes to the real sum within k * 2^-(f+1) (+ one float64 rounding)
    real = np.sum(list(xs.values()), axis=0)
    tol = k * 2.0 ** -(scale + 1) + 1e-15 * np.abs(real).max()
    assert np.abs(decode_fixed(raw, scale) - real).max() <= tol * (1 + 1e-9)


def test_fresh_masks_every_round_and_the_sum_each_round() -> None:
    xs = {p: np.random.default_rng(i).normal(size=300) for i, p in enumerate(clients(3))}
    sums = aggregate_job(xs, rounds=3)
    for r, raw in enumerate(sums):
        expected = (r + 1) * np.sum(list(xs.values()), axis=0)
        np.testing.assert_allclose(decode_fixed(raw, 24), expected, atol=1e-6)


def masked_views(x_guest: np.ndarray, x_host: np.ndarray, rounds: int = 1) -> list[MaskedInput]:
    """The guest's masked messages (what the arbiter sees of it) in a fresh 2-client session."""

    def guest(ctx: Context) -> list[MaskedInput]:
        agg = SecureAggregationClient()
        agg.setup(ctx)
        return [agg.mask(x_guest, round=r) for r in range(rounds)]

    def host(ctx: Context) -> None:
        SecureAggregationClient().setup(ctx)

    return run_parties({"guest": guest, "host": host})["guest"]


def bits(view: np.ndarray) -> np.ndarray:
    return np.unpackbits(view.view(np.uint8))


def test_arbiter_view_of_one_client_is_masked() -> None:
    # Prepare: a very structured input (all zeros) and a very different one
    n = 4096
    zeros, ramp = np.zeros(n), np.linspace(-1000, 1000, n)
    # Execute: the same input under two sessions (two different pairwise seeds), and another input
    a = masked_views(zeros, zeros)[0].data
    b = masked_views(zeros, zeros)[0].data
    c = masked_views(ramp, zeros)[0].data
    # Assert: the same input gives unrelated views
    assert not np.array_equal(a, b)
    assert np.mean(a == b) < 0.01
    assert abs(np.mean(bits(a) ^ bits(b)) - 0.5) < 0.01
    # each view looks uniform: every bit position is 1 half the time, bytes are flat
    for view in (a, c):
        per_position = np.unpackbits(view.view(np.uint8).reshape(n, 8), axis=1).mean(axis=0)
        assert np.all(np.abs(per_position - 0.5) < 0.05)
        counts = np.bincount(view.view(np.uint8), minlength=256)
        assert stats.chisquare(counts).pvalue > 1e-4
    # two different inputs give views indistinguishable by their byte distribution
    ca, cc = np.bincount(a.view(np.uint8), minlength=256), np.bincount(c.view(np.uint8), minlength=256)
    assert stats.chi2_contingency(np.stack([ca, cc])).pvalue > 1e-4
    # while the unmasked encodings are obviously different
    assert not np.array_equal(encode_fixed(zeros, 24), encode_fixed(ramp, 24))


def test_masks_are_never_reused() -> None:
    views = masked_views(np.zeros(64), np.zeros(64), rounds=2)
    assert not np.array_equal(views[0].data, views[1].data)

    def guest(ctx: Context) -> None:
        agg = SecureAggregationClient()
        agg.setup(ctx)
        agg.mask(np.zeros(3), round=0)
        agg.mask(np.zeros(3), round=0)

    with pytest.raises(ProtocolError, match=r"never reuse a round"):
        run_parties({"guest": guest, "host": lambda ctx: SecureAggregationClient().setup(ctx)})


def test_a_dropped_client_is_named_and_no_sum_is_returned() -> None:
    # Prepare: host:10001 agrees keys, then never sends its masked input
    timeout = 2.0

    def client(ctx: Context) -> None:
        agg = SecureAggregationClient()
        agg.setup(ctx.sub("setup"))
        if str(ctx.party) != "host:10001":
            agg.aggregate(ctx.sub("round", 0), np.ones(5), round=0)

    def server(ctx: Context) -> np.ndarray:
        return SecureAggregationServer().aggregate(ctx.sub("round", 0), round=0)

    fns: dict[str, Callable[[Context], Any]] = {p: client for p in clients(3)}
    fns[ARB] = server
    # Execute
    t0 = time.monotonic()
    with pytest.raises(PartyTimeoutError) as err:
        run_parties(fns, timeout=timeout)
    # Assert: within the timeout (not a hang), naming exactly the missing client
    assert time.monotonic() - t0 < timeout + 3
    msg = str(err.value)
    assert "host:10001" in msg and "1 of 3 clients dropped out" in msg
    assert "guest:9999," not in msg and "host:10000," not in msg


def test_a_failed_client_is_named() -> None:
    seen: list[str] = []

    def client(ctx: Context) -> None:
        agg = SecureAggregationClient()
        agg.setup(ctx.sub("setup"))
        if str(ctx.party) == "host:10000":
            raise RuntimeError("disk full")
        agg.aggregate(ctx.sub("round", 0), np.ones(5), round=0)

    def server(ctx: Context) -> np.ndarray:
        try:
            return SecureAggregationServer().aggregate(ctx.sub("round", 0), round=0)
        except PartyFailedError as err:
            seen.append(str(err))
            raise

    fns: dict[str, Callable[[Context], Any]] = {p: client for p in clients(2)}
    fns[ARB] = server
    with pytest.raises(RuntimeError, match=r"disk full"):
        run_parties(fns, timeout=10)
    assert seen and "no masked input from host:10000" in seen[0] and "disk full" in seen[0]


def test_bad_inputs_are_refused() -> None:
    # overflow: a value too large for the ring with this many clients
    with pytest.raises(CryptoError, match=r"too large"):
        encode_fixed(np.array([2.0**40]), 24, n_clients=2)
    with pytest.raises(Exception, match=r"non-finite"):
        encode_fixed(np.array([np.nan]), 24)

    # a client whose vector has the wrong length
    def client(ctx: Context) -> None:
        agg = SecureAggregationClient()
        agg.setup(ctx.sub("setup"))
        agg.aggregate(ctx.sub("round", 0), np.ones(4 if ctx.role.value == "host" else 5), round=0)

    def server(ctx: Context) -> np.ndarray:
        return SecureAggregationServer().aggregate(ctx.sub("round", 0), round=0, length=5)

    with pytest.raises(MessageError, match=r"host:10000 sent 4 values where 5 were expected"):
        run_parties({"guest": client, "host": client, "arbiter": server})
