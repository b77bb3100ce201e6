"""IDX files (MNIST, Fashion-MNIST): reader, writer and the two image datasets.

The IDX format is a 4-byte magic ``0x00 0x00 <dtype> <ndim>``, ``ndim`` big-endian uint32
dimension sizes, then the values in C order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from fedloom.core.errors import DataError
from fedloom.models.datasets.cache import require

__all__ = ["load_image_dataset", "read_idx", "write_idx"]

# IDX dtype code -> numpy big-endian dtype
_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES: dict[str, int] = {np.dtype(v).newbyteorder("=").str: k for k, v in _DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: corrupt gzip stream ({err})") from err
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into an array of its native dtype.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    numpy.ndarray
        Shape as recorded in the header (e.g. ``(60000, 28, 28)`` uint8 for images).

    Raises
    ------
    DataError
        Bad magic, unknown dtype code, or a payload whose size does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic {data[:4].hex()!r}, expected 0000<dtype><ndim>)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip if ``compress`` or the name ends in ``.gz``)."""
    path = Path(path)
    arr = np.ascontiguousarray(array)
    key = arr.dtype.newbyteorder("=").str
    if key not in _CODES:
        raise DataError(f"IDX cannot store dtype {arr.dtype}")
    code = _CODES[key]
    payload = (
        bytes([0, 0, code, arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.astype(_DTYPES[code]).tobytes()
    )
    if compress or (compress is None and path.suffix == ".gz"):
        payload = gzip.compress(payload, compresslevel=6)
    path.write_bytes(payload)
    return path


def load_image_dataset(
    name: str = "mnist", split: str = "train", *, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of MNIST or Fashion-MNIST from the cache.

    Parameters
    ----------
    name
        ``"mnist"`` or ``"fashion-mnist"``.
    split
        ``"train"`` (60 000) or ``"test"`` (10 000).
    limit
        Keep only the first ``limit`` examples.

    Returns
    -------
    images : numpy.ndarray
        ``(N, 28, 28)`` uint8.
    labels : numpy.ndarray
        ``(N,)`` int64 in ``[0, 9]``.
    """
    if name not in ("mnist", "fashion-mnist"):
        raise DataError(f"'{name}' is not an IDX image dataset (mnist, fashion-mnist)", field="dataset")
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test'. Got {split!r}", field="split")
    root = require(name)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if name == "fashion-mnist" else ""
    images = read_idx(root / f"{prefix}-images-idx3-ubyte{suffix}")
    labels = read_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}").astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise DataError(f"{name}/{split}: images {images.shape} and labels {labels.shape} do not match")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels
