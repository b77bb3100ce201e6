"""Client splits of a dataset for federated runs: ``iid`` and ``dirichlet:ALPHA`` (over labels).

A split assigns every example index ``0..N-1`` to exactly one of ``n_clients`` clients, the same
way for the same seed (numpy's PCG64 from ``seed``), so each client process can compute its own
share from the full dataset without any party telling it.

- ``iid``: a seeded permutation of the indices cut into ``n_clients`` near-equal parts
  (sizes differ by at most one).
- ``dirichlet:ALPHA`` (label skew, Hsu et al. 2019): for every class ``k``, proportions
  ``q_k ~ Dir(ALPHA·1_C)`` over the ``C`` clients; the class's examples, shuffled, are cut at
  ``floor(cumsum(q_k)·n_k)``. Small ``ALPHA`` gives each client few classes, large ``ALPHA``
  approaches ``iid``. Draws are repeated (same generator, so still deterministic) until every
  client holds at least ``min_size`` examples; :class:`DataError` after 1000 tries.
- ``chunks`` (:func:`chunked_iid`): for sequences (text windows), contiguous runs of ``chunk``
  indices are dealt iid, so a client holds whole passages, not interleaved windows.

Every client's indices are returned sorted. numpy only.

For DSL jobs (HomoNN reads uploaded tables), :func:`export_client_tables` writes each client's
share as a CSV with FATE's upload conf next to it; from the shell::

    python -m fedloom.models.datasets.split mnist --clients 3 --split iid --limit 6000 --out DIR
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedloom.core.errors import ConfigError, DataError

__all__ = [
    "SplitSpec",
    "chunked_iid",
    "dirichlet_split",
    "export_client_tables",
    "iid_split",
    "parse_split",
    "split_indices",
]

#: How many Dirichlet draws may leave a client below ``min_size`` before giving up.
MAX_DRAWS = 1000

_DIRICHLET = re.compile(r"^dirichlet:(?P<alpha>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split: ``kind`` is ``iid`` or ``dirichlet`` (with its concentration ``alpha``)."""

    kind: str = "iid"
    alpha: float | None = None

    def __str__(self) -> str:
        return self.kind if self.alpha is None else f"{self.kind}:{self.alpha:g}"


def parse_split(text: str) -> SplitSpec:
    """``"iid"`` or ``"dirichlet:ALPHA"`` (``ALPHA > 0``) as a :class:`SplitSpec`.

    Raises
    ------
    ConfigError
        Anything else (``field='split'``).
    """
    text = text.strip().lower()
    if text == "iid":
        return SplitSpec("iid")
    m = _DIRICHLET.match(text)
    if m is not None and float(m["alpha"]) > 0:
        return SplitSpec("dirichlet", float(m["alpha"]))
    raise ConfigError(
        f"field 'split': must be 'iid' or 'dirichlet:ALPHA' with ALPHA > 0 (dirichlet:0.5). Got {text!r}.",
        field="split",
    )


def _check_clients(n: int, n_clients: int) -> None:
    if n_clients < 1:
        raise ConfigError(f"field 'clients': must be an int >= 1. Got {n_clients}.", field="clients")
    if n < n_clients:
        raise DataError(f"{n} examples cannot be split among {n_clients} clients", field="clients")


def iid_split(n: int, n_clients: int, seed: int = 0) -> list[np.ndarray]:
    """Indices ``0..n-1`` shuffled with ``seed`` and cut into ``n_clients`` near-equal parts."""
    _check_clients(n, n_clients)
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(perm, n_clients)]


def chunked_iid(n: int, n_clients: int, chunk: int, seed: int = 0) -> list[np.ndarray]:
    """Contiguous runs of ``chunk`` indices dealt iid to the clients (whole passages of a text).

    The runs ``[0, chunk), [chunk, 2·chunk), ...`` (the last may be shorter) are split by
    :func:`iid_split`; a client's indices are the union of its runs.
    """
    if chunk < 1:
        raise ConfigError(f"field 'chunk': must be an int >= 1. Got {chunk}.", field="chunk")
    starts = np.arange(0, n, chunk)
    _check_clients(len(starts), n_clients)
    return [
        np.sort(np.concatenate([np.arange(s, min(s + chunk, n)) for s in starts[part]]))
        for part in iid_split(len(starts), n_clients, seed)
    ]


def dirichlet_split(
    labels: np.ndarray, n_clients: int, alpha: float, seed: int = 0, min_size: int = 1
) -> list[np.ndarray]:
    """Label-skewed split: per class, Dirichlet(``alpha``) proportions over the clients.

    Parameters
    ----------
    labels
        ``(N,)`` class labels (any hashable values numpy can ``unique``).
    n_clients
        Number of clients.
    alpha
        Concentration (> 0); small values skew more.
    seed
        Seeds every draw.
    min_size
        Redraw until every client holds at least this many examples.

    Raises
    ------
    DataError
        No draw in :data:`MAX_DRAWS` gave every client ``min_size`` examples.
    """
    labels = np.asarray(labels)
    _check_clients(labels.shape[0], n_clients)
    if not alpha > 0:
        raise ConfigError(f"field 'split': ALPHA must be > 0. Got {alpha}.", field="split")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [np.flatnonzero(labels == k) for k in classes]
    for _ in range(MAX_DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for idx in by_class:
            shuffled = rng.permutation(idx)
            q = rng.dirichlet(np.full(n_clients, alpha))
            # Cut points from the cumulative proportions; the last is n_k, so nothing is lost.
            cuts = np.floor(np.cumsum(q)[:-1] * len(idx)).astype(np.int64)
            for c, piece in enumerate(np.split(shuffled, cuts)):
                parts[c].append(piece)
        out = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(p) for p in out) >= min_size:
            return out
    raise DataError(
        f"dirichlet:{alpha:g} left a client with fewer than {min_size} examples in {MAX_DRAWS} draws; "
        "use a larger ALPHA or fewer clients",
        field="split",
    )


def split_indices(
    n: int, n_clients: int, split: SplitSpec | str, seed: int = 0, labels: np.ndarray | None = None
) -> list[np.ndarray]:
    """Each client's example indices under ``split`` (``iid`` or ``dirichlet:ALPHA``).

    Raises
    ------
    ConfigError
        A Dirichlet split without ``labels`` (it splits over labels: classification only).
    """
    spec = parse_split(split) if isinstance(split, str) else split
    if spec.kind == "iid":
        return iid_split(n, n_clients, seed)
    if labels is None:
        raise ConfigError(
            f"field 'split': {spec} splits over class labels; this dataset has none (use iid)", field="split"
        )
    assert spec.alpha is not None
    return dirichlet_split(labels, n_clients, spec.alpha, seed)


