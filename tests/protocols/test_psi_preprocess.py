"""Bloom-filter preprocessing (run_preprocess): the filter, the step, and PSI after it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedloom.core import GUEST, HOST, ConfigError, MessageError
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectionHost, IntersectParams
from fedloom.protocols.psi.messages import BLOOM_FILTER_GUEST, BLOOM_FILTER_HOST
from fedloom.protocols.psi.preprocess import BloomFilter, BloomPrefilter
from fedloom.testing import run_parties

IDS = st.lists(st.text(max_size=8), max_size=30, unique=True)


@settings(max_examples=30, deadline=None)
@given(inside=IDS, fpp=st.floats(1e-4, 0.5))
def test_no_false_negatives(inside: list[str], fpp: float) -> None:
    pre = BloomPrefilter(false_positive_rate=fpp)
    bloom = BloomFilter.build(pre._digests(inside), fpp, "sha256", b"s" * 16)

    assert bloom.contains(pre._digests(inside), "sha256").all()


@pytest.mark.parametrize("fpp", [0.2, 0.01])
def test_false_positive_rate_is_near_the_target(fpp: float) -> None:
    pre = BloomPrefilter(false_positive_rate=fpp)
    bloom = BloomFilter.build(pre._digests([f"in{i}" for i in range(5000)]), fpp, "sha256", b"x" * 16)

    rate = bloom.contains(pre._digests([f"out{i}" for i in range(20000)]), "sha256").mean()

    assert rate < 1.5 * fpp + 3 * math.sqrt(fpp / 20000)


def _intersect(params: dict[str, Any], g: list[str], h: list[str]) -> dict[Any, Any]:
    return run_parties(
        {
            GUEST: lambda c: IntersectionGuest(params).fit(c, g),
            HOST: lambda c: IntersectionHost(params).fit(c, h),
        },
        timeout=30,
    )


@pytest.mark.parametrize("owner", ["guest", "host"])
@pytest.mark.parametrize("method", ["ecdh", "rsa", "dh"])
def test_psi_after_the_prefilter_equals_the_set_intersection(owner: str, method: str) -> None:
    g = [f"g{i}" for i in range(60)] + [f"c{i}" for i in range(25)]
    h = [f"c{i}" for i in range(25)][::-1] + [f"h{i}" for i in range(40)]
    params = {
        "intersect_method": method,
        "rsa_params": {"key_length": 1024},
        "run_preprocess": True,
        "intersect_preprocess_params": {
            "false_positive_rate": 0.2,
            "filter_owner": owner,
            "preprocess_salt": "s",
        },
    }

    out = _intersect(params, g, h)

    expected = sorted(set(g) & set(h))
    assert out[GUEST].ids.tolist() == out[HOST].ids.tolist() == expected
    assert [g[i] for i in out[GUEST].index.tolist()] == expected
    assert [h[i] for i in out[HOST].index.tolist()] == expected


def test_the_filtered_side_runs_psi_on_fewer_ids() -> None:
    g = [f"g{i}" for i in range(400)] + ["c1"]
    h = ["c1", "h1"]
    base = {
        "intersect_method": "ecdh",
        "intersect_preprocess_params": {"filter_owner": "host", "false_positive_rate": 0.01},
    }

    plain = _intersect(base, g, h)
    pre = _intersect({**base, "run_preprocess": True}, g, h)

    assert pre[GUEST].ids.tolist() == plain[GUEST].ids.tolist() == ["c1"]
    assert pre[GUEST].bytes_sent < plain[GUEST].bytes_sent / 5


@settings(max_examples=8, deadline=None)
@given(guest=IDS.filter(bool), host=IDS.filter(bool), common=IDS, owner=st.sampled_from(["guest", "host"]))
def test_equals_set_intersection_on_random_sets(
    guest: list[str], host: list[str], common: list[str], owner: str
) -> None:
    g = list(dict.fromkeys(guest + common))
    h = list(dict.fromkeys(common[::-1] + host))
    params = {
        "run_preprocess": True,
        "intersect_preprocess_params": {"false_positive_rate": 0.3, "filter_owner": owner},
    }

    out = _intersect(params, g, h)

    assert set(out[GUEST].ids.tolist()) == set(g) & set(h) == set(out[HOST].ids.tolist())


def test_mismatched_preprocess_settings_are_config_errors() -> None:
    g_params = {"run_preprocess": True, "intersect_preprocess_params": {"false_positive_rate": 0.1}}
    h_params = {"run_preprocess": True, "intersect_preprocess_params": {"false_positive_rate": 0.2}}
    with pytest.raises(ConfigError) as err:
        run_parties(
            {
                GUEST: lambda c: IntersectionGuest(g_params).fit(c, ["a"]),
                HOST: lambda c: IntersectionHost(h_params).fit(c, ["a"]),
            },
            timeout=10,
        )
    assert err.value.field in {"intersect_preprocess_params", "preprocess"}


def test_a_malformed_filter_is_refused() -> None:
    pre = BloomPrefilter()
    msg = {
        "settings": pre._settings(),
        "m": 64,
        "k": 3,
        "seed": b"s" * 16,
        "bits": np.zeros(3, dtype=np.uint8),
    }
    with pytest.raises(MessageError):
        BloomFilter.from_message(msg, pre._settings(), "bloom_filter_guest")


def test_refused_with_cardinality_only_and_disclosure_is_stated() -> None:
    with pytest.raises(ConfigError) as err:
        IntersectParams.from_dict({"run_preprocess": True, "cardinality_only": True})
    assert "cardinality_only" in str(err.value)
    for ch in (BLOOM_FILTER_GUEST, BLOOM_FILTER_HOST):
        assert "weaker than PSI" in ch.disclosure and "false-positive" in ch.disclosure
