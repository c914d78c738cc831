"""Helpers shared by the review tests (imported as a plain module, pytest's prepend mode)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aar.hashing import content_sha256
from aar.review import AUDIT_LOG, Proposal, new_proposal, new_proposal_id, write_proposal

SESSION_A = "s-20261201-120000-aaaaaa"
SESSION_B = "s-20261201-130000-bbbbbb"
CODE = "# %%\nimport aar_kernel\nprint('sweep aux_coef', [0.25, 0.5, 0.75])\n"


def session_dir(runs: Path, session_id: str = SESSION_A) -> Path:
    path = runs / session_id
    path.mkdir(exist_ok=True)
    return path


def log_proposal(runs: Path, proposal: Proposal) -> None:
    """Log `proposal` in its session's events.jsonl, as the session does when it proposes."""
    from aar.session import EventLog, Proposed

    log = EventLog(session_dir(runs, proposal.session_id))
    data = Proposed(id=proposal.id, sha256=proposal.sha256, path=f"{proposal.id}.json")
    log.append(data, round=proposal.round)


def make_proposal(
    runs: Path, session_id: str = SESSION_A, code: str = CODE, **overrides: Any
) -> Proposal:
    """A proposal written into its session's directory and logged in its events.jsonl."""
    proposal = new_proposal(
        session_id,
        1,
        overrides.pop("rationale", "logconf helped on 3 of 4 tasks: sweep its aux coefficient"),
        code,
        estimated_evaluations=overrides.pop("estimated_evaluations", 10),
        estimated_tokens=overrides.pop("estimated_tokens", 2000),
        **overrides,
    )
    write_proposal(session_dir(runs, session_id), proposal)
    log_proposal(runs, proposal)
    return proposal


def expired_proposal(runs: Path, session_id: str = SESSION_A, code: str = CODE) -> Proposal:
    """A proposal whose expiry passed an hour ago."""
    now = datetime.now(UTC)
    proposal = Proposal(
        id=new_proposal_id(),
        session_id=session_id,
        round=1,
        rationale="an old idea",
        code=code,
        sha256=content_sha256(code),
        estimated_evaluations=1,
        estimated_tokens=1,
        created_at=now - timedelta(days=8),
        expires_at=now - timedelta(hours=1),
    )
    write_proposal(session_dir(runs, session_id), proposal)
    log_proposal(runs, proposal)
    return proposal


def audit_lines(runs: Path) -> list[str]:
    """The audit log's lines, header first."""
    return (runs / AUDIT_LOG).read_text().splitlines()


def write_audit_lines(runs: Path, lines: list[str]) -> None:
    (runs / AUDIT_LOG).write_text("".join(line + "\n" for line in lines))


def edit_record(line: str, **changes: Any) -> str:
    """The line with fields of its record (or of its decision, `decision__x=`) changed."""
    record = json.loads(line)
    for key, value in changes.items():
        if key.startswith("decision__"):
            record["decision"][key.removeprefix("decision__")] = value
        else:
            record[key] = value
    return json.dumps(record, separators=(",", ":"))
