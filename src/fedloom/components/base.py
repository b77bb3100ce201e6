"""What a component is: a thin binding between a DSL module and an algorithm's role classes.

A component class is built once per party and run once::

    comp = Reader(params, env)                 # params: the module's validated pydantic model
    out = comp.run(ctx, inputs)                # ctx: this component's namespace of the job

:class:`Inputs` carries what the DSL wires in (data by slot, upstream models); :class:`Outputs`
is what the runner stores: data tables (:class:`Table` or :class:`~fedloom.data.Frame`), a model
(a JSON-able dict, never ciphertexts) and metrics (a JSON-able dict).

Data travels between components of one party in memory, as one of two types:

- :class:`Table`: a raw stored table (``Reader``'s output), id column first, numeric columns;
- :class:`~fedloom.data.Frame`: ids, label and a float64 feature matrix (``DataTransform`` and
  everything after it).

:func:`data_ids`, :func:`data_select` and :func:`data_to_pandas` work on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import PartyId
from fedloom.data import Frame, normalise_ids
from fedloom.ml.predictions import Predictions

__all__ = [
    "PREDICT_SLOTS",
    "Component",
    "Data",
    "Env",
    "Inputs",
    "Outputs",
    "Table",
    "concat_tables",
    "data_ids",
    "data_rows",
    "data_select",
    "data_to_pandas",
    "frame_input",
    "is_training",
    "model_of",
    "predict_input",
    "predictions_table",
    "slot_present",
    "stored_model",
    "train_inputs",
]

log = logging.getLogger(__name__)


@dataclass
class Table:
    """A table as stored: the id column first (text), then numeric columns (NaN where missing).

    Attributes
    ----------
    df
        The table.
    id_column
        Name of the id column (``df``'s first column).
    name
        ``namespace.name`` of the stored table, for messages.
    label_name
        The label column recorded at upload, if any.
    """

    df: pd.DataFrame
    id_column: str
    name: str | None = None
    label_name: str | None = None

    def __post_init__(self) -> None:
        if self.id_column not in self.df.columns:
            raise DataError(
                f"table {self.name or '?'}: no id column {self.id_column!r}.", field=self.id_column
            )
        if self.df.columns[0] != self.id_column:
            cols = [self.id_column] + [c for c in self.df.columns if c != self.id_column]
            self.df = self.df[cols]

    def __len__(self) -> int:
        return len(self.df)

    @property
    def ids(self) -> np.ndarray:
        """The ids as a numpy ``object`` array of ``str``."""
        return normalise_ids(self.df[self.id_column].to_numpy(dtype=object), table=self.name)


#: The data types that flow between components.
Data = Table | Frame


def data_ids(data: Data) -> np.ndarray:
    """Ids of a table or frame, in row order."""
    return data.ids


def data_rows(data: Data) -> int:
    """Number of rows of a table or frame."""
    return len(data)


def data_select(data: Data, ids: np.ndarray, *, keys_only: bool = False) -> Data:
    """The rows with ``ids``, in that order; with ``keys_only`` the ids alone (no label, no features).

    Raises
    ------
    DataError
        An id is not in the data.
    """
    if isinstance(data, Frame):
        if keys_only:
            return Frame(ids, np.zeros((len(ids), 0)), (), match_id_name=data.match_id_name, table=data.table)
        return data.select(ids)
    if keys_only:
        df = pd.DataFrame({data.id_column: np.asarray(ids, dtype=object)})
        return Table(df, data.id_column, data.name)
    index = pd.Index(data.ids)
    pos = index.get_indexer(normalise_ids(ids, table=data.name, column=data.id_column))
    if (pos < 0).any():
        raise DataError(
            f"table {data.name or '?'}: {(pos < 0).sum()} requested id(s) are not in the table.",
            field=data.id_column,
        )
    return Table(data.df.iloc[pos].reset_index(drop=True), data.id_column, data.name, data.label_name)


def data_to_pandas(data: Data) -> pd.DataFrame:
    """A pandas table with the id column first (what ``data.parquet`` holds)."""
    if isinstance(data, Frame):
        return data.to_pandas()
    return data.df


@dataclass
class Inputs:
    """What the DSL wires into one component on one party.

    Attributes
    ----------
    data
        Data by input slot (``data``, ``train_data``, ``validate_data``, ``test_data``,
        ``eval_data``), each a list in the DSL's order.
    models
        Upstream model dicts in the DSL's order (``input.model``), each as its producer saved it.
    isometric_models
        ``input.isometric_model`` dicts.
    sources
        For each slot, the ``component.output`` names the data came from (for messages).
    missing
        For each slot, why a wired input is absent on this party (its producer does not run
        here, or gave no output here).
    """

    data: dict[str, list[Data]] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    isometric_models: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

    def one(self, *slots: str) -> Data:
        """The single data input of the first slot present among ``slots`` (all slots when empty).

        Raises
        ------
        DataError
            No such input, or more than one data set in that slot.
        """
        wanted = slots or tuple(self.data)
        for slot in wanted:
            items = self.data.get(slot) or []
            if len(items) == 1:
                return items[0]
            if len(items) > 1:
                raise DataError(
                    f"input {slot!r} takes one data set; got {len(items)} ({', '.join(self.sources[slot])}).",
                    field=f"input.data.{slot}",
                )
        why = [w for slot in wanted for w in self.missing.get(slot, [])]
        reason = f": {'; '.join(why)}" if why else ""
        raise DataError(f"no data input ({', '.join(wanted) or 'any slot'}){reason}.", field="input.data")


@dataclass
class Outputs:
    """What a component hands back to the runner.

    Attributes
    ----------
    data
        Data outputs in the order of the DSL's ``output.data`` names (usually one).
    model
        A JSON-able dict, or ``None``.
    metrics
        A JSON-able dict shown in the job summary (counts, timings, scores).
    """

    data: list[Data] = field(default_factory=list)
    model: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Env:
    """Where one component runs: the party, the job's folders and a progress hook.

    Attributes
    ----------
    component
        The component's name in the DSL (``intersect_0``).
    party
        This party.
    party_index
        Its index within its role in the conf.
    data_dir
        This party's table store.
    job_dir
        The job's folder.
    report
        Called with ``(fraction in [0, 1], note)`` to report progress to the job status.
    """

    component: str
    party: PartyId
    party_index: int
    data_dir: Path
    job_dir: Path | None = None
    report: Callable[[float, str], None] = field(default=lambda fraction, note: None)

    def progress(self, fraction: float, note: str = "") -> None:
        """Report progress (``0.0`` .. ``1.0``) with a short note; never raises."""
        try:
            self.report(min(max(float(fraction), 0.0), 1.0), note)
        except Exception:  # progress is best effort; a full disk must not fail the job
            log.debug("progress report failed", exc_info=True)


class Component:
    """Base of every component's role class.

    Subclasses set :attr:`module` and implement :meth:`run`; ``__init__`` only stores.

    Parameters
    ----------
    params
        The module's validated parameter model for this party.
    env
        Where it runs.
    """

    #: The DSL module name this class belongs to (``"Reader"``).
    module: ClassVar[str] = ""

    def __init__(self, params: BaseModel, env: Env) -> None:
        self.params = params
        self.env = env

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        """Run on this party; ``ctx`` is the component's own namespace."""
        raise NotImplementedError(f"{type(self).__name__}.run")

    def artifact(
        self, params: Mapping[str, Any], model: Any, schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        """What ``model.json`` holds for this party: who trained it, with which parameters on which
        columns, and the model itself (a predict job checks all of it before using the model)."""
        return {
            "module": self.module,
            "role": self.env.party.role.value,
            "party": str(self.env.party),
            "params": dict(params),
            "schema": schema,
            "model": model,
        }

    @classmethod
    def preflight(cls, params: BaseModel, env: Env) -> None:
        """Checks that need no peer (a table exists...), run by the local launcher before any
        process starts, so that a job that cannot succeed fails at once. Default: none."""


def model_of(models: Sequence[Mapping[str, Any]], module: str, component: str) -> dict[str, Any] | None:
    """The first upstream model produced by ``module``, or ``None``.

    Raises
    ------
    DataError
        A model input exists but none of them is a ``module`` model.
    """
    if not models:
        return None
    for m in models:
        if m.get("module") == module:
            return dict(m)
    kinds = ", ".join(str(m.get("module")) for m in models)
    raise DataError(f"{component} needs a {module} model as input.model; got {kinds}.", field="input.model")


# -- model components: the inputs they read and the predictions they write ------------------------
#: Data slots a model component predicts on, in order of preference (FATE names all three).
PREDICT_SLOTS = ("test_data", "data", "eval_data")


def slot_present(inputs: Inputs, slot: str) -> bool:
    """Whether the DSL wires ``slot`` into this component (present here, or absent on this role)."""
    return bool(inputs.data.get(slot) or inputs.missing.get(slot))


def frame_input(data: Data, module: str, slot: str) -> Frame:
    """``data`` as a Frame, or a DataError saying that DataTransform must come first."""
    if isinstance(data, Frame):
        return data
    raise DataError(
        f"{module} needs parsed data (the output of DataTransform, or of an Intersection fed by it) "
        f"in {slot}; got the raw table {data.name or ''}.",
        field=f"input.data.{slot}",
    )


def is_training(inputs: Inputs, module: str) -> bool:
    """``train_data`` wired in: train; otherwise predict with ``input.model``.

    Raises
    ------
    ConfigError
        Both ``train_data`` and a model: warm starts are not supported.
    """
    if not slot_present(inputs, "train_data"):
        return False
    if inputs.models:
        raise ConfigError(
            f"{module} does not warm-start: give it either train_data (train) or test_data with "
            "input.model (predict), not train_data with a model.",
            field="input.model",
        )
    return True


def train_inputs(inputs: Inputs, module: str) -> tuple[Frame, Frame | None]:
    """The training Frame and the optional validation Frame."""
    train = frame_input(inputs.one("train_data"), module, "train_data")
    if not inputs.data.get("validate_data"):
        return train, None
    return train, frame_input(inputs.one("validate_data"), module, "validate_data")


def predict_input(inputs: Inputs, module: str) -> Frame:
    """The Frame to predict on, from the first wired slot of :data:`PREDICT_SLOTS`."""
    slot = next((s for s in PREDICT_SLOTS if slot_present(inputs, s)), PREDICT_SLOTS[0])
    return frame_input(inputs.one(slot), module, slot)


def stored_model(inputs: Inputs, module: str, component: str) -> dict[str, Any]:
    """This party's stored ``module`` model artifact, for predicting.

    Raises
    ------
    DataError
        No model input, or one that is not a fedloom ``module`` artifact.
    """
    found = model_of(inputs.models, module, component)
    if found is None or "model" not in found:
        raise DataError(
            f"{component} predicts with a trained {module} model and has none: add "
            f'"model": ["pipeline.{component}.model"] (an earlier job\'s model) or '
            '"model": ["<training component>.model"] to its input.',
            field="input.model",
        )
    return found


def predictions_table(preds: Predictions, kind: str, component: str) -> Table:
    """Predictions in FATE's layout with a ``type`` column (``train`` / ``validate`` / ``test``)."""
    df = preds.to_pandas()
    df["type"] = kind
    return Table(df, "id", f"{component}.data")


def concat_tables(tables: list[Table]) -> Table:
    """One table of several prediction tables."""
    if len(tables) == 1:
        return tables[0]
    return Table(pd.concat([t.df for t in tables], ignore_index=True), "id", tables[0].name)
