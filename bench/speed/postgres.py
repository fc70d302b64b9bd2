"""A throw-away PostgreSQL 15 server on a free local port, for the tests and the speed suite's storage measures (started by
them, stopped after them)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    """PostgreSQL 15's server binaries and the psycopg driver are both here."""
    return (PG_BIN / "initdb").exists() and importlib.util.find_spec("psycopg") is not None


@contextlib.contextmanager
def throwaway_server() -> Iterator[Callable[[], str]]:
    """Start a cluster (initdb runs as the `postgres` user when run as root: it refuses root); yields a function making a
    fresh database and returning its plain URL, postgresql://postgres@127.0.0.1:PORT/NAME, as users write it."""
    data = Path(tempfile.mkdtemp(prefix="tunebench-pg-"))  # under /tmp itself: pytest's own folders are private to root
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cluster = data / "cluster"
    subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(cluster), "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(cluster), "-l", str(data / "server.log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"], check=True, capture_output=True)
    counter = iter(range(10**6))

    def fresh_database() -> str:
        import psycopg

        name = f"tunebench_{next(counter)}"
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"

    try:
        yield fresh_database
    finally:
        subprocess.run([*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(cluster), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
