"""A throwaway PostgreSQL server for the store tests: ``initdb`` into a temporary folder, ``pg_ctl
start`` on a free loopback port, a fresh database; stopped and removed afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` OS user (made by
Debian's package) through ``runuser``. Where no PostgreSQL binaries exist the tests that need it are
skipped, saying so; ``.ci/run`` installs them.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    matches = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return matches[-1] if matches else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields the SQLAlchemy URL of a fresh database on a new PostgreSQL server."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are absent; .ci/run installs Debian's postgresql")
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="fedloom-pg-"))
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no 'postgres' OS user to run PostgreSQL as")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", "fedloom", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={port} user=fedloom dbname=postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE fedloom_test")
        yield f"postgresql+psycopg://fedloom@127.0.0.1:{port}/fedloom_test"
    except subprocess.CalledProcessError as e:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr!r} {log}") from e
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)
