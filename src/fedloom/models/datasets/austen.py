"""Jane Austen's novels from the R package ``janeaustenr`` (Debian ``r-cran-janeaustenr``).

The package keeps its data as an R lazy-load database: ``Rdata.rdx`` (a gzip'd serialized
list of ``name -> (offset, length)``) and ``Rdata.rdb`` (records of a 4-byte big-endian
length followed by a zlib stream of one serialized R object). Each object is parsed with the
``rdata`` package.
"""

from __future__ import annotations

import gzip
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

from fedloom.core.errors import DataError
from fedloom.models.datasets.cache import require

__all__ = ["BOOKS", "load_austen", "read_lazyload_db", "tokenize_words"]

#: The six novels, in publication order.
BOOKS = ("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")


def _parse_r(raw: bytes) -> Any:
    try:
        import rdata
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise DataError("reading the Austen corpus needs the 'rdata' package: pip install rdata") from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns "Unknown file type: assumed RDS" for bare streams
        return rdata.conversion.convert(rdata.parser.parse_data(raw))


def read_lazyload_db(rdb: str | Path, rdx: str | Path) -> dict[str, Any]:
    """Every object of an R lazy-load database, converted to Python (character vectors → arrays)."""
    rdb, rdx = Path(rdb), Path(rdx)
    try:
        index = _parse_r(gzip.decompress(rdx.read_bytes()))
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{rdx}: not a gzip'd R lazy-load index ({err})") from err
    blob = rdb.read_bytes()
    out: dict[str, Any] = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset) : int(offset) + int(length)]
        if len(record) < 4:
            raise DataError(f"{rdb}: record '{name}' lies outside the file")
        (size,) = struct.unpack(">I", record[:4])
        try:
            raw = zlib.decompress(record[4:])
        except zlib.error as err:
            raise DataError(f"{rdb}: record '{name}' is not a zlib stream ({err})") from err
        if len(raw) != size:
            raise DataError(f"{rdb}: record '{name}' has {len(raw)} bytes, header says {size}")
        out[str(name)] = _parse_r(raw)
    return out


def load_austen(books: tuple[str, ...] = BOOKS) -> dict[str, list[str]]:
    """Lines of each requested novel, from the cache (``fedloom datasets fetch austen``)."""
    root = require("austen")
    db = read_lazyload_db(root / "Rdata.rdb", root / "Rdata.rdx")
    unknown = [b for b in books if b not in db]
    if unknown:
        raise DataError(f"unknown Austen book(s) {unknown}; known: {', '.join(BOOKS)}", field="books")
    return {b: [str(line) for line in db[b]] for b in books}


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|[.,;:!?]")


def tokenize_words(text: str) -> list[str]:
    """Lower-case words (with inner apostrophes) and sentence punctuation, in order."""
    return _WORD.findall(text.lower())
