"""KerasTuner's side of a multi-worker run: its chief (the oracle served over gRPC on a free port; `chief` in run.json)
started before the workers, each worker's `KERASTUNER_*` environment, the chief's exit read as the search's end, and the
trials killed workers left running ended in the chief's saved oracle."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any

from backends.base import ServerFailed, WorkerGroup
from bench.errors import UsageError

CHIEF_START_SECONDS = 180
CHIEF_LISTEN_VARIABLE = "TUNEBENCH_CHIEF_LISTEN"  # the address KerasTuner's chief listens on (default 127.0.0.1)
CHIEF = "chief"  # its process's name (log workers/chief.log) and run.json's key for its host:port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(run: dict[str, Any], name: str) -> dict[str, str]:
    """A worker's KerasTuner environment: its tuner id and the chief's address (run.json's `chief`)."""
    if not run.get(CHIEF):
        return {}
    host, port = run[CHIEF].rsplit(":", 1)
    return {"KERASTUNER_TUNER_ID": f"tuner-{name}", "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": port}


class KerasTunerWorkers(WorkerGroup):
    chief: subprocess.Popen | None = None

    def start(self) -> None:
        """The chief: its oracle serves the workers on a free local port (its address goes into run.json)."""
        port = free_port()
        listen = os.environ.get(CHIEF_LISTEN_VARIABLE, "127.0.0.1")  # 0.0.0.0: workers on other machines may join
        run = self.services.run
        run[CHIEF] = f"{'127.0.0.1' if listen == '127.0.0.1' else socket.getfqdn()}:{port}"
        self.services.write_run()
        self.chief = self.services.start_server(CHIEF, {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": listen,
                                                        "KERASTUNER_ORACLE_PORT": str(port)})
        deadline = time.monotonic() + CHIEF_START_SECONDS
        while time.monotonic() < deadline:
            if self.chief.poll() is not None:
                raise UsageError(f"KerasTuner's chief ended before serving (exit {self.chief.returncode}): {self.services.last_line(CHIEF)}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1" if listen in ("127.0.0.1", "0.0.0.0") else listen, port)) == 0:
                    return
            time.sleep(0.2)
        raise UsageError(f"KerasTuner's chief did not serve within {CHIEF_START_SECONDS} s; see {self.services.log_path(CHIEF)}")

    def search_ended(self) -> bool:
        """KerasTuner's chief exits by itself only once its oracle has stopped and no trial runs: the search has ended, and
        a worker would wait for it for ever (gRPC's wait_for_ready). A chief that died otherwise fails the run."""
        if self.chief is None or self.chief.poll() is None:
            return False
        if self.chief.returncode == 0:
            return True
        raise ServerFailed(f"KerasTuner's chief ended (exit {self.chief.returncode}): {self.services.last_line(CHIEF)}")

    def settle_killed(self, harness: Any, killed: list[dict[str, Any]]) -> None:
        """KerasTuner has no heartbeat: its reloaded oracle queues a killed worker's trial for a retry; ended as failed."""
        import keras_tuner as kt

        from backends.keras_tuner_oracle import search_limits, settle_killed_trials, tuner_class
        from backends.keras_tuner_space import declare

        setup = self.setup
        space, objectives = setup.space, setup.config.search_objectives
        metric = setup.task.objective.metric

        class Declared(kt.HyperModel):
            def build(self, hp: Any) -> Any:
                declare(hp, space)
                return None

        objective = ([kt.Objective(o.name, o.direction) for o in objectives] if objectives
                     else kt.Objective(metric, direction=setup.task.objective.direction))
        os.environ["KERASTUNER_TUNER_ID"] = "chief"  # the chief's saved state (tuner_chief.json and its oracle), reloaded here
        try:
            algorithm = setup.config.algorithm
            tuner = tuner_class(algorithm)(Declared(), objective=objective, directory=str(setup.work_dir), project_name="search",
                                           overwrite=False, **search_limits(algorithm, setup.config.budget.max_epochs))
            settle_killed_trials(tuner, harness, space, metric, [o.name for o in objectives] if objectives else None)
        finally:
            os.environ.pop("KERASTUNER_TUNER_ID", None)

    def close(self) -> None:
        if self.chief is not None and self.chief.poll() is None:
            self.chief.terminate()
            try:
                self.chief.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.chief.kill()
