"""IntersectParams: FATE's names and nesting accepted, everything else a ConfigError naming the field."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from fedloom.core import ConfigError
from fedloom.ml.hetero.intersection import IntersectionGuest, IntersectParams
from fedloom.ml.hetero.intersection.params import (
    DhParams,
    EcdhParams,
    EncodeParams,
    IntersectCacheParams,
    IntersectPreprocessParams,
    RawParams,
    RsaParams,
)

FATE_INTERSECT = (
    Path(
        os.environ.get(
            "FEDLOOM_FATE_EXAMPLES", str(Path(__file__).resolve().parents[4] / "shared" / "fate_examples")
        )
    )
    / "dsl_v2"
    / "intersect"
)

#: The intersect_0 parameters of FATE's examples (dsl_v2/intersect/*_conf.json), inline so the
#: test runs without the examples folder.
FATE_PARAMS: list[dict[str, Any]] = [
    {
        "intersect_method": "ecdh",
        "sync_intersect_ids": True,
        "ecdh_params": {"hash_method": "sha256", "salt": "12345", "curve": "curve25519"},
        "only_output_key": True,
    },
    {
        "cardinality_method": "ecdh",
        "cardinality_only": True,
        "sync_cardinality": False,
        "ecdh_params": {"hash_method": "sha256", "curve": "curve25519"},
    },
    {
        "cardinality_method": "rsa",
        "cardinality_only": True,
        "sync_cardinality": False,
        "rsa_params": {
            "hash_method": "sha256",
            "final_hash_method": "sha256",
            "split_calculation": False,
            "key_length": 2048,
        },
        "intersect_preprocess_params": {
            "false_positive_rate": 0.0001,
            "encrypt_method": "rsa",
            "hash_method": "sha256",
        },
    },
    {
        "intersect_method": "rsa",
        "sync_intersect_ids": False,
        "only_output_key": True,
        "rsa_params": {
            "hash_method": "sha256",
            "final_hash_method": "sha256",
            "split_calculation": False,
            "key_length": 2048,
        },
    },
    {
        "intersect_method": "rsa",
        "sync_intersect_ids": False,
        "only_output_key": True,
        "rsa_params": {
            "hash_method": "sha256",
            "final_hash_method": "sha256",
            "split_calculation": True,
            "random_base_fraction": 0.5,
            "key_length": 2048,
        },
    },
]


@pytest.mark.parametrize("values", FATE_PARAMS)
def test_fate_example_parameters_are_accepted(values: dict[str, Any]) -> None:
    params = IntersectParams.from_dict(values)
    assert params.model_dump(include=set(values)).keys() == values.keys()


#: FATE example confs using a feature fedloom refuses on purpose, and the field the error names.
NOT_IMPLEMENTED: dict[str, str] = {}


def _kept(given: dict[str, Any], parsed: dict[str, Any]) -> bool:
    """Every value of ``given`` (nested dicts included) is in ``parsed``, unchanged."""
    return all(
        key in parsed and (_kept(value, parsed[key]) if isinstance(value, dict) else parsed[key] == value)
        for key, value in given.items()
    )


def test_every_fate_example_conf_in_the_shared_folder_is_accepted_or_refused_on_purpose() -> None:
    # Prepare
    confs = sorted(FATE_INTERSECT.glob("*_conf.json"))
    if not confs:
        pytest.skip(f"FATE examples not found at {FATE_INTERSECT}")
    accepted = []
    for conf in confs:
        values = json.loads(conf.read_text())["component_parameters"]["common"]["intersect_0"]
        if conf.name in NOT_IMPLEMENTED:
            # Execute / Assert: a one-line ConfigError naming the unsupported field
            with pytest.raises(ConfigError, match="not implemented") as err:
                IntersectParams.from_dict(values)
            assert err.value.field == NOT_IMPLEMENTED[conf.name], conf.name
            continue
        # Execute / Assert: accepted, and every value FATE wrote is kept as written
        params = IntersectParams.from_dict(values)
        assert _kept(values, params.model_dump(include=set(values))), conf.name
        accepted.append(conf.name)
    assert len(accepted) >= len(FATE_PARAMS), accepted


def test_defaults_pass_their_own_checks() -> None:
    for cls in (
        IntersectParams,
        RsaParams,
        EcdhParams,
        DhParams,
        RawParams,
        EncodeParams,
        IntersectCacheParams,
        IntersectPreprocessParams,
    ):
        model = cls()
        assert cls.model_validate(model.model_dump()) == model
    params = IntersectParams()
    assert params.intersect_method == "ecdh" and params.rsa_params.key_length == 2048
    assert params.sync_intersect_ids and not params.cardinality_only


def test_method_and_hash_names_are_case_insensitive_like_fate() -> None:
    params = IntersectParams.from_dict({"intersect_method": "RSA", "rsa_params": {"hash_method": "SHA256"}})
    assert params.intersect_method == "rsa" and params.rsa_params.hash_method == "sha256"
    assert params.effective_method == "rsa"
    assert (
        IntersectParams.from_dict({"intersect_method": "rsa", "cardinality_only": True}).effective_method
        == "ecdh"
    )


@pytest.mark.parametrize(
    "values,field,fragment",
    [
        ({"intersect_metod": "rsa"}, "intersect_metod", "not a recognised name"),
        ({"rsa_params": {"key_lenght": 2048}}, "rsa_params.key_lenght", "not a recognised name"),
        ({"ecdh_params": {"curve": "p256"}}, "ecdh_params.curve", "must be one of"),
        ({"intersect_method": "raw"}, "intersect_method", "in the clear"),
        ({"dh_params": {"key_length": 1536}}, "dh_params.key_length", "2048"),
        ({"dh_params": {"hash_method": "md5"}}, "dh_params.hash_method", "must be one of"),
        ({"intersect_method": "psi"}, "intersect_method", "must be one of"),
        ({"rsa_params": {"key_length": 512}}, "rsa_params.key_length", "1024"),
        ({"rsa_params": {"key_length": "2048"}}, "rsa_params.key_length", "integer"),
        ({"rsa_params": {"hash_method": "md5"}}, "rsa_params.hash_method", "must be one of"),
        ({"rsa_params": {"final_hash_method": "crc32"}}, "rsa_params.final_hash_method", "must be one of"),
        ({"rsa_params": {"random_base_fraction": 0}}, "rsa_params.random_base_fraction", "(0, 1]"),
        ({"rsa_params": {"random_base_fraction": 1.5}}, "rsa_params.random_base_fraction", "(0, 1]"),
        ({"sync_intersect_ids": "yes"}, "sync_intersect_ids", "boolean"),
        ({"join_method": "left_join"}, "join_method", "inner_join"),
        ({"run_cache": True}, "run_cache", "intersect_method 'rsa'"),
        ({"run_preprocess": True, "cardinality_only": True}, "run_preprocess", "cardinality_only"),
        (
            {"intersect_preprocess_params": {"false_positive_rate": 0.7}},
            "intersect_preprocess_params.false_positive_rate",
            "0.5",
        ),
        ({"rsa_params": []}, "rsa_params", "invalid"),
    ],
)
def test_bad_values_are_config_errors_naming_the_field(
    values: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        IntersectParams.from_dict(values, component="intersect_0")
    assert err.value.field == field
    assert fragment in str(err.value)
    assert "intersect_0" in str(err.value)


def test_role_classes_validate_dict_parameters_when_fitting() -> None:
    algo = IntersectionGuest({"rsa_params": {"nope": 1}})  # __init__ only stores
    with pytest.raises(ConfigError) as err:
        algo.fit(None, ["a"])  # type: ignore[arg-type]
    assert err.value.field == "rsa_params.nope"
