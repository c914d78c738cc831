"""`aar -h` lists each command with a summary that wraps only where the column is full: a
docstring's hard line break used to split `leaderboard`'s summary after "(best" (issue 22
tour, at 80 columns)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path


def _command_rows(width: int, cwd: Path) -> list[tuple[str, str]]:
    """(name, text) per line of the Commands panel; continuation lines have name ''."""
    env = {**os.environ, "COLUMNS": str(width)}
    done = subprocess.run(
        [sys.executable, "-m", "aar", "-h"], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(n for n, ln in enumerate(lines) if "Commands" in ln)
    rows = []
    for ln in lines[start + 1 :]:
        if not ln.startswith("│"):
            break
        inner = ln.strip("│ ")
        name, _, text = inner.partition(" ")
        rows.append((name, text.strip()) if ln[2] != " " else ("", inner))
    return rows


def test_command_summaries_break_only_where_the_column_is_full(tmp_path: Path) -> None:
    rows = _command_rows(80, tmp_path)
    assert any(name == "leaderboard" for name, _ in rows)
    full = max(len(text) for _, text in rows)
    for (name, text), (next_name, next_text) in itertools.pairwise(rows):
        if next_name == "" and next_text:
            first_word = next_text.split()[0]
            assert len(text) + 1 + len(first_word) > full, (name, text, next_text)
