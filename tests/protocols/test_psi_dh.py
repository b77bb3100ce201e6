"""DH (Pohlig–Hellman over RFC 3526 MODP) PSI: group arithmetic, protocol, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core import GUEST, HOST, ConfigError, MessageError
from fedloom.crypto.modp import MODP_GROUPS, DhKey, group_for
from fedloom.crypto.paillier.parallel import get_num_workers, set_num_workers
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost, IntersectParams
from fedloom.protocols.psi import DhPsiGuest, DhPsiHost
from fedloom.protocols.psi.messages import DH_DOUBLE_VALUES, DH_GUEST_VALUES, DH_HOST_VALUES, PSI_HELLO
from fedloom.testing import run_parties

IDS = st.lists(st.text(min_size=0, max_size=8), max_size=25, unique=True)


@pytest.fixture(autouse=True)
def _one_worker() -> Iterator[None]:
    previous = get_num_workers()
    set_num_workers(1)
    yield
    set_num_workers(previous)


@pytest.mark.parametrize("bits", sorted(MODP_GROUPS))
def test_groups_are_rfc3526_safe_primes(bits: int) -> None:
    g = group_for(bits)
    assert g.p.bit_length() == bits and gmpy2.is_prime(g.p, 30) and gmpy2.is_prime(g.q, 30)


def test_small_key_length_runs_on_2048_and_odd_sizes_are_refused() -> None:
    assert group_for(1024).bits == 2048
    with pytest.raises(ConfigError) as err:
        group_for(2500)
    assert err.value.field == "key_length"


@settings(max_examples=20, deadline=None)
@given(ids=st.lists(st.text(max_size=6), min_size=1, max_size=6, unique=True))
def test_encryption_commutes_and_hashes_land_in_the_subgroup(ids: list[str]) -> None:
    g = group_for(2048)
    h = g.hash_ids(ids, "sha256", "salt")
    assert all(gmpy2.legendre(x, g.p) == 1 for x in h)
    a, b = DhKey(g), DhKey(g)
    assert a.encrypt(b.encrypt(h)) == b.encrypt(a.encrypt(h))
    assert g.from_array(g.to_array(h)) == h


def test_values_outside_the_subgroup_are_refused() -> None:
    g = group_for(2048)
    for bad in (0, 1, int(g.p) - 1, int(g.p)):
        arr = np.frombuffer(bad.to_bytes(g.nbytes, "big"), dtype=np.uint8).reshape(1, -1)
        with pytest.raises(MessageError):
            g.from_array(arr)
    non_residue = next(x for x in range(2, 100) if gmpy2.legendre(x, g.p) == -1)
    arr = np.frombuffer(non_residue.to_bytes(g.nbytes, "big"), dtype=np.uint8).reshape(1, -1)
    with pytest.raises(MessageError):
        g.from_array(arr)


@settings(max_examples=10, deadline=None)
@given(guest=IDS.filter(bool), host=IDS.filter(bool), common=IDS)
def test_dh_equals_the_set_intersection(guest: list[str], host: list[str], common: list[str]) -> None:
    g_ids = list(dict.fromkeys(guest + common))
    h_ids = list(dict.fromkeys(common[::-1] + host))
    out = run_parties(
        {
            GUEST: lambda c: DhPsiGuest(salt="s").run(c, g_ids),
            HOST: lambda c: DhPsiHost(salt="s").run(c, h_ids),
        },
        timeout=30,
    )
    expected = set(g_ids) & set(h_ids)
    assert {g_ids[i] for i in out[GUEST].index.tolist()} == expected
    assert {h_ids[i] for i in out[HOST].index.tolist()} == expected
    assert out[GUEST].count == out[HOST].count == len(expected)


def test_channels_run_guest_host_and_declare_what_they_disclose() -> None:
    g_ids = [f"g{i}" for i in range(20)] + ["c1", "c2"]
    h_ids = ["c2", "c1"] + [f"h{i}" for i in range(10)]

    out = run_parties(
        {GUEST: lambda c: DhPsiGuest().run(c, g_ids), HOST: lambda c: DhPsiHost().run(c, h_ids)}, timeout=30
    )

    assert out[GUEST].count == 2 and sorted(out[HOST].index.tolist()) == [0, 1]
    assert HOST in DH_HOST_VALUES.src and GUEST in DH_GUEST_VALUES.src and GUEST in DH_DOUBLE_VALUES.dst
    for ch in (DH_HOST_VALUES, DH_GUEST_VALUES, DH_DOUBLE_VALUES, PSI_HELLO):
        assert ch.disclosure


def test_settings_must_agree() -> None:
    with pytest.raises(Exception) as err:
        run_parties(
            {
                GUEST: lambda c: DhPsiGuest(salt="a").run(c, ["x"]),
                HOST: lambda c: DhPsiHost(salt="b").run(c, ["x"]),
            },
            timeout=10,
        )
    assert "salt" in str(err.value)


def test_cardinality_only_and_no_sync() -> None:
    g_ids = [f"g{i}" for i in range(15)] + ["c1", "c2", "c3"]
    h_ids = ["c3", "c2", "c1", "h1"]
    out = run_parties(
        {
            GUEST: lambda c: DhPsiGuest(cardinality_only=True).run(c, g_ids),
            HOST: lambda c: DhPsiHost(cardinality_only=True).run(c, h_ids),
        },
        timeout=30,
    )
    assert out[GUEST].index is None and out[GUEST].count == 3 and out[HOST].count == 3
    out = run_parties(
        {
            GUEST: lambda c: DhPsiGuest(sync=False).run(c, g_ids),
            HOST: lambda c: DhPsiHost(sync=False).run(c, h_ids),
        },
        timeout=30,
    )
    assert out[GUEST].count == 3 and out[HOST].index is None and out[HOST].count is None


def test_intersection_roles_run_fates_dh_params() -> None:
    params = {
        "intersect_method": "dh",
        "sync_intersect_ids": True,
        "only_output_key": True,
        "dh_params": {"hash_method": "sha256", "salt": "12345", "key_length": 1024},
    }
    assert IntersectParams.from_dict(params).effective_method == "dh"
    g_ids = ["a", "b", "c", "d"]
    h_ids = ["d", "b", "z"]
    out = run_parties(
        {
            GUEST: lambda c: IntersectionGuest(params).fit(c, g_ids),
            HOST: lambda c: IntersectionHost(params).fit(c, h_ids),
        },
        timeout=30,
    )
    assert out[GUEST].method == "dh"
    assert out[GUEST].ids.tolist() == out[HOST].ids.tolist() == ["b", "d"]


def test_bad_dh_params_name_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        IntersectParams.from_dict({"intersect_method": "dh", "dh_params": {"key_length": 1536}})
    assert "key_length" in str(err.value)
