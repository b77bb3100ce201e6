"""``HeteroLinR``: vertical (hetero) linear regression, bound to :mod:`fedloom.ml.hetero.linr`.

Guest (label and features), host(s) (features) and arbiter (key owner). FATE's parameter names are
accepted and checked by ``HeteroLinRParams.from_dict``; inputs are ``train_data`` (+
``validate_data``) to train, or ``test_data`` / ``data`` with ``model`` to predict. The guest's
data output is the predicted value per row, in FATE's prediction layout. The binding is
:mod:`fedloom.components.glm`.
"""

from __future__ import annotations

from fedloom.components.glm import GlmAlgorithm, GlmArbiter, GlmGuest, GlmHost, GlmParams, register_glm

__all__ = [
    "HeteroLinRArbiterComponent",
    "HeteroLinRComponentParams",
    "HeteroLinRGuestComponent",
    "HeteroLinRHostComponent",
]

MODULE = "HeteroLinR"


def _algorithm() -> GlmAlgorithm:
    from fedloom.ml.hetero.linr import (
        HeteroLinRArbiter,
        HeteroLinRGuest,
        HeteroLinRHost,
        HeteroLinRModel,
        HeteroLinRParams,
    )

    return GlmAlgorithm(
        params=HeteroLinRParams,
        guest=HeteroLinRGuest,
        host=HeteroLinRHost,
        arbiter=HeteroLinRArbiter,
        model=HeteroLinRModel,
    )


class HeteroLinRComponentParams(GlmParams):
    """FATE's ``HeteroLinR`` parameters, checked by ``HeteroLinRParams.from_dict``."""

    algorithm = staticmethod(_algorithm)


class HeteroLinRGuestComponent(GlmGuest):
    """Guest of ``HeteroLinR``."""

    module = MODULE


class HeteroLinRHostComponent(GlmHost):
    """Host of ``HeteroLinR``."""

    module = MODULE


class HeteroLinRArbiterComponent(GlmArbiter):
    """Arbiter of ``HeteroLinR``."""

    module = MODULE


SPEC = register_glm(
    MODULE,
    HeteroLinRComponentParams,
    HeteroLinRGuestComponent,
    HeteroLinRHostComponent,
    HeteroLinRArbiterComponent,
    "Hetero linear regression: guest, host(s) and arbiter; train, validate and predict.",
)
