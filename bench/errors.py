"""Errors the CLI turns into one line and exit code 2 (usage) instead of a traceback."""


class UsageError(Exception):
    """Bad flags, files, datasets or specs: the user can fix it; the message says how."""
