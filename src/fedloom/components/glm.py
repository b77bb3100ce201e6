"""``HeteroLR``, ``HeteroLinR`` and ``HeteroPoisson``: the hetero GLMs as model components.

Each is a registration of its algorithm package (``fedloom.ml.hetero.{lr,linr,poisson}``) on the
model-component base (:mod:`fedloom.components.model`, which says what a component reads, stores
and outputs). Guest (label and features), host(s) (features) and arbiter (key owner); FATE's
parameter names, checked by the algorithm's ``Params.from_dict``. The guest's data output is, per
row: the class probabilities (binary, or one-vs-rest multi-class) for ``HeteroLR``; the predicted
value for ``HeteroLinR``; the predicted rate (using the exposure column when given) for
``HeteroPoisson``.

Importing this module registers the three with :data:`fedloom.dsl.REGISTRY`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedloom.components.model import Algorithm, register_model_component

if TYPE_CHECKING:
    from fedloom.ml.hetero.glm import GLMModel, GLMParams

__all__ = ["HETERO_LINR", "HETERO_LR", "HETERO_POISSON"]


# The algorithms load when a job first needs them: importing one loads the crypto stack.
def _hetero_lr() -> Algorithm[GLMParams, GLMModel]:
    from fedloom.ml.hetero import lr

    return Algorithm(
        lr.HeteroLRParams, lr.HeteroLRGuest, lr.HeteroLRHost, lr.HeteroLRArbiter, lr.HeteroLRModel
    )


def _hetero_linr() -> Algorithm[GLMParams, GLMModel]:
    from fedloom.ml.hetero import linr as m

    return Algorithm(
        m.HeteroLinRParams, m.HeteroLinRGuest, m.HeteroLinRHost, m.HeteroLinRArbiter, m.HeteroLinRModel
    )


def _hetero_poisson() -> Algorithm[GLMParams, GLMModel]:
    from fedloom.ml.hetero import poisson as m

    return Algorithm(
        m.HeteroPoissonParams,
        m.HeteroPoissonGuest,
        m.HeteroPoissonHost,
        m.HeteroPoissonArbiter,
        m.HeteroPoissonModel,
    )


HETERO_LR = register_model_component(
    "HeteroLR",
    _hetero_lr,
    "Hetero logistic regression: guest, host(s) and arbiter; train, validate and predict.",
)
HETERO_LINR = register_model_component(
    "HeteroLinR",
    _hetero_linr,
    "Hetero linear regression: guest, host(s) and arbiter; train, validate and predict.",
)
HETERO_POISSON = register_model_component(
    "HeteroPoisson",
    _hetero_poisson,
    "Hetero Poisson regression: guest, host(s) and arbiter; train, validate and predict.",
)
