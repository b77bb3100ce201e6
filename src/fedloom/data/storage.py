"""Table storage: Parquet files plus a SQLite catalog, in one data directory per party.

Layout::

    <data dir>/                      $FEDLOOM_DATA_DIR, else ~/.fedloom/data
      catalog.sqlite                 one row per table (namespace, name, rows, columns, schema...)
      <namespace>/<name>.parquet     the table: id column as text, other columns float64

A table is written atomically: the Parquet file is written under a temporary name and synced,
then, inside one SQLite transaction, the catalog row is written and the file renamed into place,
and the transaction commits. A failure at any step leaves the previous state: no half-written file
under the final name and no catalog row for a table that is not complete (replacing a table keeps
the old file until the new one is committed). Only a hard kill (SIGKILL, power loss) in the instant
between the rename and the commit can leave the new file under the old catalog row;
``load(..., verify=True)`` detects that through the recorded SHA-256.

:func:`upload` takes FATE's upload conf::

    {"file": "examples/data/breast_hetero_guest.csv", "table_name": "breast_hetero_guest",
     "namespace": "experiment", "head": 1, "partition": 8}

``work_mode`` / ``backend`` / storage-engine keys are accepted and ignored; a relative ``file``
resolves against the conf's folder. fedloom adds ``id_column`` (default: the first column),
``label_name`` (recorded in the catalog) and ``drop`` (replace an existing table).
FATE's ``"meta": {"input_format": "sparse" | "tag" | "tag_value"}`` stores each row as its id
and the rest of the line as text (:func:`~fedloom.data.text_rows.read_text_table`), for
``DataTransform`` to parse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fedloom.core.errors import ConfigError, DataError
from fedloom.core.hashing import sha256_file
from fedloom.data.csv_reader import column_missing, read_csv_table
from fedloom.data.frame import _check_unique, normalise_ids
from fedloom.data.text_rows import read_text_table

__all__ = [
    "DATA_DIR_ENV",
    "TableInfo",
    "TableStore",
    "default_data_dir",
    "delete",
    "info",
    "list_tables",
    "load",
    "upload",
]

log = logging.getLogger(__name__)

DATA_DIR_ENV = "FEDLOOM_DATA_DIR"
CATALOG = "catalog.sqlite"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: FATE upload-conf keys that mean nothing here (engine and partition choices).
_IGNORED_UPLOAD_KEYS = frozenset(
    {
        "work_mode",
        "backend",
        "storage_engine",
        "storage_address",
        "destroy",
        "extend_sid",
        "auto_increasing_sid",
        "with_meta",
        "meta",
        "use_local_data",
        "engine",
        "task_cores",
        "module",
        "role",
        "party_id",
        "job_parameters",
    }
)
_UPLOAD_KEYS = frozenset(
    {
        "file",
        "table_name",
        "namespace",
        "head",
        "partition",
        "id_column",
        "label_name",
        "drop",
        "id_delimiter",
        "delimiter",
    }
)

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS tables (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    columns     INTEGER NOT NULL,
    schema_json TEXT NOT NULL,
    id_column   TEXT NOT NULL,
    label_name  TEXT,
    created     TEXT NOT NULL,
    source_file TEXT,
    sha256      TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    partitions  INTEGER,
    PRIMARY KEY (namespace, name)
)
"""


