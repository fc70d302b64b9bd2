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



@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL 15 cluster for the session (bench.speed.postgres); yields a function making a fresh database
    and returning its plain URL. Skipped where the server or psycopg is missing, except in CI, which installs both."""
    from bench.speed import postgres

    if not postgres.available():
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL 15 (/usr/lib/postgresql/15/bin) and psycopg (the postgres extra)")
        pytest.skip("no PostgreSQL 15 server binaries or no psycopg here (pip install -e '.[postgres]')")
    with postgres.throwaway_server() as fresh_database:
        yield fresh_database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slow tests first (file order kept within each part): pytest-xdist hands tests out in this order, so the long
    ones start early and the many short ones fill the workers in at the end instead of one long test running alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
