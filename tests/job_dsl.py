"""DSL pieces that several job tests share. Imported as ``from tests.job_dsl import ...``."""

from __future__ import annotations

from typing import Any


def psi_dsl(**components: dict[str, Any]) -> dict[str, Any]:
    """Reader -> DataTransform -> Intersection, then ``components`` (a fresh dict)."""
    return {
        "components": {
            "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
            "data_transform_0": {
                "module": "DataTransform",
                "input": {"data": {"data": ["reader_0.data"]}},
                "output": {"data": ["data"], "model": ["model"]},
            },
            "intersection_0": {
                "module": "Intersection",
                "input": {"data": {"data": ["data_transform_0.data"]}},
                "output": {"data": ["data"]},
            },
            **components,
        }
    }


def hetero_lr_dsl(**extra: dict[str, Any]) -> dict[str, Any]:
    """Reader -> DataTransform -> Intersection -> HeteroLR, then ``extra`` components (a fresh dict)."""
    lr = {
        "module": "HeteroLR",
        "input": {"data": {"train_data": ["intersection_0.data"]}},
        "output": {"data": ["data"], "model": ["model"]},
    }
    return psi_dsl(hetero_lr_0=lr, **extra)
