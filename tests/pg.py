"""A throwaway PostgreSQL server on 127.0.0.1 for tests (used by tests/test_postgres.py).

    with postgres_server() as url:   # postgresql://quantsweep@127.0.0.1:<port>/quantsweep
        ...

The binaries come from ``pg_config --bindir``, ``/usr/lib/postgresql/<version>/bin`` (Debian's
layout, where ``.ci/run`` installs the ``postgresql`` package when it is missing) or PATH.
PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
system user (created by the Debian package), else to ``nobody``. The cluster lives in a fresh
directory under the system temp dir (pytest's own tmp dirs are private to root), listens on a
free loopback port only, trusts local connections, skips fsync, and is stopped and deleted on
exit. ``pytest.skip`` names what is missing when no server can be started.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BINARIES = ("initdb", "postgres")
USER = "quantsweep"  # the database role (trust authentication on loopback)
DATABASE = "quantsweep"
START_TIMEOUT_S = 60.0


def find_bindir() -> Path | None:
    """The directory holding initdb and postgres, or None when PostgreSQL is not installed."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        res = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip():
            candidates.append(Path(res.stdout.strip()))
    # Debian/Ubuntu: one directory per major version; the newest first
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    candidates += [Path(v) for v in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / b).is_file() and os.access(directory / b, os.X_OK) for b in BINARIES):
            return directory
    return None


def _version(path: str) -> tuple[int, ...]:
    name = Path(path).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or a non-root system user when we are root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the URL of an empty database on it; stop and delete it after."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed (no initdb/postgres via pg_config, /usr/lib/postgresql"
            " or PATH); .ci/run installs the Debian package, or: apt-get install postgresql"
        )
    user = server_user()
    if user is None:
        pytest.skip("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
    root = Path(tempfile.mkdtemp(prefix="quantsweep-pg-"))
    as_user = {"user": user.pw_uid, "group": user.pw_gid} if os.geteuid() == 0 else {}
    try:
        os.chown(root, user.pw_uid, user.pw_gid)
        data = root / "data"
        res = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
            **as_user,
        )
        if res.returncode != 0:
            pytest.fail(f"initdb failed: {res.stderr.strip()[-2000:]}")
        port = free_port()
        log = root / "server.log"
        with open(log, "w") as log_fh:
            os.chown(log, user.pw_uid, user.pw_gid)
            server = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",  # TCP on loopback only
                    "-c",
                    "fsync=off",  # a throwaway cluster: speed over durability
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=root,
                **as_user,
            )
        try:
            _wait_ready(server, port, log)
            _create_database(port)
            yield f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            server.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _connect(port: int, database: str = "postgres") -> Any:
    import psycopg2

    return psycopg2.connect(
        host="127.0.0.1", port=port, user=USER, dbname=database, connect_timeout=5
    )


def _wait_ready(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.poll() is not None:
            pytest.fail(f"postgres exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            conn = _connect(port)
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                pytest.fail(f"postgres did not accept connections: {log.read_text()[-2000:]}")
            time.sleep(0.2)
            continue
        conn.close()
        return


def _create_database(port: int) -> None:
    conn = _connect(port)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        conn.close()
