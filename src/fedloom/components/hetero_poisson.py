"""``HeteroPoisson``: vertical (hetero) Poisson regression, bound to :mod:`fedloom.ml.hetero.poisson`.

Guest (label and features), host(s) (features) and arbiter (key owner). FATE's parameter names are
accepted and checked by ``HeteroPoissonParams.from_dict``; inputs are ``train_data`` (+
``validate_data``) to train, or ``test_data`` / ``data`` with ``model`` to predict. The guest's
data output is the predicted rate (using the exposure column when given) per row, in FATE's
prediction layout. The binding is :mod:`fedloom.components.glm`.
"""

from __future__ import annotations

from fedloom.components.glm import GlmAlgorithm, GlmArbiter, GlmGuest, GlmHost, GlmParams, register_glm

__all__ = [
    "HeteroPoissonArbiterComponent",
    "HeteroPoissonComponentParams",
    "HeteroPoissonGuestComponent",
    "HeteroPoissonHostComponent",
]

MODULE = "HeteroPoisson"


def _algorithm() -> GlmAlgorithm:
    from fedloom.ml.hetero.poisson import (
        HeteroPoissonArbiter,
        HeteroPoissonGuest,
        HeteroPoissonHost,
        HeteroPoissonModel,
        HeteroPoissonParams,
    )

    return GlmAlgorithm(
        params=HeteroPoissonParams,
        guest=HeteroPoissonGuest,
        host=HeteroPoissonHost,
        arbiter=HeteroPoissonArbiter,
        model=HeteroPoissonModel,
    )


class HeteroPoissonComponentParams(GlmParams):
    """FATE's ``HeteroPoisson`` parameters, checked by ``HeteroPoissonParams.from_dict``."""

    algorithm = staticmethod(_algorithm)


class HeteroPoissonGuestComponent(GlmGuest):
    """Guest of ``HeteroPoisson``."""

    module = MODULE


class HeteroPoissonHostComponent(GlmHost):
    """Host of ``HeteroPoisson``."""

    module = MODULE


class HeteroPoissonArbiterComponent(GlmArbiter):
    """Arbiter of ``HeteroPoisson``."""

    module = MODULE


SPEC = register_glm(
    MODULE,
    HeteroPoissonComponentParams,
    HeteroPoissonGuestComponent,
    HeteroPoissonHostComponent,
    HeteroPoissonArbiterComponent,
    "Hetero Poisson regression: guest, host(s) and arbiter; train, validate and predict.",
)
