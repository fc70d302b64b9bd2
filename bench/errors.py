"""Errors the CLI turns into one line and exit code 2 (usage) instead of a traceback."""

from search_space.params import excerpt

__all__ = ["UsageError", "excerpt", "one_line"]

MAX_ERROR_CHARS = 400


class UsageError(Exception):
    """Bad flags, files, datasets or specs: the user can fix it; the message says how."""


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The message on one line of at most `limit` characters (the middle elided), whatever it quotes."""
    text = " ".join(str(message).split())
    if len(text) > limit:
        keep = (limit - 5) // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text
