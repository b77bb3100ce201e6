"""``HeteroLR``: vertical (hetero) logistic regression, bound to :mod:`fedloom.ml.hetero.lr`.

Guest (label and features), host(s) (features) and arbiter (key owner). FATE's parameter names are
accepted and checked by ``HeteroLRParams.from_dict``; inputs are ``train_data`` (+
``validate_data``) to train, or ``test_data`` / ``data`` with ``model`` to predict. The guest's
data output is the class probabilities (binary, or one-vs-rest multi-class) per row, in FATE's
prediction layout. The binding is :mod:`fedloom.components.glm`.
"""

from __future__ import annotations

from fedloom.components.glm import GlmAlgorithm, GlmArbiter, GlmGuest, GlmHost, GlmParams, register_glm

__all__ = [
    "HeteroLRArbiterComponent",
    "HeteroLRComponentParams",
    "HeteroLRGuestComponent",
    "HeteroLRHostComponent",
]

MODULE = "HeteroLR"


def _algorithm() -> GlmAlgorithm:
    from fedloom.ml.hetero.lr import (
        HeteroLRArbiter,
        HeteroLRGuest,
        HeteroLRHost,
        HeteroLRModel,
        HeteroLRParams,
    )

    return GlmAlgorithm(
        params=HeteroLRParams,
        guest=HeteroLRGuest,
        host=HeteroLRHost,
        arbiter=HeteroLRArbiter,
        model=HeteroLRModel,
    )


class HeteroLRComponentParams(GlmParams):
    """FATE's ``HeteroLR`` parameters, checked by ``HeteroLRParams.from_dict``."""

    algorithm = staticmethod(_algorithm)


class HeteroLRGuestComponent(GlmGuest):
    """Guest of ``HeteroLR``."""

    module = MODULE


class HeteroLRHostComponent(GlmHost):
    """Host of ``HeteroLR``."""

    module = MODULE


class HeteroLRArbiterComponent(GlmArbiter):
    """Arbiter of ``HeteroLR``."""

    module = MODULE


SPEC = register_glm(
    MODULE,
    HeteroLRComponentParams,
    HeteroLRGuestComponent,
    HeteroLRHostComponent,
    HeteroLRArbiterComponent,
    "Hetero logistic regression: guest, host(s) and arbiter; train, validate and predict.",
)
