"""`bench compare` and `bench report` (issue 4)."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def add_parsers(sub: Any, add_task_and_budget_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    """Registered later; nothing yet."""