def default_data_dir() -> Path:
    """``$FEDLOOM_DATA_DIR`` when set, else ``~/.fedloom/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "data"


@dataclass(frozen=True)
class TableInfo:
    """One catalog row.

    Attributes
    ----------
    namespace, name
        The table's address.
    rows
        Number of rows.
    columns
        Column names, id column first.
    schema
        ``{"id", "label", "columns": [{"name", "dtype", "missing"}]}``.
    id_column, label_name
        The id column, and the label column when one was named at upload.
    created
        ISO 8601 UTC time of writing.
    source_file
        Absolute path of the uploaded file (``None`` for tables written from memory).
    sha256
        SHA-256 of the source file (of the Parquet file when there is none).
    data_sha256
        SHA-256 of the Parquet file.
    partitions
        FATE's ``partition`` from the upload conf (recorded, not used).
    path
        The Parquet file.
    """

    namespace: str
    name: str
    rows: int
    columns: list[str]
    schema: dict[str, Any]
    id_column: str
    label_name: str | None
    created: str
    source_file: str | None
    sha256: str
    data_sha256: str
    partitions: int | None
    path: Path = field(compare=False)

    @property
    def n_columns(self) -> int:
        """Number of columns, id included."""
        return len(self.columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (for ``fedloom table info --json``)."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ConfigError(
            f"{what} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.'. Got {value!r}.",
            field=what,
        )
    return value


def _prepared(
    df: pd.DataFrame, where: str, id_column: str | None, label_name: str | None
) -> tuple[pd.DataFrame, str]:
    """``df`` checked (not empty, id and label columns present, ids good and unique), ids as text
    in the first column; and the id column's name."""
    if len(df) == 0 or df.shape[1] == 0:
        raise DataError(f"table {where}: refusing to store an empty table.")
    id_column = id_column or str(df.columns[0])
    for kind, column in (("id", id_column), ("label", label_name)):
        if column is not None and column not in df.columns:
            raise column_missing(kind, column, list(df.columns), where)
    df = df.copy()
    df[id_column] = normalise_ids(df[id_column].to_numpy(dtype=object), table=where, column=id_column)
    _check_unique(df[id_column].to_numpy(dtype=object), where, id_column)
    df = df[[id_column] + [c for c in df.columns if c != id_column]]
    df[id_column] = pd.array(df[id_column].tolist(), dtype=object)
    return df, id_column


