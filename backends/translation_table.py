"""The translation report: every parameter with its native form and value count in each backend."""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import Backend
from backends.translation import NativeForm, TranslationError
from search_space.params import Param
from search_space.space import SearchSpace


@dataclass(frozen=True)
class TranslationRow:
    param: Param
    forms: dict[str, NativeForm | TranslationError]


def translation_report(space: SearchSpace, backends: list[Backend]) -> list[TranslationRow]:
    rows = []
    for param in space:
        forms: dict[str, NativeForm | TranslationError] = {}
        for backend in backends:
            try:
                forms[backend.name] = backend.native_form(param)
            except TranslationError as exc:
                forms[backend.name] = exc
        rows.append(TranslationRow(param, forms))
    return rows
