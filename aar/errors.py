"""Errors that reach a user as one clear line instead of a traceback.

Packages raise subclasses of `AarError` for mistakes a user can fix (bad input, a missing
system package, a wrong path). The CLI prints the message and exits with `exit_code`;
anything else is a bug and keeps its traceback.

`validation_message` is the one place a pydantic `ValidationError` (or an error that lists its
problems the same way, such as FastAPI's `RequestValidationError`) becomes such a line.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel


class AarError(Exception):
    """A user-facing error: the message says what went wrong and what to do."""

    exit_code: int = 2


class ConfigError(AarError):
    """`aar.toml` or an `AAR_*` variable holds a value aar cannot use."""


class UsageError(AarError):
    """A command-line argument aar cannot use (checked before any heavy work starts)."""


class PathError(AarError):
    """A path that cannot be used as asked: missing, of the wrong kind, or not writable."""


_MAX_INPUT_CHARS = 40


class ValidationProblems(Protocol):
    """What `validation_problems` reads: pydantic's `ValidationError`, FastAPI's
    `RequestValidationError` (pydantic's error dicts: `loc`, `msg`, `type`, `input`)."""

    def errors(self) -> Sequence[Any]: ...


def error_location(loc: Sequence[int | str]) -> str:
    """`('bench', 'seeds', 0)` -> `'bench.seeds[0]'`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def closest_key(key: str, valid: Sequence[str]) -> str | None:
    """The valid key a typo most likely meant (difflib), if any is close enough."""
    matches = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def validation_problems(
    exc: ValidationProblems, *, model: type[BaseModel] | None = None, skip_loc: int = 0
) -> list[str]:
    """One `'where: what'` line per error of `exc`.

    With `model` (the model that was validated), an unknown key names the closest valid one.
    Scalar inputs are quoted (shortened), so the line shows what was wrong, not only where.
    `skip_loc` leaves out the first parts of each location (a web request's `body` or `query`
    says where the field came from, which a person filling a form need not read).
    """
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])[skip_loc:]
        where = error_location(loc)
        if err["type"] == "extra_forbidden":
            what = "unknown key"
            hint = _hint_for_unknown(model, loc)
            if hint:
                what += f"; did you mean {hint!r}?"
        else:
            what = err["msg"].removeprefix("Value error, ") + _quoted_input(err)
        problems.append(" ".join(f"{where}: {what}".split()) if where else what)
    return problems


def validation_message(
    exc: ValidationProblems,
    *,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    skip_loc: int = 0,
) -> str:
    """The first problem of `exc` as one line (`prefix` first), saying how many others exist."""
    problems = validation_problems(exc, model=model, skip_loc=skip_loc)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{prefix}{problems[0]}{more}"


def _quoted_input(err: Any) -> str:
    value = err.get("input")
    if err["type"] == "missing" or isinstance(value, dict | list | tuple) or value is None:
        return ""
    text = repr(value)
    if len(text) > _MAX_INPUT_CHARS:
        text = text[: _MAX_INPUT_CHARS - 3] + "..."
    return f" (got {text})"


def _hint_for_unknown(model: type[BaseModel] | None, loc: Sequence[int | str]) -> str | None:
    """Walk `model`'s fields along `loc[:-1]`; the closest field name to `loc[-1]`."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        current = None if field is None else field.annotation
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    return closest_key(str(loc[-1]), list(current.model_fields))
