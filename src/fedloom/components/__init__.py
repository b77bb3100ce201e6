"""Components: one entry per DSL module name, binding the DSL to an algorithm's role classes.

Importing this package registers every component with :data:`fedloom.dsl.REGISTRY`::

    from fedloom.components import registry
    job = load_job(conf, dsl, registry())

Each module's :class:`~fedloom.dsl.ModuleSpec` has ``entry = {role: ComponentClass}``; the runner
builds ``ComponentClass(params, env)`` and calls ``run(ctx, inputs)`` (:mod:`.base`). Components
that train and predict with an algorithm are registrations on :mod:`.model`.
"""

from __future__ import annotations

from fedloom.components import (
    cache_loader,
    data_transform,
    evaluation,
    feature_binning,
    feature_scale,
    feature_selection,
    glm,
    hetero_nn,
    homo_lr,
    homo_nn,
    intersection,
    one_hot,
    reader,
    sample_weight,
    secureboost,
)
from fedloom.components.base import Component, Data, Env, Inputs, Outputs, Table
from fedloom.dsl import REGISTRY, ModuleRegistry

# The base's types a caller of the runner needs, and the lookups of this package ...
__all__ = ["Component", "Data", "Env", "Inputs", "Outputs", "Table", "component_class", "registry"]
# ... and the component modules (importing the package imports them, which registers them):
__all__ += ["data_transform", "evaluation", "feature_scale", "intersection", "reader", "sample_weight"]
__all__ += ["glm", "homo_lr", "homo_nn"]  # the model components, registrations on .model
__all__ += ["cache_loader"]
__all__ += ["feature_binning", "feature_selection", "hetero_nn", "one_hot", "secureboost"]


def registry() -> ModuleRegistry:
    """The process-wide module registry, with every component of this package registered."""
    return REGISTRY


def component_class(module: str, role: object) -> type[Component] | None:
    """The role class of ``module`` for ``role``, or ``None`` when the module does not run there."""
    spec = REGISTRY.get(module)
    entry = spec.entry or {}
    cls = entry.get(role)
    return cls if isinstance(cls, type) and issubclass(cls, Component) else None
