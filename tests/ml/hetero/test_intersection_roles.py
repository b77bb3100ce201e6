"""IntersectionGuest / IntersectionHost equal Python's set intersection, on every party and setting."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedloom.core import ConfigError, DataError
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost, IntersectionResult
from fedloom.testing import run_parties

GUEST = "guest:9999"

SETTINGS: dict[str, dict[str, Any]] = {
    "ecdh": {"intersect_method": "ecdh"},
    "ecdh-edwards": {"intersect_method": "ecdh", "ecdh_params": {"curve": "edwards25519", "salt": "x"}},
    "rsa": {"intersect_method": "rsa", "rsa_params": {"key_length": 1024}},
    "dh": {"intersect_method": "dh", "dh_params": {"salt": "s", "key_length": 1024}},
    "rsa-fraction": {
        "intersect_method": "rsa",
        "rsa_params": {"key_length": 1024, "random_base_fraction": 0.3},
    },
    "rsa-split": {"intersect_method": "rsa", "rsa_params": {"key_length": 1024, "split_calculation": True}},
    "rsa-split-fraction": {
        "intersect_method": "rsa",
        "rsa_params": {
            "key_length": 1024,
            "split_calculation": True,
            "random_base_fraction": 0.5,
            "final_hash_method": "sha1",
            "hash_method": "sha512",
        },
    },
}


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


def intersect(params: dict[str, Any], guest_ids: Any, *host_ids: Any) -> dict[str, IntersectionResult]:
    fns: dict[str, Any] = {GUEST: lambda ctx: IntersectionGuest(params).fit(ctx, guest_ids)}
    for i, ids in enumerate(host_ids):
        fns[f"host:{10000 + i}"] = lambda ctx, ids=ids: IntersectionHost(params).fit(ctx, ids)
    return run_parties(fns, timeout=60)


def check_everyone_agrees(
    out: dict[str, IntersectionResult], inputs: dict[str, Any], sync: bool = True
) -> None:
    expected = sorted(set.intersection(*(set(v) for v in inputs.values())))
    for party, res in out.items():
        if party != GUEST and not sync:
            assert res.ids is None and res.count is None
            continue
        assert res.ids is not None and res.index is not None
        assert list(res.ids) == expected, party
        assert res.count == len(expected)
        assert [inputs[party][i] for i in res.index.tolist()] == expected  # aligns the party's rows
        assert res.bytes_sent > 0


def ids_list(res: IntersectionResult) -> list[str]:
    assert res.ids is not None
    return list(res.ids)


id_sets = st.lists(st.text(min_size=0, max_size=6), min_size=1, max_size=25, unique=True)


@pytest.mark.parametrize("name", list(SETTINGS))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(guest=id_sets, host=id_sets, shared=id_sets)
def test_equals_set_intersection_on_small_random_sets(
    name: str, guest: list[str], host: list[str], shared: list[str]
) -> None:
    g = list(dict.fromkeys(guest + shared))
    h = list(dict.fromkeys(shared[::-1] + host))
    out = intersect(SETTINGS[name], g, h)
    check_everyone_agrees(out, {GUEST: g, "host:10000": h})


@pytest.mark.parametrize("name", list(SETTINGS))
@pytest.mark.parametrize("n_hosts", [1, 2, 3])
def test_equals_set_intersection_with_one_to_three_hosts(name: str, n_hosts: int) -> None:
    rng = random.Random(n_hosts * 100 + len(name))
    size = 600 if name.startswith(("rsa", "dh")) else 2500
    universe = [f"id-{i:05d}-{rng.random():.3f}" for i in range(int(size * 1.6))]
    guest = rng.sample(universe, size)
    hosts = [rng.sample(universe, size) for _ in range(n_hosts)]
    out = intersect(SETTINGS[name], guest, *hosts)
    inputs = {GUEST: guest, **{f"host:{10000 + i}": h for i, h in enumerate(hosts)}}
    check_everyone_agrees(out, inputs)
    guest_result = out[GUEST]
    assert guest_result.per_host == {p: len(set(guest) & set(v)) for p, v in inputs.items() if p != GUEST}
    assert guest_result.count and guest_result.count > 0


@pytest.mark.parametrize("name", ["ecdh", "rsa", "rsa-split"])
def test_without_sync_hosts_get_nothing(name: str) -> None:
    params = {**SETTINGS[name], "sync_intersect_ids": False}
    guest, host1, host2 = ["a", "b", "c", "d"], ["b", "c", "x"], ["c", "b", "y", "a"]
    out = intersect(params, guest, host1, host2)
    check_everyone_agrees(out, {GUEST: guest, "host:10000": host1, "host:10001": host2}, sync=False)


def test_disjoint_and_identical_sets() -> None:
    out = intersect({}, ["a", "b"], ["c", "d"])
    assert out[GUEST].count == 0 and ids_list(out[GUEST]) == [] == ids_list(out["host:10000"])
    same = [str(i) for i in range(50)]
    out = intersect(SETTINGS["rsa-split"], same, same[::-1])
    assert ids_list(out["host:10000"]) == sorted(same)


def test_unicode_and_numpy_string_ids() -> None:
    guest = np.array(["ü", "東京", "a b", "0"], dtype=object)
    host = np.array(["東京", "0", "z"])  # dtype '<U2'
    out = intersect({}, guest, host)
    assert ids_list(out[GUEST]) == ["0", "東京"] == ids_list(out["host:10000"])


@pytest.mark.parametrize("method", ["ecdh", "rsa"])
def test_cardinality_only_gives_the_count_and_nothing_else(method: str) -> None:
    # Prepare
    guest = [f"p{i}" for i in range(400)]
    host = [f"p{i}" for i in range(250, 700)]
    params = {"cardinality_only": True, "cardinality_method": method, "sync_cardinality": True}
    # Execute
    out = intersect(params, guest, host)
    # Assert
    for res in out.values():
        assert res.ids is None and res.index is None and res.count == 150 and res.cardinality_only
    assert out[GUEST].method == "ecdh"
    # The guest sent the settings, its encrypted ids and the count: no positions, no ids.
    no_sync = intersect({**params, "sync_cardinality": False}, guest, host)
    assert no_sync[GUEST].count == 150 and no_sync["host:10000"].count is None
    guest_sent = no_sync[GUEST].bytes_sent
    assert guest_sent < len(guest) * 32 + 1000  # a·H(v) (32 bytes each) plus the hello


def test_cardinality_method_dh_runs_the_dh_protocol() -> None:
    guest = [f"p{i}" for i in range(40)]
    host = [f"p{i}" for i in range(25, 70)]
    params = {"cardinality_only": True, "cardinality_method": "dh", "sync_cardinality": True}

    out = intersect(params, guest, host)

    for res in out.values():
        assert res.ids is None and res.index is None and res.count == 15 and res.method == "dh"


@pytest.mark.parametrize(
    "ids,fragment",
    [
        ([], "empty"),
        (["a", "b", "a", "c", "c"], "2 ids occur more than once"),
        (["a", 3, None], "ids must be text; 2 are not"),
        ([b"a", "b"], "must be text"),
        (np.array([1.5, 2.5]), "must be text"),
        (np.array([["a"]]), "one-dimensional"),
        ("abc", "sequence"),
    ],
)
def test_bad_ids_are_data_errors_naming_party_and_field(ids: Any, fragment: str) -> None:
    with pytest.raises(DataError) as err:
        intersect({}, ids, ["a", "b"])
    assert fragment in str(err.value)
    assert err.value.party == GUEST and err.value.field == "id"
    with pytest.raises(DataError) as err:
        intersect({}, ["a", "b"], ids)
    assert err.value.party == "host:10000"


def test_duplicate_error_lists_a_few_duplicates() -> None:
    ids = [str(i % 40) for i in range(100)]
    with pytest.raises(DataError) as err:
        intersect({}, ids, ["1"])
    assert "40 ids occur more than once" in str(err.value) and "'0', '1', '2', '3', '4'" in str(err.value)


def test_sm3_hashes_when_openssl_has_them() -> None:
    if "sm3" not in hashlib.algorithms_available:
        pytest.skip("this OpenSSL has no SM3")
    params = {
        "intersect_method": "rsa",
        "rsa_params": {"key_length": 1024, "hash_method": "sm3", "final_hash_method": "sm3"},
    }
    out = intersect(params, ["a", "b", "c"], ["c", "a", "z"])
    assert ids_list(out[GUEST]) == ["a", "c"] == ids_list(out["host:10000"])
    out = intersect({"ecdh_params": {"hash_method": "sm3"}}, ["a", "b"], ["b"])
    assert ids_list(out[GUEST]) == ["b"]


def test_cardinality_only_needs_exactly_one_host() -> None:
    with pytest.raises(ConfigError) as err:
        intersect({"cardinality_only": True}, ["a", "b"], ["a"], ["b"])
    assert err.value.field == "cardinality_only"
