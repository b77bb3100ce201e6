"""Datasets of fedloom's deep-learning workloads: offline cache, fetch and format readers.

numpy only; importing this package never loads torch.
"""

from fedloom.models.datasets.austen import BOOKS, load_austen, read_lazyload_db, tokenize_words
from fedloom.models.datasets.cache import (
    REGISTRY,
    DatasetUnavailableError,
    cache_dir,
    dataset_dir,
    fetch_hint,
    require,
)
from fedloom.models.datasets.fetch import FetchReport, ensure, fetch, status
from fedloom.models.datasets.idx import load_image_dataset, read_idx, write_idx
from fedloom.models.datasets.imdb import load_imdb, read_imdb_folder, read_imdb_json
from fedloom.models.datasets.tabular import TabularData, read_otto_csv

__all__ = [
    "BOOKS",
    "REGISTRY",
    "DatasetUnavailableError",
    "FetchReport",
    "TabularData",
    "cache_dir",
    "dataset_dir",
    "ensure",
    "fetch",
    "fetch_hint",
    "load_austen",
    "load_image_dataset",
    "load_imdb",
    "read_idx",
    "read_imdb_folder",
    "read_imdb_json",
    "read_lazyload_db",
    "read_otto_csv",
    "require",
    "status",
    "tokenize_words",
    "write_idx",
]
