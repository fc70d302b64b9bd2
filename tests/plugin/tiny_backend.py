"""A third-party backend, installed only through an entry point: tries each space's first values in turn."""

from __future__ import annotations

from typing import ClassVar

from backends.base import Backend, RunContext
from backends.translation import NativeForm
from search_space.params import Param


class FirstValuesBackend(Backend):
    name: ClassVar[str] = "first-values"
    description: ClassVar[str] = "test plugin: always the first value of every parameter"
    algorithms: ClassVar[dict[str, str]] = {"first": "first grid value (or low)"}
    directions: ClassVar[tuple[str, ...]] = ("max", "min")  # it does not search: either direction is the same to it

    def native_form(self, param: Param) -> NativeForm:
        return NativeForm(self.name, f"first({param.name})", 1)

    def run(self, ctx: RunContext) -> None:
        ctx.harness.mark()
        number = 0
        while not ctx.guard.exhausted():
            try:
                with ctx.harness.trial(str(number)) as scope:
                    params: dict = {}
                    for param in ctx.space:
                        if ctx.space.is_active(param, params):
                            grid = param.grid()
                            params[param.name] = grid[0] if grid else param.low
                    scope.fit(scope.build(params))
            except Exception:  # noqa: BLE001 - the harness has recorded it as failed; go on, as the contract asks
                pass
            number += 1
