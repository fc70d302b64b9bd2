"""A third-party task, installed only through an entry point: the synthetic curves under another name."""

from __future__ import annotations

import dataclasses

from bench.task import Task, TaskOptions


def plugin_task(options: TaskOptions) -> Task:
    from bench.task.synthetic import make_synthetic_task

    return dataclasses.replace(make_synthetic_task(options), name="plugin-curves", version="0.1",
                               description="the synthetic task, installed as a plugin")
