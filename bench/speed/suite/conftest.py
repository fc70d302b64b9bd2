"""Speed-suite settings: quick mode (CI smoke) or full, chosen by `python -m bench speed`; its fixtures."""

from __future__ import annotations

import os

import pytest

QUICK = os.environ.get("TUNEBENCH_SPEED_QUICK") == "1"
ROUNDS = 1 if QUICK else 3


@pytest.fixture(scope="session")
def postgres_server():
    """The storage measures' throw-away PostgreSQL server (skipped where PostgreSQL 15 or psycopg is missing)."""
    from bench.speed import postgres

    if not postgres.available():
        pytest.skip("no PostgreSQL 15 server binaries or no psycopg here (pip install 'tunebench[postgres]')")
    with postgres.throwaway_server() as fresh_database:
        yield fresh_database


@pytest.fixture(scope="session")
def digits():
    from bench.task.datasets import load_dataset

    return load_dataset("digits")
