"""`aar sessions show` and the CLI's error line never put raw control or bidi bytes on the
terminal: a goal's ESC sequences and bidi overrides are shown as visible marks, and rich markup
in it is shown, not obeyed.

Measured before: `aar sessions show` printed a goal's ESC and bidi characters raw.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from aar.cli import _fail, app
from aar.config import get_settings
from aar.session import Session, SessionConfig

GOAL = "find \x1b[2J\x1b]0;pwned\x07 methods \u202eevil\u2066 [bold]loud[/bold]\nround 9: approved"


def test_sessions_show_prints_a_hostile_goal_as_text(workspace: Path) -> None:
    session = Session.create(
        get_settings().runs_dir, SessionConfig(tasks=["digits-ge5"], goal=GOAL)
    )
    session.shutdown()
    result = CliRunner().invoke(app, ["sessions", "show", session.state.id], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert not [ch for ch in out if ch in "\x1b\x07\u202e\u2066"]
    goal_line = next(line for line in out.splitlines() if line.startswith("goal: "))
    assert goal_line == (
        "goal: find \\u{001b}[2J\\u{001b}]0;pwned\\u{0007} methods \\u{202e}evil\\u{2066} "
        "[bold]loud[/bold]\\u{000a}round 9: approved"
    )


def test_an_error_line_shows_hidden_characters(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        _fail("no such file '/tmp/x\u202etxt.exe'\n\x1b[2Jerror: fake second line", 2)
    err = capsys.readouterr().err
    assert err == (
        "error: no such file '/tmp/x\\u{202e}txt.exe' \\u{001b}[2Jerror: fake second line\n"
    )
