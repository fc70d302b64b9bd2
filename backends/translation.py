"""Shared vocabulary of the space translations: the refusal error and the native-form summary."""

from __future__ import annotations

from dataclasses import dataclass

from search_space.params import SpaceError


class TranslationError(SpaceError):
    """A backend cannot express a parameter exactly; names backend, parameter and reason."""

    def __init__(self, backend: str, param: str, reason: str) -> None:
        self.backend, self.param, self.reason = backend, param, reason
        super().__init__(f"{backend}: cannot express parameter '{param}' exactly: {reason}")


@dataclass(frozen=True)
class NativeForm:
    """How one backend spells one parameter, and how many distinct values that allows."""

    backend: str
    text: str
    size: int | None  # None: continuous
    note: str = ""

    @property
    def size_text(self) -> str:
        return "continuous" if self.size is None else str(self.size)
