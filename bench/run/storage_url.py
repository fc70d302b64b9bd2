"""`--storage URL`: checked as SQLAlchemy reads it, and never written with its password.

A password in the URL (`postgresql://user:PASSWORD@host/db`, any characters SQLAlchemy accepts there, or `?password=` in
its query) is kept in memory only. Files, records, logs and messages get the URL redacted; worker processes get the
full URL through their environment (`STORAGE_URL_VARIABLE`), and a `--resume` or `bench join` asks for it again.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote, quote_plus

from bench.errors import UsageError, excerpt

STORAGE_URL_VARIABLE = "TUNEBENCH_STORAGE_URL"  # the full URL, for worker processes and `bench join` (never on disk)
HIDDEN = "***"
SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "sslpassword")
KNOWN_DIALECTS = ("postgresql", "postgres", "mysql", "sqlite", "oracle", "mssql")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


_SECRET_IN_VALUE = re.compile(r"(?i)\b(pwd|password)\s*=")  # e.g. mssql's ?odbc_connect=...;PWD=...


def _parse(url: str) -> Any:
    """SQLAlchemy's own reading of the URL (its port already an int; an empty password as none), or None where it
    cannot read it."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(str(url))
        parsed.port  # noqa: B018 - SQLAlchemy converts it on parsing; kept for older releases that defer it
    except Exception:  # noqa: BLE001 - ArgumentError, ValueError (a port that is no number), ...
        return None
    return parsed._replace(password=None) if parsed.password == "" else parsed  # URL is a NamedTuple; set() keeps ""


def _secret_key(key: str, value: Any) -> bool:
    """Whether a query parameter holds a secret: by its name, or a password inside its value (an ODBC string)."""
    values = [value] if isinstance(value, str) else list(value)
    return key.lower() in SECRET_QUERY_KEYS or any(_SECRET_IN_VALUE.search(v) for v in values)


def redact(url: str) -> str:
    """The URL with every password replaced by ***; a URL SQLAlchemy cannot read shows its scheme only."""
    parsed = _parse(url)
    if parsed is None:
        match = _SCHEME.match(str(url))
        return f"{match.group(0) if match else ''}{HIDDEN} (unreadable URL)"
    query = {k: (HIDDEN if _secret_key(k, v) else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


def secrets_in(url: str) -> list[str]:
    """Every secret the URL holds, in the spellings a message could quote it (as typed, URL-quoted, decoded)."""
    parsed = _parse(url)
    found: list[str] = []
    if parsed is not None:
        if parsed.password:
            found.append(str(parsed.password))
        for key, value in parsed.query.items():
            if _secret_key(key, value):
                found += [value] if isinstance(value, str) else list(value)
    else:  # unreadable: everything between the scheme and the last @ may hold one
        rest = _SCHEME.sub("", str(url))
        if "@" in rest:
            userinfo = rest.rsplit("@", 1)[0]
            found += [userinfo, userinfo.partition(":")[2]]
    spellings = {s for secret in found if secret for s in (secret, quote(secret, safe=""), quote_plus(secret))}
    return sorted(spellings, key=len, reverse=True)


def scrub(text: str, url: str | None) -> str:
    """`text` with every secret of `url` replaced by ***: for messages that quote a driver's or a library's words."""
    if not url:
        return text
    for secret in secrets_in(url):
        text = text.replace(secret, HIDDEN)
    return text


def hides_a_secret(stored: str) -> bool:
    """Whether a URL as run.json keeps it had a password taken out (in its user part or its query)."""
    parsed = _parse(stored)
    if parsed is None:
        return HIDDEN in stored
    return parsed.password == HIDDEN or any(v == HIDDEN or (not isinstance(v, str) and HIDDEN in v) for v in parsed.query.values())


def check_storage_url(url: str) -> None:
    """A database URL every worker process can share, as SQLAlchemy reads it; refused in one line otherwise."""
    shown = excerpt(redact(str(url)))
    parsed = _parse(url)
    if parsed is None or parsed.get_backend_name() not in KNOWN_DIALECTS:
        raise UsageError(f"--storage {shown}: give a database URL SQLAlchemy can read, e.g. postgresql://user@host:5432/db or "
                         "sqlite:////abs/path/study.db (a password with @ : / in it must be %-encoded)")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or "mode=memory" in database or parsed.query.get("mode") == "memory":
            raise UsageError(f"--storage {shown}: an in-memory SQLite database lives in one process, so worker processes "
                             "cannot share it; give a file (sqlite:////abs/path/study.db) or a server's URL")


def redact_argv(argv: list[str]) -> list[str]:
    """A command line as run.json keeps it: every URL argument with its password hidden (`--storage URL`, `--storage=URL`)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        if "://" in value:
            value = redact(value)
        out.append(f"{key}{eq}{value}" if eq else value)
    return out


def stored_storage(url: str | None) -> str | None:
    """The URL as the run's config keeps it (its password hidden)."""
    return None if url is None else redact(url)


def full_storage_url(stored: str | None, given: str | None = None) -> str | None:
    """The URL to connect with, for a run whose config keeps `stored` (redacted): `given` (a --storage typed again) or the
    worker environment's, when it is the same URL; `stored` itself when it hid nothing."""
    if stored is None:
        if given:
            raise UsageError(f"--storage {excerpt(redact(given))}: the run keeps its study in its own journal file, not a database "
                             "(field 'storage'); drop --storage")
        return None
    for candidate in (given, os.environ.get(STORAGE_URL_VARIABLE)):
        if candidate and redact(candidate) == stored:
            return candidate
    if given:
        raise UsageError(f"--storage {excerpt(redact(given))} differs from the run's {excerpt(stored)} (field 'storage'); "
                         "a resumed run keeps its storage: give the same URL")
    if not hides_a_secret(stored):
        return stored
    raise UsageError(f"the run's storage {excerpt(stored)} needs its password, which tunebench never writes down: give the URL "
                     f"again with --storage URL (or set {STORAGE_URL_VARIABLE}, or PGPASSWORD and a URL without one)")
