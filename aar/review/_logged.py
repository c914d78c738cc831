"""What a proposal hashed to when it was made: the gate's reference, taken from the logs.

A proposal file carries its own `sha256`, but a file swapped for another with a recomputed
hash carries a matching one too, so the file cannot vouch for itself. The reference is what was
logged when the proposal was made:

- the session's log (`events.jsonl`): the session appends `proposal {id, sha256}` when the
  agent proposes a follow-up (every aar version has logged it so);
- the audit log, for a reviewer's edited version (`approve with edits` on the web page): the
  original's recorded rejection names the new proposal and its sha256 (`replaced by ID
  (sha256 HEX; ...)`), under the review key. Edits made before the hash was written there are
  known by the first recorded approval of the new proposal, which the same step made.

A proposal whose file hashes to anything else, or that no log records, is `tampered`: it is
refused by every command and never runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aar.errors import AarError
from aar.jsonl import JsonlLog
from aar.review._audit import AuditRecord
from aar.review._models import SHA256, Proposal

SESSION_LOG = "events.jsonl"
_SESSION_LOG_KIND = "session-events"
_EDIT = re.compile(r"^replaced by (p-[0-9a-f]{12}) (?:\(sha256 ([0-9a-f]{64})[;)])?")
_EDIT_APPROVAL = re.compile(r"^approved with edits of (p-[0-9a-f]{12})")


class _SessionEvent(BaseModel):
    """One line of a session's `events.jsonl`, as far as the gate reads it (the session's own
    model lives above this package)."""

    model_config = ConfigDict(extra="ignore")

    seq: int
    kind: str
    round: int = 0
    data: dict[str, Any] = Field(default_factory=dict)


class _ProposalLogged(BaseModel):
    """The data of a session's `proposal` event, as far as the gate reads it (the session's
    `Proposed` event; a line without a usable id and hash vouches for nothing)."""

    id: str
    sha256: str = Field(pattern=SHA256)


class LoggedProposal(BaseModel):
    """A proposal as a log recorded it when it was made."""

    model_config = ConfigDict(frozen=True)

    id: str
    sha256: str = Field(pattern=SHA256)
    round: int | None = Field(description="The round the session logged it in (None: an edit).")
    source: Literal["session log", "audit log"]


class ProposalLog(BaseModel):
    """Every proposal one session's logs recorded, or why its log cannot be read."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    proposals: dict[str, LoggedProposal] = Field(default_factory=dict)
    problem: str | None = Field(default=None, description="Why the session's log is unusable.")

    def problem_of(self, proposal: Proposal) -> str | None:
        """Why `proposal` is tampered, or None when its file is what was logged."""
        if self.problem is not None:
            return self.problem
        logged = self.proposals.get(proposal.id)
        if logged is None:
            return (
                f"no log records proposal {proposal.id}: session {self.session_id}'s "
                "events.jsonl never proposed it (a file added or replaced by hand?)"
            )
        if logged.sha256 != proposal.sha256:
            return (
                f"the {logged.source} recorded sha256 {logged.sha256[:16]}… when it was "
                f"proposed, but the file now hashes to {proposal.sha256[:16]}… (swapped or "
                "edited after it was proposed)"
            )
        return None

    def of_round(self, number: int) -> list[str]:
        """The ids the session's log proposed in round `number`."""
        return [p.id for p in self.proposals.values() if p.round == number]


def proposal_log(
    session_dir: Path, records: Sequence[AuditRecord], *, cached: bool = False
) -> ProposalLog:
    """The proposals of the session in `session_dir`, from its log and the verified audit
    `records` (pass the records of an open transaction to read both under its lock).

    `cached` reuses the session log's reading while the file's (inode, size, mtime) stay the
    same: for pages that list many sessions. Deciding and running never pass it."""
    session_dir = Path(session_dir)
    session_id = session_dir.name
    if cached:
        found, problem = _read_session_log_cached(session_dir / SESSION_LOG)
    else:
        found, problem = _read_session_log(session_dir / SESSION_LOG)
    if problem is not None:
        return ProposalLog(
            session_id=session_id, problem=f"session {session_id}'s log cannot be read: {problem}"
        )
    proposals = {p.id: p for p in found}
    for pid, sha in _edits(session_id, records).items():
        proposals.setdefault(
            pid, LoggedProposal(id=pid, sha256=sha, round=None, source="audit log")
        )
    return ProposalLog(session_id=session_id, proposals=proposals)


_Reading = tuple[tuple[LoggedProposal, ...], str | None]
_CACHE: dict[tuple[str, int, int, int], _Reading] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4096


def _read_session_log_cached(path: Path) -> _Reading:
    try:
        st = path.stat()
    except OSError:
        return _read_session_log(path)
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    reading = _read_session_log(path)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = reading
    return reading


def _read_session_log(path: Path) -> _Reading:
    """The proposals a session's log records (first record of each id), or why it cannot be
    read. No log at all records nothing."""
    if not path.is_file():
        return (), None
    try:
        events = JsonlLog(path, _SESSION_LOG_KIND, _SessionEvent).read()
    except (AarError, OSError) as exc:
        return (), str(exc)
    found: dict[str, LoggedProposal] = {}
    for event in events:
        if event.kind != "proposal":
            continue
        try:
            logged = _ProposalLogged.model_validate(event.data)
        except ValidationError:
            continue  # a line without a usable id or hash vouches for nothing
        if logged.id not in found:
            found[logged.id] = LoggedProposal(
                id=logged.id, sha256=logged.sha256, round=event.round, source="session log"
            )
    return tuple(found.values()), None


def _edits(session_id: str, records: Sequence[AuditRecord]) -> dict[str, str]:
    """New proposal id -> sha256 of each reviewer's edit in this session (see the module doc)."""
    named: dict[str, str | None] = {}
    for record in records:
        d = record.decision
        if record.outcome != "recorded" or d.session_id != session_id or d.item != "proposal":
            continue
        match = _EDIT.match(d.comment) if d.decision == "reject" else None
        if match is not None and match.group(1) not in named:
            named[match.group(1)] = match.group(2)
    out: dict[str, str] = {}
    for pid, sha in named.items():
        if sha is None:  # an edit from before the hash was named: its own approval's hash
            sha = next(
                (
                    r.decision.sha256
                    for r in records
                    if r.outcome == "recorded"
                    and r.decision.item_id == pid
                    and r.decision.decision == "approve"
                    and _EDIT_APPROVAL.match(r.decision.comment)
                ),
                None,
            )
        if sha is not None:
            out[pid] = sha
    return out
