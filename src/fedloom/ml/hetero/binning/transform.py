"""Replace feature values by their bin index or their bin's WOE, from a fitted model (local).

Used on the training data after a fit and, in predict jobs, on new data with the stored model:
nothing is fitted and nothing is sent.
"""

from __future__ import annotations

import numpy as np

from fedloom.core.errors import DataError
from fedloom.data.frame import Frame
from fedloom.ml.hetero.binning.model import BinningModel


def transformed_columns(
    model: BinningModel,
    names: tuple[str, ...],
    transform_cols: int | list[int] | None,
    transform_names: list[str] | None,
) -> list[str]:
    """The columns to transform, in the data's order: ``-1`` is every column the model binned.

    Raises
    ------
    DataError
        An index beyond the data's columns, or a column the model did not bin.
    """
    chosen: set[str] = set()
    if transform_cols == -1:
        chosen.update(n for n in names if n in model.columns)
    elif isinstance(transform_cols, list):
        for i in transform_cols:
            if not 0 <= i < len(names):
                raise DataError(
                    f"transform_cols names column {i}; the data has {len(names)} feature columns",
                    field="transform_cols",
                )
            chosen.add(names[i])
    for n in transform_names or ():
        if n not in names:
            raise DataError(
                f"transform_names names {n!r}, which the data does not have", field="transform_names"
            )
        chosen.add(n)
    missing = sorted(chosen - set(model.columns))
    if missing:
        raise DataError(f"cannot transform columns the binning did not bin: {missing[:5]}", field=missing[0])
    return [n for n in names if n in chosen]


def transform(
    model: BinningModel,
    frame: Frame,
    transform_cols: int | list[int] | None,
    transform_names: list[str] | None,
    transform_type: str | None,
) -> Frame:
    """``frame`` with the chosen columns replaced by bin index (``bin_num``) or WOE (``woe``).

    Parameters
    ----------
    model
        A fitted (or stored) binning model of this party.
    frame
        This party's data (the model's columns, by name; sparse data comes back dense when a
        column is transformed, since a zero need not fall in bin 0).
    transform_cols, transform_names
        ``transform_param``: ``-1`` (every binned column), positions, and names.
    transform_type
        ``bin_num``, ``woe`` or ``None`` (the frame is returned unchanged).

    Raises
    ------
    DataError
        ``woe`` where the model has no WOE for a column (a host that did not get it from the
        guest, multi-class labels, ``skip_static``), a value falling in a bin the training data
        did not have (an unseen missing value or category) under ``woe``, or bad columns;
        ``field`` names ``transform_type`` or the column.
    """
    if transform_type is None:
        return frame
    if transform_type not in ("bin_num", "woe"):
        raise DataError(
            f"transform_type must be 'bin_num', 'woe' or null. Got {transform_type!r}.",
            field="transform_type",
        )
    cols = transformed_columns(model, frame.feature_names, transform_cols, transform_names)
    if not cols:
        return frame
    x = np.array(frame.dense_features(), dtype=np.float64, copy=True)
    for name in cols:
        j = frame.feature_names.index(name)
        result = model.columns[name]
        index = result.bins.index(x[:, j])
        if transform_type == "bin_num":
            x[:, j] = index
            continue
        woe = result.woe_values()
        if not isinstance(woe, np.ndarray):
            why = "one WOE per class (multi-class label)" if isinstance(woe, dict) else "no WOE"
            raise DataError(
                f"transform_type 'woe': the binning model has {why} for column {name!r}",
                field="transform_type",
            )
        if len(index) and int(index.max()) >= len(woe):
            raise DataError(
                f"transform_type 'woe': column {name!r} has a value in a bin the training data did not "
                "have (a missing value or an unseen category), which has no WOE",
                field="transform_type",
            )
        x[:, j] = woe[index]
    return frame.with_features(x)
