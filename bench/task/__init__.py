"""Tasks: what a trial trains and how it is scored (data splits, model builder, objective).

Bring your own model with a `Task` (see the README, "Benchmark your own model"):

    from bench.task import Objective, Splits, Task
"""

from bench.task.base import LoadedTask, Objective, Splits, Task, TaskError, TaskOptions

__all__ = ["LoadedTask", "Objective", "Splits", "Task", "TaskError", "TaskOptions"]
