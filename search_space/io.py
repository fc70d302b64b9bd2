"""Read and write search spaces as YAML or JSON through one closed table of type names."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from search_space.params import PARAM_TYPES, Condition, Param, SpaceError, excerpt
from search_space.space import SearchSpace

_TOP_KEYS = {"name", "description", "parameters"}
MAX_FILE_BYTES = 1_000_000  # a space file is a few hundred bytes; anything this big is a mistake
MAX_VALUES = 100_000  # values a YAML file may expand to through its aliases (&anchor / *alias)
_COMMON_KEYS = {"name", "type", "when"}


def _yaml():  # noqa: ANN202 - lazy import of an optional-looking dependency
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc] - libyaml's parser where built in
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
    label = f"parameter {excerpt(data.get('name'))}" if isinstance(data, dict) and "name" in data else f"parameter #{index + 1}"
    if not isinstance(data, dict):
        raise SpaceError(f"{label}: must be a mapping of keys to values, but got {excerpt(data)}")
    kind = data.get("type")
    if kind not in PARAM_TYPES:
        raise SpaceError(f"{label}: unknown type {excerpt(kind)}; known types: {', '.join(PARAM_TYPES)}")
    cls = PARAM_TYPES[kind]
    allowed = {f.name for f in dataclasses.fields(cls)} - {"when"}
    unknown = set(data) - allowed - _COMMON_KEYS
    if unknown:
        raise SpaceError(
            f"{label}: unknown key {excerpt(sorted(map(str, unknown))[0])} for type '{kind}'; "
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
        raise SpaceError(f"{label}: `when` must be a mapping with exactly the keys 'parent' and 'in', but got {excerpt(data)}")
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
        raise SpaceError(f"unknown top-level key {excerpt(sorted(map(str, unknown))[0])}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    raw = data.get("parameters")
    if not isinstance(raw, list) or not raw:
        raise SpaceError("'parameters' must be a non-empty list of parameters")
    params: list[Param] = []
    problems: list[str] = []
    unreadable: set[str] = set()
    for i, item in enumerate(raw):
        try:
            params.append(param_from_dict(item, i))
        except SpaceError as exc:
            problems += exc.problems
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                unreadable.add(item["name"])
    name, description = excerpt(data.get("name", "space"), 100).strip("'"), str(data.get("description", ""))
    try:
        space = SearchSpace(tuple(params), name=name, description=description)
    except SpaceError as exc:  # space-level problems (conditions, duplicates) among the parameters that could be read
        problems += [p for p in exc.problems if not any(excerpt(bad) in p for bad in unreadable)]
        space = None
    if problems or space is None:
        raise SpaceError(problems)
    return space


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
        except (RecursionError, ValueError) as exc:  # nesting beyond Python's limit, an integer beyond its digit limit
            raise SpaceError(f"{source}: cannot be read: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
    else:
        data = _load_yaml(text, source)
    return space_from_dict(data)


def _load_yaml(text: str, source: str) -> Any:
    """Parse YAML safely, refusing documents whose aliases would expand beyond MAX_VALUES values."""
    yaml, loader_class = _yaml()
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, {})
        if expanded > MAX_VALUES:
            raise SpaceError(f"{source}: its YAML aliases (*name) expand to more than {MAX_VALUES:,} values; "
                             "write the values out instead of nesting aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1} column {where.column + 1}" if where else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise SpaceError(f"{source}: not valid YAML: {problem}{at}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer literal beyond Python's digit limit
        if isinstance(exc, SpaceError):
            raise
        raise SpaceError(f"{source}: a value cannot be read: {str(exc).splitlines()[0][:120]}") from None
    finally:
        loader.dispose()


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many nodes the document becomes once every alias is copied out (shared nodes counted each time)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a node that contains itself counts once; the constructor handles recursion
    if isinstance(node.value, list):
        total = 1
        for item in node.value:
            if isinstance(item, tuple):  # mapping: (key node, value node)
                total += _expanded_size(item[0], memo) + _expanded_size(item[1], memo)
            else:
                total += _expanded_size(item, memo)
            if total > MAX_VALUES:
                break
        memo[key] = total
    return memo[key]


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
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpaceError(f"{path}: {size:,} bytes is too big for a space file (at most {MAX_FILE_BYTES:,}); is this the right file?")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpaceError(f"{path}: not UTF-8 text; a space file is YAML or JSON") from None
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
