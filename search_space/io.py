"""Read and write search spaces as YAML or JSON through one closed table of type names."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from search_space.params import PARAM_TYPES, Condition, Param, SpaceError
from search_space.space import SearchSpace

_TOP_KEYS = {"name", "description", "parameters"}
_COMMON_KEYS = {"name", "type", "when"}


def _yaml():  # noqa: ANN202 - lazy import of an optional-looking dependency
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads `1e-4` as a float (YAML 1.1 wants `1.0e-4`)."""

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
            re.X,
        ),
        list("-+0123456789."),
    )
    return yaml, Loader


def param_to_dict(param: Param) -> dict[str, Any]:
    """Encode one parameter; default-valued options are left out."""
    out: dict[str, Any] = {"name": param.name, "type": param.kind}
    for f in dataclasses.fields(param):
        if f.name in ("name", "when"):
            continue
        value = getattr(param, f.name)
        if f.default is not dataclasses.MISSING and value == f.default and f.name != "value":
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else value
    if param.when is not None:
        out["when"] = {"parent": param.when.parent, "in": list(param.when.values)}
    return out


def param_from_dict(data: Any, index: int) -> Param:
    """Decode one parameter, naming it (or its position) in every error."""
    label = f"parameter '{data.get('name')}'" if isinstance(data, dict) and "name" in data else f"parameter #{index + 1}"
    if not isinstance(data, dict):
        raise SpaceError(f"{label}: must be a mapping of keys to values, but got {data!r}")
    kind = data.get("type")
    if kind not in PARAM_TYPES:
        raise SpaceError(f"{label}: unknown type {kind!r}; known types: {', '.join(PARAM_TYPES)}")
    cls = PARAM_TYPES[kind]
    allowed = {f.name for f in dataclasses.fields(cls)} - {"when"}
    unknown = set(data) - allowed - _COMMON_KEYS
    if unknown:
        raise SpaceError(
            f"{label}: unknown key {sorted(unknown)[0]!r} for type '{kind}'; "
            f"allowed: {', '.join(sorted(allowed | _COMMON_KEYS))}"
        )
    kwargs = {k: v for k, v in data.items() if k not in ("type", "when")}
    if "when" in data:
        kwargs["when"] = _condition_from_dict(data["when"], label)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        missing = sorted({f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING} - set(kwargs))
        raise SpaceError(f"{label}: missing required key {missing[0]!r}" if missing else f"{label}: {exc}") from None
    except SpaceError as exc:
        if label.startswith("parameter #"):
            raise SpaceError(f"{label}: {exc}") from None
        raise


def _condition_from_dict(data: Any, label: str) -> Condition:
    if not isinstance(data, dict) or set(data) != {"parent", "in"}:
        raise SpaceError(f"{label}: `when` must be a mapping with exactly the keys 'parent' and 'in', but got {data!r}")
    values = data["in"]
    if not isinstance(values, list):
        values = [values]
    try:
        return Condition(parent=data["parent"], values=tuple(values))
    except SpaceError as exc:
        raise SpaceError(f"{label}: {exc}") from None


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    out: dict[str, Any] = {"name": space.name}
    if space.description:
        out["description"] = space.description
    out["parameters"] = [param_to_dict(p) for p in space.params]
    return out


def space_from_dict(data: Any) -> SearchSpace:
    """Build a space, collecting every problem before raising one SpaceError."""
    if not isinstance(data, dict):
        raise SpaceError(f"a space must be a mapping with a 'parameters' list, but got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SpaceError(f"unknown top-level key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    raw = data.get("parameters")
    if not isinstance(raw, list) or not raw:
        raise SpaceError("'parameters' must be a non-empty list of parameters")
    params: list[Param] = []
    problems: list[str] = []
    for i, item in enumerate(raw):
        try:
            params.append(param_from_dict(item, i))
        except SpaceError as exc:
            problems += exc.problems
    if problems:
        raise SpaceError(problems)
    return SearchSpace(tuple(params), name=str(data.get("name", "space")), description=str(data.get("description", "")))


def dumps(space: SearchSpace, fmt: str = "yaml") -> str:
    data = space_to_dict(space)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    yaml, _ = _yaml()
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)


def loads(text: str, fmt: str = "yaml", *, source: str = "<string>") -> SearchSpace:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpaceError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    else:
        yaml, loader = _yaml()
        try:
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1} column {where.column + 1}" if where else ""
            raise SpaceError(f"{source}: not valid YAML: {getattr(exc, 'problem', None) or exc}{at}") from None
    return space_from_dict(data)


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise SpaceError(f"{path}: unknown space file extension '{suffix}'; use .yaml, .yml or .json")


def load_space(path: str | Path) -> SearchSpace:
    """Load a space file; every failure is a SpaceError that names the file."""
    path = Path(path)
    fmt = _format_of(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read space file: {exc.strerror or exc}") from None
    try:
        return loads(text, fmt, source=str(path))
    except SpaceError as exc:
        prefix = f"{path}: "
        raise SpaceError([p if p.startswith(prefix) else prefix + p for p in exc.problems]) from None


def save_space(space: SearchSpace, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(dumps(space, _format_of(path)), encoding="utf-8")
    return path
