"""The PSI protocol classes over the in-memory transport: results, messages, refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from fedloom.context import Context
from fedloom.core import GUEST, HOST, ConfigError, MessageError
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.protocols.psi import EcdhPsiGuest, EcdhPsiHost, RsaPsiGuest, RsaPsiHost
from fedloom.protocols.psi import ecdh as ecdh_module
from fedloom.protocols.psi.messages import (
    ECDH_DOUBLE_POINTS,
    ECDH_GUEST_POINTS,
    ECDH_HOST_POINTS,
    PSI_HELLO,
    PSI_INTERSECTION,
)
from fedloom.testing import run_parties

GUEST_IDS = [f"g{i}" for i in range(300)] + [f"c{i}" for i in range(120)]
HOST_IDS = [f"c{i}" for i in range(120)][::-1] + [f"h{i}" for i in range(200)]
COMMON = set(GUEST_IDS) & set(HOST_IDS)


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


def both(guest: Callable[[Context], Any], host: Callable[[Context], Any]) -> dict[Any, Any]:
    return run_parties({GUEST: guest, HOST: host}, timeout=30)


def ids_of(ids: list[str], index: np.ndarray | None) -> set[str]:
    assert index is not None
    return {ids[i] for i in index.tolist()}


@pytest.mark.parametrize(
    "guest,host",
    [
        (EcdhPsiGuest(), EcdhPsiHost()),
        (EcdhPsiGuest(curve="edwards25519", salt="s"), EcdhPsiHost(curve="edwards25519", salt="s")),
        (RsaPsiGuest(key_length=1024), RsaPsiHost(key_length=1024)),
        (
            RsaPsiGuest(key_length=1024, split_calculation=True, final_hash_method="md5"),
            RsaPsiHost(key_length=1024, split_calculation=True, final_hash_method="md5"),
        ),
    ],
    ids=["ecdh", "ecdh-edwards", "rsa", "rsa-split"],
)
def test_both_sides_get_the_intersection_positions(guest: Any, host: Any) -> None:
    out = both(lambda c: guest.run(c, GUEST_IDS), lambda c: host.run(c, HOST_IDS))
    assert ids_of(GUEST_IDS, out[GUEST].index) == COMMON
    assert ids_of(HOST_IDS, out[HOST].index) == COMMON
    assert out[GUEST].count == out[HOST].count == len(COMMON)
    assert np.all(np.diff(out[GUEST].index) > 0) and np.all(np.diff(out[HOST].index) > 0)


def test_without_sync_the_host_learns_nothing() -> None:
    out = both(
        lambda c: EcdhPsiGuest(sync=False).run(c, GUEST_IDS),
        lambda c: EcdhPsiHost(sync=False).run(c, HOST_IDS),
    )
    assert ids_of(GUEST_IDS, out[GUEST].index) == COMMON
    assert out[HOST].index is None and out[HOST].count is None


def test_cardinality_mode_shuffles_both_host_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ecdh_module._permutation

    def spy(n: int) -> np.ndarray:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(ecdh_module, "_permutation", spy)
    out = both(
        lambda c: EcdhPsiGuest(cardinality_only=True, sync=True).run(c, GUEST_IDS),
        lambda c: EcdhPsiHost(cardinality_only=True, sync=True).run(c, HOST_IDS),
    )
    assert sorted(calls) == sorted([len(HOST_IDS), len(GUEST_IDS)])
    assert out[GUEST].index is None and out[HOST].index is None
    assert out[GUEST].count == out[HOST].count == len(COMMON)


def test_a_settings_mismatch_stops_the_host_before_any_id_is_sent() -> None:
    with pytest.raises(ConfigError) as err:
        both(
            lambda c: EcdhPsiGuest(salt="a").run(c, GUEST_IDS),
            lambda c: EcdhPsiHost(salt="b").run(c, HOST_IDS),
        )
    assert err.value.field == "salt" and "host:10000" in str(err.value)
    with pytest.raises(ConfigError) as err:
        both(
            lambda c: EcdhPsiGuest().run(c, GUEST_IDS), lambda c: RsaPsiHost(key_length=1024).run(c, HOST_IDS)
        )
    assert err.value.field == "method"


def test_malformed_double_points_are_refused_by_the_guest() -> None:
    def fake_host(ctx: Context) -> None:
        ctx.recv(PSI_HELLO)
        ctx.send(ECDH_HOST_POINTS, np.zeros((3, 32), dtype=np.uint8) + 9)
        ctx.recv(ECDH_GUEST_POINTS)
        ctx.send(ECDH_DOUBLE_POINTS, np.zeros((len(GUEST_IDS) - 1, 16), dtype=np.uint8))  # one row short

    with pytest.raises(MessageError) as err:
        both(lambda c: EcdhPsiGuest().run(c, GUEST_IDS), fake_host)
    assert err.value.field == "ecdh_double_points"


def test_out_of_range_sync_positions_are_refused_by_the_host() -> None:
    class SilentGuest(EcdhPsiGuest):  # announces sync, then sends its own positions
        def settings(self) -> dict[str, Any]:
            return {**super().settings(), "sync": True}

    def fake_guest(ctx: Context) -> None:
        SilentGuest(sync=False).run(ctx, GUEST_IDS)
        ctx.send(PSI_INTERSECTION, np.array([0, len(HOST_IDS)], dtype=np.int64))

    with pytest.raises(MessageError) as err:
        both(fake_guest, lambda c: EcdhPsiHost(sync=True).run(c, HOST_IDS))
    assert err.value.field == "psi_intersection"


def test_a_guest_alone_is_told_it_needs_a_host() -> None:
    with pytest.raises(ConfigError, match="at least one host"):
        run_parties({GUEST: lambda c: EcdhPsiGuest().run(c, GUEST_IDS)}, timeout=5)


def test_rsa_split_sends_the_guest_only_blinded_values_under_its_own_key() -> None:
    # Prepare
    seen: dict[str, Any] = {}

    def guest(ctx: Context) -> Any:
        out = RsaPsiGuest(key_length=1024, split_calculation=True, sync=False).run(ctx, GUEST_IDS)
        seen.update(ctx.stats.as_dict())
        return out

    # Execute
    out = both(
        guest, lambda c: RsaPsiHost(key_length=1024, split_calculation=True, sync=False).run(c, HOST_IDS)
    )
    # Assert: the half-1 join happens on the host, which answers with positions only.
    received = {name for name, t in seen.items() if t["received_messages"]}
    assert received == {
        "rsa_host_pubkey",
        "rsa_host_blinded",
        "rsa_host_signed",
        "rsa_signed_blinded",
        "rsa_host_matches",
    }
    assert ids_of(GUEST_IDS, out[GUEST].index) == COMMON and out[HOST].index is None


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[0, 0], [0, 1]], dtype=np.int64),  # a guest position twice
        np.array([[5, 0]], dtype=np.int64),  # out of range
        np.array([[0, -1]], dtype=np.int64),
        np.array([[0, 0]], dtype=np.int32),
        [[0, 0]],
    ],
)
def test_malformed_half_one_matches_are_refused(bad: Any) -> None:
    from fedloom.protocols.psi.rsa import _check_matches

    with pytest.raises(MessageError):
        _check_matches(bad, 5, 5)
    assert _check_matches(np.zeros((0, 2), dtype=np.int64), 5, 5).shape == (0, 2)
