"""Backend-neutral search spaces: parameter types, validation, files and shipped spaces."""

from pathlib import Path

from search_space.io import dumps, load_space, loads, save_space, space_from_dict, space_to_dict
from search_space.params import (
    BoolParam,
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    SpaceError,
    excerpt,
)
from search_space.space import SearchSpace

SPACES_DIR = Path(__file__).parent / "spaces"


def shipped_spaces() -> dict[str, Path]:
    """The spaces that ship with tunebench, by name."""
    return {p.stem: p for p in sorted(SPACES_DIR.glob("*.yaml"))}


def resolve_space(name_or_path: str) -> SearchSpace:
    """Load a shipped space by name, or any space file by path."""
    shipped = shipped_spaces()
    if name_or_path in shipped:
        return load_space(shipped[name_or_path])
    path = Path(name_or_path)
    try:
        exists = path.exists()
    except OSError:  # e.g. a name too long for the file system
        exists = False
    if not exists:
        raise SpaceError(
            f"space {excerpt(name_or_path, 120)} is neither a file nor a shipped space; shipped: {', '.join(shipped)}"
        )
    return load_space(path)


__all__ = [
    "BoolParam", "CategoricalParam", "Condition", "FixedParam", "FloatParam", "IntParam", "Param",
    "SearchSpace", "SpaceError", "SPACES_DIR", "dumps", "load_space", "loads", "resolve_space",
    "save_space", "shipped_spaces", "space_from_dict", "space_to_dict",
]