#: Rows per Parquet row group of a stored table: the unit :meth:`TableStore.iter_blocks` streams.
ROW_GROUP_ROWS = 65_536


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` and flush it to disk (the one place bytes are written)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    # Bounded row groups: readers can stream the table (TableStore.iter_blocks, issue 16).
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _table_schema(df: pd.DataFrame, id_column: str, label_name: str | None) -> dict[str, Any]:
    cols = []
    for col in df.columns:
        series = df[col]
        cols.append(
            {
                "name": str(col),
                "dtype": "str" if col == id_column else str(series.dtype),
                "missing": int(series.isna().sum()),
            }
        )
    return {"id": id_column, "label": label_name, "columns": cols}


class TableStore:
    """The tables of one data directory.

    Parameters
    ----------
    data_dir
        Default :func:`default_data_dir`. Created on first write.
    """

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()

    @property
    def catalog_path(self) -> Path:
        """The SQLite catalog file."""
        return self.data_dir / CATALOG

    def table_path(self, name: str, namespace: str) -> Path:
        """Where table ``namespace.name`` lives (whether or not it exists)."""
        return (
            self.data_dir / _check_name(namespace, "namespace") / f"{_check_name(name, 'table_name')}.parquet"
        )

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.catalog_path.exists():
            yield None
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.catalog_path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute(_SCHEMA_SQL)
            yield conn
        finally:
            conn.close()

    # -- writing -----------------------------------------------------------------------
    def save(
        self,
        df: pd.DataFrame,
        name: str,
        namespace: str,
        *,
        id_column: str | None = None,
        label_name: str | None = None,
        source_file: str | Path | None = None,
        source_sha256: str | None = None,
        partitions: int | None = None,
        drop: bool = False,
    ) -> TableInfo:
        """Store a table atomically (see module docs).

        Parameters
        ----------
        df
            Id column (text) plus numeric columns.
        name, namespace
            The table's address.
        id_column
            Default: the first column.
        label_name
            Label column to record, if any (must be a column).
        source_file, source_sha256
            Provenance to record.
        partitions
            FATE's ``partition``, recorded.
        drop
            Replace an existing table instead of refusing.

        Raises
        ------
        DataError
            The table exists and ``drop`` is false, the table is empty, the id or label column is
            missing, ids are bad or repeated.
        ConfigError
            A name that is not a safe file name.
        """
        final = self.table_path(name, namespace)
        where = f"{namespace}.{name}"
        df, id_column = _prepared(df, where, id_column, label_name)
        with self._connect(create=True) as conn:
            assert conn is not None
            self._refuse_existing(conn, name, namespace, drop)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
            try:
                _write_parquet(df, tmp)
                data_sha = sha256_file(tmp)
                schema = _table_schema(df, id_column, label_name)
                row = (
                    namespace,
                    name,
                    len(df),
                    df.shape[1],
                    json.dumps(schema),
                    id_column,
                    label_name,
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    str(Path(source_file).resolve()) if source_file is not None else None,
                    source_sha256 or data_sha,
                    data_sha,
                    partitions,
                )
                self._place(conn, tmp, final, row, drop)
            finally:
                tmp.unlink(missing_ok=True)
        log.info("stored table %s (%d rows, %d columns) at %s", where, len(df), df.shape[1], final)
        return self.info(name, namespace)

    def _refuse_existing(self, conn: sqlite3.Connection, name: str, namespace: str, drop: bool) -> None:
        if not drop and self._row(conn, name, namespace) is not None:
            raise DataError(
                f"table {namespace}.{name} already exists; delete it first or upload with drop.",
                field="table_name",
            )

    def _place(
        self, conn: sqlite3.Connection, tmp: Path, final: Path, row: tuple[Any, ...], drop: bool
    ) -> None:
        """In one transaction, replace the catalogue row and move ``tmp`` to ``final``; on any
        failure the catalogue and the previous file are as they were."""
        namespace, name = row[0], row[1]
        backup: Path | None = None
        placed = False
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._refuse_existing(conn, name, namespace, drop)  # created meanwhile
            if final.exists():
                backup = final.with_name(f".{final.name}.{uuid.uuid4().hex}.bak")
                os.link(final, backup)
            conn.execute("DELETE FROM tables WHERE namespace = ? AND name = ?", (namespace, name))
            _insert_row(conn, row)
            placed = True  # set first: a failure inside replace may come after the rename
            os.replace(tmp, final)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            if placed:
                if backup is not None:
                    os.replace(backup, final)
                    backup = None
                else:
                    final.unlink(missing_ok=True)
            raise
        finally:
            if backup is not None:
                backup.unlink(missing_ok=True)

    def upload_file(
        self,
        path: str | Path,
        name: str,
        namespace: str,
        *,
        id_column: str | None = None,
        label_name: str | None = None,
        head: bool = True,
        delimiter: str = ",",
        partitions: int | None = None,
        drop: bool = False,
        text_rows: bool = False,
    ) -> TableInfo:
        """Read a dense CSV file (checked by :func:`~fedloom.data.csv_reader.read_csv_table`) and store it;
        with ``text_rows``, rows of sparse / tag text (:func:`~fedloom.data.text_rows.read_text_table`)."""
        path = Path(path)
        _check_name(name, "table_name")
        _check_name(namespace, "namespace")
        if not path.is_file():
            raise DataError(f"table {namespace}.{name}: the file {str(path)!r} does not exist.", field="file")
        read = read_text_table if text_rows else read_csv_table
        df = read(path, id_column=id_column, head=head, delimiter=delimiter, table=f"{namespace}.{name}")
        return self.save(
            df,
            name,
            namespace,
            id_column=id_column,
            label_name=label_name,
            source_file=path,
            source_sha256=sha256_file(path),
            partitions=partitions,
            drop=drop,
        )

    def upload(
        self, conf: Mapping[str, Any], conf_dir: str | Path | None = None, *, drop: bool | None = None
    ) -> TableInfo:
        """Upload with FATE's upload conf (see module docs).

        Parameters
        ----------
        conf
            The upload conf.
        conf_dir
            Folder a relative ``file`` resolves against (the conf file's folder); default the
            current directory.
        drop
            Overrides the conf's ``drop``.

        Raises
        ------
        ConfigError
            A required key is missing or a value has the wrong type.
        DataError
            The file is missing or its content is refused.
        """
        args = parse_upload_conf(conf, conf_dir)
        if drop is not None:
            args["drop"] = drop
        return self.upload_file(**args)

    def delete(self, name: str, namespace: str) -> TableInfo:
        """Remove a table (catalog row first, then the file).

        Raises
        ------
        DataError
            No such table.
        """
        meta = self.info(name, namespace)
        with self._connect(create=True) as conn:
            assert conn is not None
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM tables WHERE namespace = ? AND name = ?", (namespace, name))
            conn.execute("COMMIT")
        meta.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            meta.path.parent.rmdir()  # only when the namespace is now empty
        return meta

    # -- reading -----------------------------------------------------------------------
    @staticmethod
    def _row(conn: sqlite3.Connection, name: str, namespace: str) -> tuple[Any, ...] | None:
        cur = conn.execute("SELECT * FROM tables WHERE namespace = ? AND name = ?", (namespace, name))
        row: tuple[Any, ...] | None = cur.fetchone()
        return row

    def _info(self, row: tuple[Any, ...]) -> TableInfo:
        (
            namespace,
            name,
            rows,
            _ncols,
            schema_json,
            id_column,
            label_name,
            created,
            source_file,
            sha,
            data_sha,
            partitions,
        ) = row
        schema = json.loads(schema_json)
        return TableInfo(
            namespace=namespace,
            name=name,
            rows=int(rows),
            columns=[c["name"] for c in schema["columns"]],
            schema=schema,
            id_column=id_column,
            label_name=label_name,
            created=created,
            source_file=source_file,
            sha256=sha,
            data_sha256=data_sha,
            partitions=partitions,
            path=self.table_path(name, namespace),
        )

    def exists(self, name: str, namespace: str) -> bool:
        """Whether the catalog lists ``namespace.name``."""
        with self._connect(create=False) as conn:
            return conn is not None and self._row(conn, name, namespace) is not None

    def info(self, name: str, namespace: str) -> TableInfo:
        """The catalog row of a table.

        Raises
        ------
        DataError
            No such table (the message lists the namespace's tables).
        """
        _check_name(name, "table_name")
        _check_name(namespace, "namespace")
        with self._connect(create=False) as conn:
            row = self._row(conn, name, namespace) if conn is not None else None
        if row is None:
            known = [t.name for t in self.list(namespace)]
            hint = f" Tables in {namespace!r}: {', '.join(known[:10])}." if known else ""
            raise DataError(f"no table {namespace}.{name} in {self.data_dir}.{hint}", field="table_name")
        return self._info(row)

    def list(self, namespace: str | None = None) -> list[TableInfo]:
        """Tables of one namespace (or all), sorted by namespace and name."""
        with self._connect(create=False) as conn:
            if conn is None:
                return []
            if namespace is None:
                rows = conn.execute("SELECT * FROM tables ORDER BY namespace, name").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM tables WHERE namespace = ? ORDER BY name", (namespace,)
                ).fetchall()
        return [self._info(r) for r in rows]

    def load(self, name: str, namespace: str, *, verify: bool = False) -> pd.DataFrame:
        """A stored table as a pandas DataFrame (id column first, as text).

        Parameters
        ----------
        verify
            Check the Parquet file against the catalog's SHA-256 first.

        Raises
        ------
        DataError
            No such table, the file is gone or (``verify``) changed since it was written.
        """
        meta = self.info(name, namespace)
        if not meta.path.is_file():
            raise DataError(
                f"table {namespace}.{name} is in the catalog but its file {meta.path} is missing."
            )
        if verify and sha256_file(meta.path) != meta.data_sha256:
            raise DataError(f"table {namespace}.{name}: {meta.path} changed since it was stored.")
        df = pq.read_table(meta.path).to_pandas()
        df[meta.id_column] = df[meta.id_column].astype(object)
        return df

    def row_groups(self, name: str, namespace: str) -> int:
        """How many Parquet row groups the stored table has (the blocks of :meth:`iter_blocks`)."""
        return int(pq.ParquetFile(self._file(name, namespace)).num_row_groups)

    def iter_blocks(
        self,
        name: str,
        namespace: str,
        *,
        columns: Sequence[str] | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """A stored table block by block, in row order, never read whole (issue 16).

        Parameters
        ----------
        columns
            Only these columns (default all; the id column first as in :meth:`load`).
        batch_rows
            Rows per block; default one block per Parquet row group (:data:`ROW_GROUP_ROWS` rows
            for tables written here). Memory is one block.

        Yields
        ------
        pandas.DataFrame
            The rows of one block, typed as :meth:`load` types them; concatenated, the blocks
            equal :meth:`load`.

        Raises
        ------
        DataError
            No such table, its file is gone, or an unknown column; ``batch_rows`` < 1.
        """
        meta = self.info(name, namespace)
        path = self._file(name, namespace)
        if batch_rows is not None and (
            isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1
        ):
            raise DataError(f"must be an int >= 1. Got {batch_rows!r}.", field="batch_rows")
        pf = pq.ParquetFile(path)
        if columns is not None:
            missing = [c for c in columns if c not in pf.schema_arrow.names]
            if missing:
                raise DataError(f"table {namespace}.{name} has no columns {missing!r}", field="columns")
        cols = list(columns) if columns is not None else None
        if batch_rows is None:
            batches: Iterator[Any] = (pf.read_row_group(i, columns=cols) for i in range(pf.num_row_groups))
        else:
            batches = pf.iter_batches(batch_size=batch_rows, columns=cols)
        for batch in batches:
            df = batch.to_pandas()
            if meta.id_column in df.columns:
                df[meta.id_column] = df[meta.id_column].astype(object)
            yield df

    def _file(self, name: str, namespace: str) -> Path:
        meta = self.info(name, namespace)
        if not meta.path.is_file():
            raise DataError(
                f"table {namespace}.{name} is in the catalog but its file {meta.path} is missing."
            )
        return meta.path


def parse_upload_conf(conf: Mapping[str, Any], conf_dir: str | Path | None = None) -> dict[str, Any]:
    """FATE upload conf -> keyword arguments of :meth:`TableStore.upload_file`.

    Raises
    ------
    ConfigError
        Missing ``file`` / ``table_name`` / ``namespace``, or a value of the wrong type.
    """
    if not isinstance(conf, Mapping):
        raise ConfigError(f"the upload conf must be a JSON object. Got {type(conf).__name__}.")
    for key in ("file", "table_name", "namespace"):
        if conf.get(key) in (None, ""):
            raise ConfigError(f"the upload conf needs {key!r}.", field=key)
    unknown = sorted(set(conf) - _UPLOAD_KEYS - _IGNORED_UPLOAD_KEYS)
    if unknown:
        log.warning("upload conf: ignoring unknown key(s) %s", ", ".join(unknown))
    if not isinstance(conf["file"], str):
        raise ConfigError(f"'file' must be a path string. Got {conf['file']!r}.", field="file")
    path = Path(conf["file"]).expanduser()
    if not path.is_absolute():
        path = Path(conf_dir if conf_dir is not None else Path.cwd()) / path
    head = conf.get("head", 1)
    if head not in (0, 1, True, False):
        raise ConfigError(f"'head' must be 1 (first line is the header) or 0. Got {head!r}.", field="head")
    partition = conf.get("partition")
    if partition is not None and (
        isinstance(partition, bool) or not isinstance(partition, int) or partition < 1
    ):
        raise ConfigError(f"'partition' must be a positive integer. Got {partition!r}.", field="partition")
    drop = conf.get("drop", 0)
    if drop not in (0, 1, True, False):
        raise ConfigError(f"'drop' must be 0 or 1. Got {drop!r}.", field="drop")
    delimiter = conf.get("delimiter", conf.get("id_delimiter", ","))
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"the delimiter must be one character. Got {delimiter!r}.", field="id_delimiter")
    for key in ("id_column", "label_name"):
        if conf.get(key) is not None and not isinstance(conf[key], str):
            raise ConfigError(f"{key!r} must be a column name. Got {conf[key]!r}.", field=key)
    meta = conf.get("meta") or {}
    fmt = str(meta.get("input_format", "dense")).lower() if isinstance(meta, Mapping) else "dense"
    if fmt not in ("dense", "sparse", "svmlight", "tag", "tag_value"):
        raise ConfigError(
            f"'meta.input_format' must be dense, sparse, tag or tag_value. Got {fmt!r}.",
            field="meta.input_format",
        )
    return {
        "text_rows": fmt != "dense",
        "path": path,
        "name": _check_name(conf["table_name"], "table_name"),
        "namespace": _check_name(conf["namespace"], "namespace"),
        "id_column": conf.get("id_column"),
        "label_name": conf.get("label_name"),
        "head": bool(head),
        "delimiter": delimiter,
        "partitions": partition,
        "drop": bool(drop),
    }


def _insert_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    conn.execute("INSERT INTO tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


# -- module-level shortcuts ------------------------------------------------------------------
def upload(
    conf: Mapping[str, Any],
    conf_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    *,
    drop: bool | None = None,
) -> TableInfo:
    """:meth:`TableStore.upload` on ``data_dir`` (default :func:`default_data_dir`)."""
    return TableStore(data_dir).upload(conf, conf_dir, drop=drop)


def info(name: str, namespace: str, data_dir: str | Path | None = None) -> TableInfo:
    """:meth:`TableStore.info` on ``data_dir``."""
    return TableStore(data_dir).info(name, namespace)


def load(name: str, namespace: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """:meth:`TableStore.load` on ``data_dir``."""
    return TableStore(data_dir).load(name, namespace)


def delete(name: str, namespace: str, data_dir: str | Path | None = None) -> TableInfo:
    """:meth:`TableStore.delete` on ``data_dir``."""
    return TableStore(data_dir).delete(name, namespace)


def list_tables(namespace: str | None = None, data_dir: str | Path | None = None) -> list[TableInfo]:
    """:meth:`TableStore.list` on ``data_dir``."""
    return TableStore(data_dir).list(namespace)
