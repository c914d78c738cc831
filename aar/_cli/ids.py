"""Session ids as people type them: the whole id, or any unique prefix of one.

`aar sessions list` prints whole ids, but ids are long (`s-20261207-143337-b8a10a`) and a
person copies what fits, so every command that takes a session id resolves it here, the way
git resolves an abbreviated commit: one match is the session, several are one error naming
them, none is one error saying where it looked.
"""

from __future__ import annotations

from pathlib import Path

from aar.errors import UsageError

_SHOWN_MATCHES = 5
"""How many of an ambiguous prefix's sessions the error names (the rest are counted)."""


def check_id_text(given: str) -> str:
    """A session id (or prefix) must name a directory under the runs directory, nothing
    else: no path separator, no leading dot (`..`), not empty."""
    if not given or "/" in given or "\\" in given or given.startswith("."):
        raise UsageError(f"not a session id: {given!r}")
    return given


def resolve_session_id(runs_dir: Path, given: str) -> str:
    """The whole id of the session `given` names under `runs_dir`: `given` itself when a
    session directory has that name, else the one session whose id starts with it.

    Raises UsageError: not an id, no session starts with it, or several do (they are named,
    so the next try can be exact)."""
    check_id_text(given)
    if (runs_dir / given).is_dir():
        return given
    matches = sorted(p.name for p in runs_dir.glob("s-*") if p.name.startswith(given))
    matches = [m for m in matches if (runs_dir / m).is_dir()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no session {given!r} under {runs_dir} (see: aar sessions list)")
    named = ", ".join(matches[:_SHOWN_MATCHES])
    more = f" and {len(matches) - _SHOWN_MATCHES} more" if len(matches) > _SHOWN_MATCHES else ""
    raise UsageError(
        f"{given!r} is the start of {len(matches)} session ids ({named}{more}); type more of the id"
    )


def resolve_filter(runs_dir: Path, given: str | None) -> str | None:
    """A `--session` filter: a prefix of one session under `runs_dir` becomes its whole id;
    an id no local session has stays as typed (findings imported from another machine name
    sessions this one never ran), and an ambiguous prefix is the same error as above."""
    if given is None:
        return None
    try:
        return resolve_session_id(runs_dir, given)
    except UsageError:
        check_id_text(given)
        if any(p.name.startswith(given) for p in runs_dir.glob("s-*")):
            raise
        return given
