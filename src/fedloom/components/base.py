"""What a component is: a thin binding between a DSL module and an algorithm's role classes.

A component class is built once per party and run once::

    comp = Reader(params, env)                 # params: the module's validated pydantic model
    out = comp.run(ctx, inputs)                # ctx: this component's namespace of the job

:class:`Inputs` carries what the DSL wires in (data by slot, upstream models); :class:`Outputs`
is what the runner stores: data tables (:class:`Table` or :class:`~fedloom.data.Frame`), a model
(a JSON-able dict, never ciphertexts, whose binary parts such as network weights are ``bytes``
values stored as files next to ``model.json``: :func:`split_model_files`) and metrics (a JSON-able
dict). Model components (train / validate / predict with an algorithm) are built on
:mod:`fedloom.components.model`.

Data travels between components of one party in memory, as one of two types:

- :class:`Table`: a raw stored table (``Reader``'s output), id column first, numeric columns;
- :class:`~fedloom.data.Frame`: ids, label and a float64 feature matrix (``DataTransform`` and
  everything after it).

:func:`data_ids`, :func:`data_select` and :func:`data_to_pandas` work on both.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from fedloom.context import Context
from fedloom.core.errors import ConfigError, DataError
from fedloom.core.roles import GUEST, HOST, PartyId
from fedloom.data import Frame, normalise_ids
from fedloom.dsl import ModuleSpec, register_module

__all__ = [
    "Component",
    "Data",
    "Env",
    "Inputs",
    "LocalTransform",
    "Outputs",
    "Table",
    "data_ids",
    "data_rows",
    "data_select",
    "data_to_pandas",
    "frame_input",
    "join_model_files",
    "local_transform_spec",
    "model_of",
    "read_json",
    "split_model_files",
    "stored_float",
    "stored_object",
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
    """A pandas table with the id column first (what ``data.parquet`` holds); a sparse Frame as
    its id, label and one ``features`` column of ``name:value`` text (never densified)."""
    if isinstance(data, Frame):
        return data.to_sparse_text() if data.is_sparse else data.to_pandas()
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
    caches
        ``input.cache`` dicts (an upstream component's or a ``CacheLoader``'s ``cache`` output).
    """

    data: dict[str, list[Data]] = field(default_factory=dict)
    models: list[dict[str, object]] = field(default_factory=list)
    isometric_models: list[dict[str, object]] = field(default_factory=list)
    sources: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    caches: list[dict[str, object]] = field(default_factory=list)

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
        A JSON-able dict (:meth:`Component.artifact`), or ``None``; ``bytes`` values of its
        ``model`` part are files (:func:`split_model_files`).
    metrics
        A JSON-able dict shown in the job summary (counts, timings, scores).
    cache
        A JSON-able dict kept for later components or jobs (``output.cache``; FATE's
        intersection cache), saved as ``{cache name}.json``; or ``None``.
    """

    data: list[Data] = field(default_factory=list)
    model: dict[str, object] | None = None
    metrics: dict[str, object] = field(default_factory=dict)
    cache: dict[str, object] | None = None


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
        self, params: Mapping[str, object], model: Mapping[str, object], schema: Mapping[str, object] | None
    ) -> dict[str, object]:
        """What ``model.json`` holds for this party: who trained it, with which parameters on which
        columns, and the model itself (a predict job checks all of it before using the model)."""
        return {
            "module": self.module,
            "role": self.env.party.role.value,
            "party": str(self.env.party),
            "params": dict(params),
            "schema": None if schema is None else dict(schema),
            "model": dict(model),
        }

    @classmethod
    def preflight(cls, params: BaseModel, env: Env) -> None:
        """Checks that need no peer (a table exists...), run by the local launcher before any
        process starts, so that a job that cannot succeed fails at once. Default: none."""


#: The data slots a module that reads one data set takes (FATE's DSL allows each of them), in
#: order of preference.
DATA_SLOTS = ("data", "train_data", "validate_data", "test_data", "eval_data")


class LocalTransform(Component):
    """Base of a per-party transform that sends no messages (FeatureScale, SampleWeight).

    It reads the first data slot given (in the order of :attr:`DATA_SLOTS`) and, when one is
    given, a stored model of its own module (``model`` or ``isometric_model``) to apply instead
    of fitting; the same class runs on guest and host.
    """

    #: Data slots read, in order of preference.
    DATA_SLOTS: ClassVar[tuple[str, ...]] = DATA_SLOTS

    def local_inputs(self, inputs: Inputs) -> tuple[Frame, dict[str, object] | None]:
        """The data to transform and this module's stored model (``None``: fit)."""
        slot = next((s for s in self.DATA_SLOTS if inputs.data.get(s)), self.DATA_SLOTS[0])
        data = frame_input(inputs.one(slot), self.module, slot)
        stored = model_of([*inputs.models, *inputs.isometric_models], self.module, self.env.component)
        return data, stored

    def local_model(self, params: BaseModel, **fields: object) -> dict[str, object]:
        """The model output: who made it with which parameters, then the module's ``fields``."""
        return {
            "module": self.module,
            "role": self.env.party.role.value,
            "party": str(self.env.party),
            "params": params.model_dump(mode="json"),
            **fields,
        }


def local_transform_spec(
    cls: type[LocalTransform], params_model: type[BaseModel], description: str
) -> ModuleSpec:
    """Register the :class:`LocalTransform` ``cls`` as its module, for guest and host."""
    return guest_host_spec(cls.module, params_model, cls, cls, description)


