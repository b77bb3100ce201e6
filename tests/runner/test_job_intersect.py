"""Intersection jobs on partly overlapping tables: the aligned outputs equal Python's set
intersection, in one order on every party, with each party's own rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedloom.data import TableStore
from fedloom.runner.local import run_job

DSL = {
    "components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {
            "module": "DataTransform",
            "input": {"data": {"data": ["reader_0.data"]}},
            "output": {"data": ["data"], "model": ["model"]},
        },
        "intersect_0": {
            "module": "Intersection",
            "input": {"data": {"data": ["data_transform_0.data"]}},
            "output": {"data": ["data"]},
        },
    }
}


def make_table(ids: list[str], n_features: int, seed: int, label: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": np.array(ids, dtype=object)})
    if label:
        df["y"] = rng.integers(0, 2, len(ids)).astype(float)
    for j in range(n_features):
        df[f"f{j}"] = rng.normal(size=len(ids))
    return df


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    path = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    universe = [f"u{i:05d}" for i in rng.permutation(2000)[:900]]
    frames = {
        "guest": make_table(universe[:500], 3, 1, label=True),
        "host0": make_table(universe[200:700], 4, 2),
        "host1": make_table(universe[100:350] + universe[600:900], 2, 3),
    }
    store = TableStore(path)
    for name, df in frames.items():
        store.save(df, name, "t")
    return path, frames


def conf(method: dict, hosts: list[str], arbiter: bool = False) -> dict:
    role: dict = {"guest": [9999], "host": [10000 + i for i in range(len(hosts))]}
    if arbiter:
        role["arbiter"] = [10000]  # shares its id with the first host, as in FATE's examples
    host_params = {
        str(i): {"reader_0": {"table": {"name": name, "namespace": "t"}}} for i, name in enumerate(hosts)
    }
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": 9999},
        "role": role,
        "component_parameters": {
            "common": {"intersect_0": {"sync_intersect_ids": True, **method}},
            "role": {
                "guest": {
                    "0": {
                        "reader_0": {"table": {"name": "guest", "namespace": "t"}},
                        "data_transform_0": {"with_label": True},
                    }
                },
                "host": host_params,
            },
        },
    }


@pytest.mark.parametrize(
    ("method", "hosts", "arbiter"),
    [
        ({"intersect_method": "ecdh"}, ["host0", "host1"], True),
        (
            {"intersect_method": "rsa", "rsa_params": {"key_length": 1024, "split_calculation": True}},
            ["host0"],
            False,
        ),
    ],
    ids=["ecdh-2-hosts-and-arbiter", "rsa-split"],
)
def test_outputs_are_the_aligned_intersection(
    tables: tuple[Path, dict[str, pd.DataFrame]],
    tmp_path: Path,
    method: dict,
    hosts: list[str],
    arbiter: bool,
) -> None:
    data_dir, frames = tables
    expected = set(frames["guest"]["id"])
    for h in hosts:
        expected &= set(frames[h]["id"])

    res = run_job(conf(method, hosts, arbiter), DSL, data_dir=data_dir, job_dir=tmp_path, timeout=60)

    assert res.ok, res.failure
    guest = pd.read_parquet(res.output_path("intersect_0", "guest:9999"))
    assert set(guest["id"]) == expected and len(guest) == len(expected)
    src = frames["guest"].set_index("id").loc[guest["id"]]
    np.testing.assert_array_equal(guest[["y", "f0", "f1", "f2"]].to_numpy(), src.to_numpy())
    for i, h in enumerate(hosts):
        out = pd.read_parquet(res.output_path("intersect_0", f"host:{10000 + i}"))
        assert out["id"].tolist() == guest["id"].tolist()  # one order everywhere
        src = frames[h].set_index("id").loc[out["id"]]
        np.testing.assert_array_equal(out.drop(columns="id").to_numpy(), src.to_numpy())
    metrics = res.parties["guest:9999"]["components"]["intersect_0"]["metrics"]
    assert metrics["intersect_count"] == len(expected) and metrics["input_rows"] == 500
    if arbiter:
        comps = res.parties["arbiter:10000"]["components"]
        assert res.parties["arbiter:10000"]["status"] == "done"
        assert all(c["state"] == "skipped" for c in comps.values())


def test_a_party_failing_mid_protocol_stops_its_peer_at_once(
    tables: tuple[Path, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    data_dir, _ = tables
    c = conf({"intersect_method": "ecdh"}, ["host0"])
    c["component_parameters"]["role"]["host"]["0"]["intersect_0"] = {"intersect_method": "rsa"}

    res = run_job(c, DSL, data_dir=data_dir, job_dir=tmp_path, timeout=60)

    f = res.failure
    assert f is not None and (f.party, f.component, f.exit_code) == ("host:10000", "intersect_0", 2)
    assert "both sides need the same setting" in f.message
    guest = res.parties["guest:9999"]
    assert "peer host:10000 failed" in guest["error"]  # told by the host, not stopped by the launcher
    assert guest["seconds"] < 10
