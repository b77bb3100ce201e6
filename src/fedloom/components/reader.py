"""``Reader``: a party's stored table, as FATE's Reader names it.

Parameters per party (FATE's form)::

    "reader_0": {"table": {"name": "breast_hetero_guest", "namespace": "experiment"}}

Runs on guest and host (an arbiter holds no data). The table is read from the party's data
directory (:class:`~fedloom.data.TableStore`); the output is the table as stored, id column
first, for ``DataTransform`` to parse.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from fedloom.components.base import Component, Env, Inputs, Outputs, Table
from fedloom.context import Context
from fedloom.core.roles import GUEST, HOST
from fedloom.data import TableStore
from fedloom.dsl import ModuleSpec, register_module

__all__ = ["Reader", "ReaderParams", "TableRef"]

log = logging.getLogger(__name__)


class TableRef(BaseModel):
    """``{"name": ..., "namespace": ...}`` of a stored table."""

    model_config = ConfigDict(extra="forbid")

    name: str
    namespace: str


class ReaderParams(BaseModel):
    """Parameters of ``Reader``: the table this party reads."""

    model_config = ConfigDict(extra="forbid")

    table: TableRef


class Reader(Component):
    """Load the party's table named by ``table``."""

    module = "Reader"
    params: ReaderParams

    @classmethod
    def preflight(cls, params: BaseModel, env: Env) -> None:
        """The table exists in ``env.data_dir`` (raises :class:`~fedloom.core.DataError`)."""
        assert isinstance(params, ReaderParams)
        TableStore(env.data_dir).info(params.table.name, params.table.namespace)

    def run(self, ctx: Context, inputs: Inputs) -> Outputs:
        ref = self.params.table
        store = TableStore(self.env.data_dir)
        meta = store.info(ref.name, ref.namespace)
        df = store.load(ref.name, ref.namespace)
        log.info("read table %s.%s: %d rows, %d columns", ref.namespace, ref.name, len(df), df.shape[1])
        table = Table(df, meta.id_column, f"{ref.namespace}.{ref.name}", meta.label_name)
        return Outputs(
            data=[table],
            metrics={"table": f"{ref.namespace}.{ref.name}", "rows": len(df), "columns": df.shape[1]},
        )


SPEC = register_module(
    ModuleSpec(
        "Reader",
        roles={GUEST, HOST},
        params_model=ReaderParams,
        inputs=(),
        outputs={"data"},
        requires_data=False,
        entry={GUEST: Reader, HOST: Reader},
        description="Read this party's stored table (table: {name, namespace}).",
    )
)
