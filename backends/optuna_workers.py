"""Optuna's side of a multi-worker run: the study created once before the workers load it, and the trials killed
workers left running settled in its storage (an RDB's heartbeat fails them itself; the journal file has none)."""

from __future__ import annotations

import time
from typing import Any

from backends.base import WorkerGroup
from bench.errors import UsageError


class OptunaWorkers(WorkerGroup):
    def start(self) -> None:
        import optuna

        from backends.optuna_storage import study_directions, study_storage

        setup = self.setup
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        setup.work_dir.mkdir(parents=True, exist_ok=True)
        directions = study_directions(setup.task.objective, setup.config.search_objectives)
        try:
            optuna.create_study(study_name=setup.run["run_id"], storage=study_storage(setup.config.storage, setup.work_dir),
                                directions=directions, load_if_exists=setup.resumed)
        except optuna.exceptions.DuplicatedStudyError:
            raise UsageError(f"the storage already holds a study named {setup.run['run_id']}; choose another --run-id") from None

    def settle_killed(self, harness: Any, killed: list[dict[str, Any]]) -> None:
        import optuna

        from backends.optuna_storage import GRACE_SECONDS, settle_running_trials, study_storage

        setup = self.setup
        storage = study_storage(setup.config.storage, setup.work_dir)
        objectives = setup.config.search_objectives
        if setup.config.storage:  # RDB: Optuna's heartbeat fails a stale trial itself, once its grace period has passed
            latest = max((k["killed_at"] for k in killed), default=0.0)
            time.sleep(max(0.0, latest + GRACE_SECONDS + 1 - time.time()))
            optuna.storages.fail_stale_trials(optuna.load_study(study_name=setup.run["run_id"], storage=storage))
            return
        settle_running_trials(setup.run["run_id"], storage, harness, setup.space, [o.name for o in objectives] if objectives else None)