def guest_host_spec(
    module: str,
    params_model: type[BaseModel],
    guest: type[Component],
    host: type[Component],
    description: str,
) -> ModuleSpec:
    """Register ``module``, run by ``guest`` and ``host``: it reads one data set (any of
    :data:`DATA_SLOTS`) and a stored model of its own (``model`` or ``isometric_model``), and
    writes ``data`` and ``model``."""
    return register_module(
        ModuleSpec(
            module,
            roles={GUEST, HOST},
            params_model=params_model,
            inputs={*DATA_SLOTS, "model", "isometric_model"},
            outputs={"data", "model"},
            requires_data=True,
            entry={GUEST: guest, HOST: host},
            description=description,
        )
    )


def model_of(models: Sequence[Mapping[str, object]], module: str, component: str) -> dict[str, object] | None:
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


#: Modules that take a sparse Frame as it is (DataTransform's ``output_format: sparse``); every
#: other module gets it densified (the same numbers: sparse is a storage choice, not a value).
SPARSE_MODULES = frozenset({"HeteroLR", "HeteroLinR", "HeteroPoisson", "FeatureScale", "OneHotEncoder"})


#: Modules that take missing feature values (NaN, kept by DataTransform's ``keep_missing``); every
#: other module refuses them, naming the column.
MISSING_MODULES = frozenset({"HeteroFeatureBinning"})


def frame_input(data: Data, module: str, slot: str) -> Frame:
    """``data`` as a Frame (dense unless ``module`` is in :data:`SPARSE_MODULES`), or a DataError
    saying that DataTransform must come first (or that its missing values must be filled)."""
    if isinstance(data, Frame):
        if data.is_sparse and module not in SPARSE_MODULES:
            log.info("%s: densifying the sparse %s of %s (it works on dense features)", module, slot, data)
            data = data.to_dense()
        if module not in MISSING_MODULES and not data.is_sparse:
            _refuse_missing(data, module, slot)
        return data
    raise DataError(
        f"{module} needs parsed data (the output of DataTransform, or of an Intersection fed by it) "
        f"in {slot}; got the raw table {data.name or ''}.",
        field=f"input.data.{slot}",
    )


def _refuse_missing(frame: Frame, module: str, slot: str) -> None:
    holes = np.isnan(frame.dense_features()).any(axis=0)
    if holes.any():
        names = [frame.feature_names[i] for i in np.flatnonzero(holes)]
        raise DataError(
            f"{module} cannot take missing feature values; {slot} has them in column(s) {names[:5]}. "
            "Fill them with DataTransform's missing_fill, or bin them with HeteroFeatureBinning first.",
            field=names[0],
        )


def read_json(path: Path, *, missing: str, unreadable: str, field: str, party: PartyId) -> Any:
    """The JSON value in ``path``; a ConfigError naming ``field`` and ``party`` says ``missing``
    where the file does not exist, ``unreadable`` (then the cause) where it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(missing, field=field, party=str(party)) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{unreadable}: {exc}", field=field, party=str(party)) from None


def stored_object(value: object, what: str) -> dict[str, object]:
    """``value`` (read from a stored model) as a JSON object, or a DataError naming ``what``."""
    if not isinstance(value, dict):
        raise DataError(
            f"the stored model's {what} must be a JSON object. Got {type(value).__name__}.", field=what
        )
    return value


def stored_float(value: object, what: str) -> float:
    """``value`` (read from a stored model) as a number, or a DataError naming ``what``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DataError(f"the stored model's {what} must be a number. Got {value!r}.", field=what)
    return float(value)


# -- a model's binary parts, as files next to model.json -------------------------------------------
#: A file name a model may use: plain, no folder, not hidden, not one of the runner's own files.
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_RUNNER_FILES = ("model.json", "metrics.json")


def _file_name(name: str) -> str:
    if not _FILE_NAME.fullmatch(name) or name in _RUNNER_FILES or name.endswith(".parquet"):
        raise DataError(f"a model file may not be named {name!r}", field="model")
    return name


def split_model_files(artifact: Mapping[str, object]) -> tuple[dict[str, object], dict[str, bytes]]:
    """What ``model.json`` holds, and the files to write next to it.

    Every ``bytes`` value of ``artifact["model"]`` (a network's ``weights.safetensors``) becomes a
    file named by its key; ``model.json`` keeps ``{"file": name, "sha256": ..., "bytes": n}`` in
    its place, which :func:`join_model_files` reads back.

    Raises
    ------
    DataError
        A binary part's name is not a plain file name (or is one of the runner's own files).
    """
    model = artifact.get("model")
    if not isinstance(model, Mapping):
        return dict(artifact), {}
    files = {_file_name(k): v for k, v in model.items() if isinstance(v, bytes)}
    refs = {
        k: {"file": k, "sha256": hashlib.sha256(v).hexdigest(), "bytes": len(v)} for k, v in files.items()
    }
    return {**artifact, "model": {**model, **refs}}, files


def join_model_files(artifact: dict[str, object], folder: Path) -> dict[str, object]:
    """``model.json``'s dict with the files :func:`split_model_files` wrote read back from ``folder``.

    Raises
    ------
    DataError
        A file is missing, or its content is not what ``model.json`` recorded (sha256).
    """
    model = artifact.get("model")
    if not isinstance(model, dict):
        return artifact
    joined: dict[str, object] = dict(model)
    for key, ref in model.items():
        if not (isinstance(ref, dict) and ref.get("file") == key and "sha256" in ref):
            continue
        path = folder / _file_name(key)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise DataError(f"the model's file {path} cannot be read: {exc}", field="input.model") from None
        if hashlib.sha256(content).hexdigest() != ref["sha256"]:
            raise DataError(
                f"{path} is not the file its model.json recorded (sha256 differs)", field="input.model"
            )
        joined[key] = content
    return {**artifact, "model": joined}
