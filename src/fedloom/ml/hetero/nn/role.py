"""What the guest and the host of Hetero NN share: their constructor, their parameters and the
checks of a prediction's model and data."""

from __future__ import annotations

from collections.abc import Mapping

from fedloom.compute import Executor
from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.nn.model import HeteroNNModel
from fedloom.ml.hetero.nn.params import HeteroNNParams

__all__ = ["HeteroNNRole", "check_prediction_input", "coerce_params"]


def coerce_params(params: HeteroNNParams | Mapping[str, object] | None) -> HeteroNNParams:
    """A HeteroNNParams, or one built from a FATE-style dict."""
    if isinstance(params, HeteroNNParams):
        return params
    return HeteroNNParams.from_dict(params)


class HeteroNNRole:
    """A party of Hetero NN: its parameters and where its encryption runs.

    Parameters
    ----------
    params
        :class:`~.params.HeteroNNParams` or a FATE-style dict.
    executor
        Where encryption runs (default: :func:`fedloom.compute.default_executor`).
    """

    def __init__(
        self, params: HeteroNNParams | Mapping[str, object] | None = None, executor: Executor | None = None
    ) -> None:
        self.params = params
        self.executor = executor


def check_prediction_input(
    model: HeteroNNModel, frame: Frame, role: str, wrong_role: str, party: str
) -> None:
    """Check that ``model`` is a ``role`` model and that ``frame`` has its training columns.

    Parameters
    ----------
    model : HeteroNNModel
        The model to predict with.
    frame : Frame
        The prediction data.
    role : str
        The role the model must have (``"guest"`` or ``"host"``).
    wrong_role : str
        The message when it has another.
    party : str
        The party that checks (named in the error).

    Raises
    ------
    DataError
        A model of another role, or columns that differ from the training data's.
    """
    if model.role != role:
        raise DataError(wrong_role, party=party, field="model")
    if list(frame.feature_names) != list(model.feature_names):
        raise DataError(
            "the prediction data's columns differ from the training data's", party=party, field="features"
        )
