"""Pipeline components: one class per DSL module fedloom has, with FATE's names and files.

``from fedloom.pipeline.component import HeteroLR`` as ``from pipeline.component import HeteroLR``
in FATE; ``DataIO`` is an alias of ``DataTransform``. A module registered with the DSL registry
that has no class here (a plugin, a new component) still gets one, made on first access under its
module name (:func:`component_class`).
"""

from __future__ import annotations

from typing import Any

from fedloom.pipeline.component.cache_loader import CacheLoader
from fedloom.pipeline.component.component_base import Component, PartyInstance
from fedloom.pipeline.component.data_transform import DataTransform
from fedloom.pipeline.component.dataio import DataIO
from fedloom.pipeline.component.evaluation import Evaluation
from fedloom.pipeline.component.hetero_feature_binning import HeteroFeatureBinning
from fedloom.pipeline.component.hetero_feature_selection import HeteroFeatureSelection
from fedloom.pipeline.component.hetero_linr import HeteroLinR
from fedloom.pipeline.component.hetero_lr import HeteroLR
from fedloom.pipeline.component.hetero_nn import HeteroNN
from fedloom.pipeline.component.hetero_poisson import HeteroPoisson
from fedloom.pipeline.component.hetero_secureboost import HeteroSecureBoost
from fedloom.pipeline.component.homo_lr import HomoLR
from fedloom.pipeline.component.homo_nn import HomoNN
from fedloom.pipeline.component.intersection import Intersection
from fedloom.pipeline.component.one_hot_encoder import OneHotEncoder
from fedloom.pipeline.component.reader import Reader
from fedloom.pipeline.component.sample_weight import SampleWeight
from fedloom.pipeline.component.scale import FeatureScale

__all__ = [
    "CacheLoader",
    "Component",
    "DataIO",
    "DataTransform",
    "Evaluation",
    "FeatureScale",
    "HeteroFeatureBinning",
    "HeteroFeatureSelection",
    "HeteroLR",
    "HeteroLinR",
    "HeteroNN",
    "HeteroPoisson",
    "HeteroSecureBoost",
    "HomoLR",
    "HomoNN",
    "Intersection",
    "OneHotEncoder",
    "PartyInstance",
    "Reader",
    "SampleWeight",
    "component_class",
]

#: Classes by class name (what a dumped pipeline names); DataIO included.
_DECLARED: dict[str, type[Component]] = {
    cls.__name__: cls
    for cls in (CacheLoader, DataIO, DataTransform, Evaluation, FeatureScale, HeteroFeatureBinning,
                HeteroFeatureSelection, HeteroLR, HeteroLinR, HeteroNN, HeteroPoisson, HeteroSecureBoost,
                HomoLR, HomoNN, Intersection, OneHotEncoder, Reader, SampleWeight)
}  # fmt: skip
_MADE: dict[str, type[Component]] = {}


def component_class(name: str) -> type[Component]:
    """The pipeline class called ``name``, or the class of DSL module ``name``.

    Classes exist for every module of the DSL registry: declared ones above, others made here from
    the registry (so a newly registered module is usable from a pipeline at once).

    Raises
    ------
    ConfigError
        Neither a class nor a registered module has that name.
    """
    if name in _DECLARED:
        return _DECLARED[name]
    for cls in _DECLARED.values():
        if cls.module == name and cls is not DataIO:
            return cls
    if name not in _MADE:
        from fedloom.pipeline.component.component_base import module_spec

        spec = module_spec(name)  # ConfigError for an unknown module, with close names
        _MADE[name] = type(spec.name, (Component,), {"module": spec.name, "__doc__": spec.description})
    return _MADE[name]


def __getattr__(name: str) -> Any:
    # ``from fedloom.pipeline.component import SomeNewModule`` for a module registered by a plugin.
    if not name.startswith("_"):
        from fedloom.components import registry  # importing it registers every module

        spec = registry().lookup(name)
        if spec is not None:
            return component_class(spec.name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
