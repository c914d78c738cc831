"""`aar memory show | list | query` print a finding's words as text: rich markup in them is
shown, not obeyed, and hidden characters (ESC, bidi overrides) are visible marks.

Measured before: `aar memory show` interpreted `[conceal]` and `[link=...]` in finding text.
"""

from __future__ import annotations

import json
from pathlib import Path

from memory_support import minimal, run, write
from typer.testing import CliRunner

MARKUP = "[conceal]hidden words[/conceal] [link=http://evil.example]click[/link] [bold]b[/bold]"
HIDDEN = "\x1b[2Jcleared \x1b]8;;http://evil.example\x07link\u202eevil\u200b"


def test_show_prints_markup_and_hidden_characters_as_text(cli: CliRunner, tmp_path: Path) -> None:
    finding = minimal(id="f-markup", summary=MARKUP, hypothesis=HIDDEN, method="[red]m[/red]")
    assert run(cli, "add", write(tmp_path / "f.json", finding)).exit_code == 0
    result = run(cli, "show", "f-markup")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.replace("│", " ").split())  # the panel may wrap long lines
    for text in ("[conceal]hidden words[/conceal]", "[link=http://evil.example]click[/link]",
                 "[bold]b[/bold]", "[red]m[/red]"):  # fmt: skip
        assert text in out, text
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert "\x07" not in result.stdout and "\u200b" not in result.stdout
    assert "\\u{001b}[2Jcleared" in out and "\\u{0007}link\\u{202e}evil" in out
    assert json.loads(run(cli, "show", "f-markup", "--json").stdout)["summary"] == MARKUP


def test_list_prints_a_summary_as_text(cli: CliRunner, tmp_path: Path) -> None:
    finding = minimal(id="f-markup", summary=f"{MARKUP} {HIDDEN}")
    assert run(cli, "add", write(tmp_path / "f.json", finding)).exit_code == 0
    result = run(cli, "list")
    assert result.exit_code == 0, result.output
    assert "[conceal]" in result.stdout and "\x1b" not in result.stdout
    assert "\u202e" not in result.stdout
