"""What happens after a decision, in one line: the command that moves the session on.

The page and the CLI say it the same way. A session resumes only once no proposal of its
round is pending (`followups_to_run` refuses while one is), so the line names what still
waits; a team member's session is moved on by its team (`aar team resume TEAM`), never on
its own.
"""

from __future__ import annotations

from pathlib import Path

from aar.review._gate import list_items


def next_step(runs_dir: Path, session_id: str, team: str | None = None) -> str:
    """The next command for `session_id` once its items are decided (see the module doc)."""
    pending = [
        i.id
        for i in list_items(runs_dir, session_id=session_id, status="pending")
        if i.kind == "proposal"
    ]
    return next_step_text(session_id, pending, team)


def next_step_text(session_id: str, pending: list[str], team: str | None = None) -> str:
    """The line `next_step` prints, from what is still pending."""
    command = f"aar team resume {team}" if team else f"aar resume {session_id}"
    if pending:
        shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
        return (
            f"{len(pending)} proposal(s) of {session_id} still wait for a decision ({shown}); "
            f"once they are decided, `{command}` runs the approved ones"
        )
    who = f"the team's next round ({command})" if team else f"`{command}`"
    return (
        f"nothing of {session_id} waits: {who} runs the approved follow-ups "
        "(the session closes when none was approved)"
    )
