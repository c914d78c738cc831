"""What the reading memory commands (query, list, show, stats) open: never a store they
would create, and a `--session` filter that takes a unique start of a session id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aar._cli.output import warn

if TYPE_CHECKING:
    from aar.memory import FindingsStore


def reading_store(*, connect: bool = True) -> FindingsStore | None:
    """The store for a command that only reads, or None where no local store exists yet: a
    reading command never creates one (`./memory` appeared wherever `aar memory query` ran).
    Says where it looked, and, outside any project, how to point at one."""
    from aar.config import get_settings, project_note
    from aar.memory import open_store

    memory = get_settings().memory
    if memory.url or memory.path.exists():
        return open_store(get_settings(), connect=connect)
    note = project_note()
    warn(
        f"no findings memory at {memory.path} (nothing stored there yet)"
        + (f"; {note}" if note else "")
    )
    return None


def session_filter(session: str | None) -> str | None:
    """`--session` takes a unique start of a local session's id too (`aar._cli.ids`)."""
    if session is None:
        return None
    from aar._cli.ids import resolve_filter
    from aar.config import get_settings

    return resolve_filter(get_settings().runs_dir, session)


def absent_stats() -> dict[str, object]:
    """`aar memory stats --json` where no store exists yet: where it would be, and nothing."""
    from aar.config import get_settings

    return {"location": str(get_settings().memory.path), "mode": "absent", "findings": 0}
