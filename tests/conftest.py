"""Shared test set-up: quiet TensorFlow, Keras on TensorFlow, the repository on sys.path."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """A throw-away PostgreSQL 15 cluster on a free local port, started for the session and stopped after it (initdb runs
    as the `postgres` user when the tests run as root: it refuses root). Yields a function making a fresh database and
    returning its plain URL, postgresql://postgres@127.0.0.1:PORT/NAME, as users write it."""
    import os
    import shutil
    import socket
    import subprocess

    if not (PG_BIN / "initdb").exists() or importlib_missing("psycopg"):
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL 15 (/usr/lib/postgresql/15/bin) and psycopg (the postgres extra)")
        pytest.skip("no PostgreSQL 15 server binaries or no psycopg here (pip install -e '.[postgres]')")
    import tempfile

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


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None
