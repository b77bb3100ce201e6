"""The Intersection component on threads over the in-memory transport: outputs per mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedloom.components import Env, Inputs, Table
from fedloom.components.intersection import IntersectionGuestComponent, IntersectionHostComponent
from fedloom.core import GUEST, HOST, ConfigError, DataError
from fedloom.data import Frame
from fedloom.dsl import load_job
from fedloom.ml.hetero.intersection import IntersectParams
from fedloom.testing import as_party, run_parties

G_IDS = [f"id{i}" for i in range(0, 60)]
H_IDS = [f"id{i}" for i in range(40, 100)]
EXPECTED = sorted(set(G_IDS) & set(H_IDS))


def frame(ids: list[str], n_features: int, label: bool) -> Frame:
    rng = np.random.default_rng(len(ids) + n_features)
    y = rng.integers(0, 2, len(ids)) if label else None
    return Frame(ids, rng.normal(size=(len(ids), n_features)), [f"x{j}" for j in range(n_features)], label=y)


def run(params: dict, guest_data: object = None, host_data: object = None) -> dict:
    p = IntersectParams.model_validate(params)
    g_data = guest_data if guest_data is not None else frame(G_IDS, 2, True)
    h_data = host_data if host_data is not None else frame(H_IDS, 3, False)

    def party(cls: type, role: object, data: object) -> object:
        def fn(ctx: object) -> object:
            env = Env(component="intersect_0", party=as_party(role), party_index=0, data_dir=Path("."))
            return cls(p, env).run(ctx, Inputs(data={"data": [data]}, sources={"data": ["dt.data"]}))

        return fn

    return run_parties(
        {
            GUEST: party(IntersectionGuestComponent, GUEST, g_data),
            HOST: party(IntersectionHostComponent, HOST, h_data),
        }
    )


def test_both_parties_output_their_rows_in_one_order() -> None:
    g_data, h_data = frame(G_IDS, 2, True), frame(H_IDS, 3, False)

    out = run({"intersect_method": "ecdh", "sync_intersect_ids": True}, g_data, h_data)

    g, h = out[GUEST].data[0], out[HOST].data[0]
    assert g.ids.tolist() == EXPECTED and h.ids.tolist() == EXPECTED
    np.testing.assert_array_equal(g.features, g_data.select(EXPECTED).features)
    np.testing.assert_array_equal(g.label, g_data.select(EXPECTED).label)
    np.testing.assert_array_equal(h.features, h_data.select(EXPECTED).features)
    assert out[GUEST].metrics["intersect_count"] == len(EXPECTED)
    assert out[GUEST].metrics["intersect_rate"] == pytest.approx(len(EXPECTED) / len(G_IDS))


def test_only_output_key_outputs_ids_only() -> None:
    out = run({"only_output_key": True})

    g = out[GUEST].data[0]
    assert g.ids.tolist() == EXPECTED and g.n_features == 0 and g.label is None


def test_tables_from_a_reader_are_aligned_too() -> None:
    g = Table(pd.DataFrame({"id": np.array(G_IDS, dtype=object), "a": np.arange(60.0)}), "id", "t.g")
    h = Table(pd.DataFrame({"id": np.array(H_IDS, dtype=object), "b": np.arange(60.0)}), "id", "t.h")

    out = run({}, g, h)

    assert out[HOST].data[0].df["id"].tolist() == EXPECTED
    assert out[HOST].data[0].df["b"].tolist() == [float(H_IDS.index(i)) for i in EXPECTED]


def test_without_sync_the_host_outputs_no_data() -> None:
    out = run({"intersect_method": "rsa", "sync_intersect_ids": False, "rsa_params": {"key_length": 1024}})

    assert out[GUEST].data[0].ids.tolist() == EXPECTED
    assert out[HOST].data == [] and "sync_intersect_ids is false" in out[HOST].metrics["note"]


def test_cardinality_only_outputs_the_count_only() -> None:
    out = run({"cardinality_only": True, "sync_cardinality": True})

    assert out[GUEST].data == [] and out[HOST].data == []
    assert out[GUEST].metrics["intersect_count"] == len(EXPECTED)
    assert out[HOST].metrics["intersect_count"] == len(EXPECTED)


def test_a_missing_input_says_why() -> None:
    inputs = Inputs(missing={"data": ["intersect_0 produced no data output 'data' on this party"]})

    with pytest.raises(DataError, match="produced no data output"):
        inputs.one("data")


def test_bad_intersection_parameters_name_component_and_field() -> None:
    conf = {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000]},
        "component_parameters": {"common": {"intersect_0": {"rsa_params": {"key_lenght": 2048}}}},
    }
    dsl = {"components": {"intersect_0": {"module": "Intersection", "input": {"data": {"data": ["r.data"]}}},
                          "r": {"module": "Reader", "output": {"data": ["data"]}}}}  # fmt: skip

    with pytest.raises(ConfigError) as err:
        load_job(conf, dsl)

    problems = getattr(err.value, "errors", (err.value,))
    bad = [e for e in problems if e.component == "intersect_0"]
    assert bad and bad[0].field == "rsa_params.key_lenght"
