"""How a `Finding` is kept in chromadb, and reading it back without trusting what is there.

The whole finding is stored as JSON in the record's metadata (`finding_json`), so `get` and
`export` return exactly what was added. A store may still hold a record that no longer
validates: one written by an older aar that accepted NaN (stored as null), or edited by another
tool. Reads decode each record on its own and turn a bad one into a `BadRecord`, so one bad
record never makes the whole store unreadable; the caller reports it and skips it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from aar.errors import validation_message, validation_problems
from aar.memory._finding import Finding


class BadRecord(BaseModel):
    """A stored record that cannot be read as a `Finding`, and why."""

    id: str
    problem: str


def record_metadata(finding: Finding) -> dict[str, Any]:
    """The chromadb metadata of one finding: the finding itself, as JSON (its schema version
    included).

    Filters and ranking run on aar's own search index (`_index.py`), never on chromadb's
    `where`, so no other key is needed (records written by older aar have more; they are
    ignored). Each extra key costs: a second one made a 10,000-finding add ~15% slower.
    """
    return metadata_of(finding.model_dump_json())


def metadata_of(finding_json: str) -> dict[str, Any]:
    """`record_metadata` from the finding's JSON when it is already at hand (a bulk write
    serialises each finding once, for chromadb and aar's index alike)."""
    return {"finding_json": finding_json}


def printable(text: str) -> str:
    """`text` with control and line-separator characters escaped, so a message that quotes
    input (a JSON key, a value) stays one line."""
    return (
        text
        if text.isprintable()
        else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    )


def finding_problems(exc: ValidationError) -> list[str]:
    """One line per problem of a finding that did not validate (`aar.errors.validation_problems`,
    the one place): hidden characters of keys and values escaped, and a missing `tasks` named
    `task`, the hand-written form."""
    missing_tasks = "tasks: Field required"
    return [
        printable("task" + p.removeprefix("tasks") if p.startswith(missing_tasks) else p)
        for p in validation_problems(exc, model=Finding)
    ]


def decode_record(record_id: str, meta: Any) -> Finding | BadRecord:
    """The stored finding, or a `BadRecord` saying why it cannot be read."""
    raw = meta.get("finding_json") if isinstance(meta, dict) else None
    if not isinstance(raw, str):
        return BadRecord(id=record_id, problem="no finding_json in its metadata")
    try:
        finding = Finding.model_validate_json(raw)
    except ValidationError as exc:
        return BadRecord(id=record_id, problem=printable(validation_message(exc, model=Finding)))
    if finding.id != record_id:
        return BadRecord(id=record_id, problem=f"its JSON carries another id ({finding.id!r})")
    return finding
