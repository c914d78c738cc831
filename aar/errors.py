"""Errors that reach a user as one clear line instead of a traceback.

Packages raise subclasses of `AarError` for mistakes a user can fix (bad input, a missing
system package, a wrong path). The CLI prints the message and exits with `exit_code`;
anything else is a bug and keeps its traceback.
"""


class AarError(Exception):
    """A user-facing error: the message says what went wrong and what to do."""

    exit_code: int = 2


class ConfigError(AarError):
    """`aar.toml` or an `AAR_*` variable holds a value aar cannot use."""
