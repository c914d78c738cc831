"""What happens after a decision, in one line: the command that moves the session on.

The page and the CLI say it the same way, each in its own form: the line is a `NextStep`, a
few parts of plain text and commands, which the terminal prints with each command in
backticks (`NextStep.plain`) and the web page shows as escaped `<code>` elements (a command
is marked by the part, never found again in the text, so an id that holds a backtick or
markup stays text). A session resumes only once no proposal of its round is pending
(`followups_to_run` refuses while one is), so the line names what still waits; a team
member's session is moved on by its team (`aar team resume TEAM`), never on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aar.review._gate import list_items


@dataclass(frozen=True)
class StepPart:
    """One piece of the line: plain `text`, or a whole command to copy when `command`;
    the terminal sets a command in backticks unless `ticked` is off (where parentheses
    already set it apart, as the line has always read)."""

    text: str
    command: bool = False
    ticked: bool = True


@dataclass(frozen=True)
class NextStep:
    """The next-step line as parts, so each medium renders commands its own way."""

    parts: tuple[StepPart, ...]

    def plain(self) -> str:
        """The line as the terminal prints it: each command in backticks."""
        return "".join(f"`{p.text}`" if p.command and p.ticked else p.text for p in self.parts)

    def __str__(self) -> str:
        return self.plain()


def next_step(runs_dir: Path, session_id: str, team: str | None = None) -> NextStep:
    """The next command for `session_id` once its items are decided (see the module doc)."""
    pending = [
        i.id
        for i in list_items(runs_dir, session_id=session_id, status="pending")
        if i.kind == "proposal"
    ]
    return next_step_parts(session_id, pending, team)


def next_step_parts(session_id: str, pending: list[str], team: str | None = None) -> NextStep:
    """The line `next_step` gives, from what is still pending, as text and command parts."""
    command = StepPart(f"aar team resume {team}" if team else f"aar resume {session_id}", True)
    if pending:
        shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
        return NextStep(
            (
                StepPart(
                    f"{len(pending)} proposal(s) of {session_id} still wait for a decision "
                    f"({shown}); once they are decided, "
                ),
                command,
                StepPart(" runs the approved ones"),
            )
        )
    bare = StepPart(command.text, command=True, ticked=False)
    who = (StepPart("the team's next round ("), bare, StepPart(")")) if team else (command,)
    return NextStep(
        (
            StepPart(f"nothing of {session_id} waits: "),
            *who,
            StepPart(" runs the approved follow-ups (the session closes when none was approved)"),
        )
    )


def next_step_text(session_id: str, pending: list[str], team: str | None = None) -> str:
    """The line `next_step` gives, as the terminal prints it (commands in backticks)."""
    return next_step_parts(session_id, pending, team).plain()
