"""Speed-suite settings: quick mode (CI smoke) or full, chosen by `python -m bench speed`; its fixtures."""

from __future__ import annotations

import os

import pytest

QUICK = os.environ.get("TUNEBENCH_SPEED_QUICK") == "1"
TRIAL_COUNTS = [100] if QUICK else [100, 500]
SEARCH_TRIALS = 3 if QUICK else 50
ROUNDS = 1 if QUICK else 3


def rounds_for(n_trials: int) -> int:
    """One round at 500 trials: KerasTuner's Bayesian oracle alone takes many minutes there on a CPU."""
    return 1 if n_trials >= 500 else ROUNDS


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
