"""Data layer: frames, dense CSV reading, table storage (Parquet + SQLite catalog), schemas.

Imports only :mod:`fedloom.core`. Typical use::

    from fedloom.data import TableStore, frame_from_table
    store = TableStore()                                  # $FEDLOOM_DATA_DIR or ~/.fedloom/data
    store.upload(json.load(open(conf)), conf_dir=Path(conf).parent)
    frame = frame_from_table(store.load("breast_hetero_guest", "experiment"),
                             with_label=True, label_name="y")
"""

from fedloom.data.csv_reader import frame_from_table, missing_fill_values, read_csv, read_csv_table
from fedloom.data.frame import Frame, normalise_ids
from fedloom.data.schema import align, check_compatible, make_schema
from fedloom.data.storage import (
    DATA_DIR_ENV,
    TableInfo,
    TableStore,
    default_data_dir,
    delete,
    info,
    list_tables,
    load,
    parse_upload_conf,
    upload,
)

__all__ = [
    "DATA_DIR_ENV",
    "Frame",
    "TableInfo",
    "TableStore",
    "align",
    "check_compatible",
    "default_data_dir",
    "delete",
    "frame_from_table",
    "info",
    "list_tables",
    "load",
    "make_schema",
    "missing_fill_values",
    "normalise_ids",
    "parse_upload_conf",
    "read_csv",
    "read_csv_table",
    "upload",
]
