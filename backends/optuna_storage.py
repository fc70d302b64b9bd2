"""Where an Optuna study lives (a journal file in the run folder, or an RDB with heartbeats) and how the trials a killed
process left running are ended in it."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from search_space.space import SearchSpace

JOURNAL_FILE = "journal.log"


def journal_storage(path: Path) -> Any:
    """Optuna's journal-file storage: reloadable, optuna-dashboard reads it, and ~10x cheaper per trial than SQLite here."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


HEARTBEAT_SECONDS = 2  # an RDB study's running trials beat this often ...
GRACE_SECONDS = 8  # ... and Optuna fails one whose last beat is older (a killed worker's), when a worker starts a trial


def rdb_storage(url: str) -> Any:
    """Optuna's RDB storage with heartbeat on: stale trials of killed workers are failed by Optuna itself."""
    from optuna.storages import RDBStorage

    given = url
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is not None:
        url = f"postgresql+psycopg://{rest}"  # a plain URL, read with psycopg 3 whatever SQLAlchemy's default driver is
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from sqlalchemy.exc import SQLAlchemyError

    from bench.errors import one_line
    from bench.run.storage_url import redact, scrub

    try:
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna 5: two lines of noise before any error
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)
    except ImportError:
        raise UsageError(f"--storage {scheme}://...: its database driver is not installed (PostgreSQL: pip install -e '.[postgres]')") from None
    except (SQLAlchemyError, ValueError) as exc:
        reason = scrub(one_line(str(getattr(exc, "orig", None) or exc)), given)[:160]
        raise UsageError(f"--storage {redact(given)}: the database cannot be used ({reason}); check the URL and that the server runs") from None


def study_storage(url: str | None, work_dir: Path) -> Any:
    """Where a run's study lives: the RDB at `url` (--storage), else the journal file in the backend's folder."""
    return rdb_storage(url) if url else journal_storage(work_dir / JOURNAL_FILE)


def study_directions(objective: Any, objectives: Any) -> list[str]:
    """Optuna's directions: one per search objective (--objectives), else the task's one."""
    return [o.optuna_direction for o in objectives] if objectives else [objective.optuna_direction]


def settle_running_trials(study_name: str, storage: Any, harness: Any, space: SearchSpace, objective_names: list[str] | None = None) -> int:
    """Trials a killed session left RUNNING (journal storage has no heartbeat to end them): each gets the state tunebench
    recorded for it (a kill can fall between our record and Optuna's tell), or fails, and is then recorded as failed.
    `objective_names`: a multi-objective study's objectives, whose recorded values are told in that order. Told through
    Optuna's public `study.tell(number, ...)`, which ends a running trial whoever created it, on a study loaded with a plain
    sampler (a GridSampler's after_trial would call `study.stop()`, which raises outside `optimize`)."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler())
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        recorded = harness.settle_stale(str(trial.number), {k: v for k, v in trial.params.items() if k in space})
        values = None if recorded is None else (
            [(recorded.get("objectives") or {}).get(name) for name in objective_names] if objective_names else [recorded.get("objective")])
        finite = bool(values) and all(v is not None and math.isfinite(float(v)) for v in values)  # Optuna refuses NaN in a tell
        if recorded is not None and recorded["state"] == "complete" and finite:
            study.tell(trial.number, values, state=TrialState.COMPLETE, skip_if_finished=True)
        elif recorded is not None and recorded["state"] == "pruned":
            study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
        else:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    return len(stale)