def export_client_tables(
    features: np.ndarray,
    labels: np.ndarray,
    parts: Sequence[np.ndarray],
    folder: str | Path,
    names: Sequence[str],
    namespace: str = "experiment",
    fmt: str = "%.4g",
) -> list[Path]:
    """Write each part as ``{folder}/{name}.csv`` (``id, y, x0..x{d-1}``; ids are the example
    indices) and ``{folder}/{name}.upload.json`` (FATE's upload conf for ``fedloom data upload``).

    Returns
    -------
    list of Path
        The upload confs, in the order of ``parts``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flat = features.reshape(features.shape[0], -1)
    header = ",".join(["id", "y", *(f"x{j}" for j in range(flat.shape[1]))])
    confs = []
    for idx, name in zip(parts, names, strict=True):
        path = folder / f"{name}.csv"
        block = np.column_stack([idx, labels[idx]]).astype(np.int64)
        with path.open("w", encoding="utf-8") as fh:
            fh.write(header + "\n")
            for (i, y), row in zip(block, flat[idx], strict=True):
                fh.write(f"{i},{y}," + ",".join(fmt % v for v in row) + "\n")
        conf = {"file": path.name, "head": 1, "partition": 1, "table_name": name, "namespace": namespace}
        confs.append(folder / f"{name}.upload.json")
        confs[-1].write_text(json.dumps(conf, indent=2))
    return confs


def _recipe_tables(
    path: str, limit: int | None, test_limit: int | None
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """A text recipe's data as token-id tables: ``(stem, x, y, x_test, y_test, n_classes)``.

    The tiny GPT: each context window's ids, the label its next word; BERT: each review's padded
    ids (the attention mask is ``ids != 0``), the label its sentiment."""
    from fedloom.models.recipe import load_recipe, prepare_recipe

    recipe = load_recipe(path)
    recipe.dataset.limit = limit if limit is not None else recipe.dataset.limit
    recipe.dataset.test_limit = test_limit if test_limit is not None else recipe.dataset.test_limit
    task = prepare_recipe(recipe)

    def table(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
        xa, ya = np.asarray(x), np.asarray(y)
        if recipe.model.name == "tiny_gpt":
            return xa, ya[:, -1]  # (N, T) windows -> the next word after each
        return (xa[:, 0] if xa.ndim == 3 else xa), ya  # (N, 2, T) ids and mask -> ids

    x, y = table(task.x, task.y)
    xt, yt = table(task.x_test, task.y_test) if task.x_test is not None else (x[:0], y[:0])
    return recipe.model.name, x, y, xt, yt, task.n_classes


def _main(argv: Sequence[str] | None = None) -> None:
    """``python -m fedloom.models.datasets.split SOURCE --clients N --out DIR``: client tables and a
    test table for the HomoNN DSL jobs. SOURCE is ``mnist`` / ``fashion-mnist`` (pixels / 255) or
    a ``tiny_gpt`` / ``bert`` recipe file (token ids; the GPT's text is dealt iid by passages)."""
    ap = argparse.ArgumentParser(prog="python -m fedloom.models.datasets.split")
    ap.add_argument("source", help="mnist, fashion-mnist, or a tiny_gpt / bert recipe file")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--split", default="iid")
    ap.add_argument("--limit", type=int, default=None, help="first N training examples")
    ap.add_argument("--test-limit", type=int, default=None, help="first N test examples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    fmt = "%.4g"
    if a.source in ("mnist", "fashion-mnist"):
        from fedloom.models.datasets.idx import load_image_dataset

        images, labels = load_image_dataset(a.source, "train", limit=a.limit)
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        test_images, test_labels = load_image_dataset(a.source, "test", limit=a.test_limit)
        xt = test_images.reshape(len(test_images), -1).astype(np.float32) / 255.0
        stem, classes = a.source.replace("-", "_"), 10
        parts = split_indices(len(labels), a.clients, a.split, a.seed, labels=labels)
    else:
        stem, x, labels, xt, test_labels, classes = _recipe_tables(a.source, a.limit, a.test_limit)
        fmt = "%d"
        if stem == "tiny_gpt":
            if parse_split(a.split).kind != "iid":
                raise ConfigError("field 'split': the GPT's text is split iid (by passages)", field="split")
            parts = chunked_iid(len(labels), a.clients, 512, a.seed)
        else:
            parts = split_indices(len(labels), a.clients, a.split, a.seed, labels=labels)
    names = [f"{stem}_homo_client{i}" for i in range(a.clients)]
    confs = export_client_tables(x, labels, parts, a.out, names, fmt=fmt)
    everything = [np.arange(len(test_labels))]
    confs += export_client_tables(xt, test_labels, everything, a.out, [f"{stem}_homo_test"], fmt=fmt)
    for conf in confs:
        print(conf)
    print(f"n_classes: {classes}")


if __name__ == "__main__":
    _main()
