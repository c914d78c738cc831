"""The malformed-input battery's harness: bad input gets one clear line and loses nothing.

Every case runs one `aar` command against a scratch workspace and asserts three things:
1. the exit code (2: usage error; 1: ran but failed);
2. stderr is exactly one line, starting `error:`, matching the case, with no traceback;
3. nothing in the workspace changed: every file keeps its hash, none appears or vanishes
   (so a refused command wrote nothing, not even an empty directory or a half file).

Most cases run in-process through `typer.testing.CliRunner` (milliseconds each); a case with
`process=True` runs `python -m aar` in a fresh interpreter, for what only a real process
shows (the console script, the imports a usage error pays for, real exit codes).

To add a command (e.g. `aar run`, `aar review`, `aar serve`) or another input class:
- write `tests/malformed/test_<command>_inputs.py` with a list of `Case`s and one test:

      CASES = [Case("empty-file", ("memory", "import", "{ws}/empty.jsonl"), "empty",
                    files={"empty.jsonl": b""}), ...]

      @pytest.mark.parametrize("case", CASES, ids=case_id)
      def test_memory_inputs(case: Case, workspace: Path) -> None:
          check(case, workspace)

- `{ws}` in arguments and environment values is the workspace; `files` are written into it
  before the command runs (bytes, or text); `env` is set for the command only;
- reuse `BAD_PATHS` (directory, missing parent, under a regular file, in /proc) and the
  helpers below for whole input classes instead of listing cases by hand.
The `workspace` fixture (conftest.py) gives each case a fresh directory as the current
directory, with settings re-read, caches and runs dirs inside it, and no stray `AAR_*`.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ERROR_LINE = re.compile(r"^error: \S")
Files = Mapping[str, bytes | str]


@dataclass(frozen=True)
class Case:
    """One malformed input: the command line, what the error must say, and its setting."""

    name: str
    args: tuple[str, ...]
    match: str
    """A regular expression searched in the error line (case-insensitive)."""
    exit_code: int = 2
    files: Files = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    """Symbolic links to make in the workspace: name -> target (`{ws}` allowed)."""
    env: Mapping[str, str] = field(default_factory=dict)
    process: bool = False
    """Run `python -m aar` in a fresh process instead of in-process."""


def case_id(case: Case) -> str:
    return case.name


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def fill(text: str, workspace: Path) -> str:
    return text.replace("{ws}", str(workspace))


def write_files(workspace: Path, files: Files) -> None:
    for name, content in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (and 'dir' for directories) under `root`."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = "dir"
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = "link:" + os.readlink(path)
                continue
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def run_cli(
    args: tuple[str, ...] | list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    process: bool = False,
) -> Outcome:
    """Run `aar ARGS`: in-process (CliRunner) or as `python -m aar` in a fresh process."""
    if process:
        proc = subprocess.run(
            [sys.executable, "-m", "aar", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            env={**os.environ, **(env or {})},
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)
    from typer.testing import CliRunner

    from aar.cli import app
    from aar.config import get_settings

    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, list(args), catch_exceptions=True)
        finally:
            get_settings.cache_clear()
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return Outcome(result.exit_code, result.stdout, stderr)


def assert_one_error_line(outcome: Outcome, exit_code: int, match: str) -> str:
    """Exactly one `error: ...` line on stderr, matching `match`, no traceback; its text."""
    err = outcome.stderr
    context = f"exit {outcome.exit_code}\nstderr:\n{err}\nstdout:\n{outcome.stdout[-2000:]}"
    assert "Traceback" not in err, context
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, context
    assert ERROR_LINE.match(lines[0]), context
    assert re.search(match, lines[0], re.IGNORECASE), f"/{match}/ not in: {lines[0]}"
    assert outcome.exit_code == exit_code, context
    return lines[0]


def assert_unchanged(before: Mapping[str, str], after: Mapping[str, str]) -> None:
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    removed = sorted(p for p in before if p not in after)
    added = sorted(p for p in after if p not in before)
    assert not (changed or removed or added), f"changed {changed}, removed {removed}, added {added}"


def check(case: Case, workspace: Path) -> str:
    """Set up, run and assert one case (see the module docstring); returns the error line."""
    write_files(workspace, case.files)
    for name, target in case.links.items():
        (workspace / name).symlink_to(fill(target, workspace))
    before = snapshot(workspace)
    args = tuple(fill(a, workspace) for a in case.args)
    env = {k: fill(v, workspace) for k, v in case.env.items()}
    outcome = run_cli(args, env=env, cwd=workspace, process=case.process)
    line = assert_one_error_line(outcome, case.exit_code, case.match)
    assert_unchanged(before, snapshot(workspace))
    return line


def check_outcome(workspace: Path, run: Callable[[], Outcome], exit_code: int, match: str) -> str:
    """Like `check` for a command built in code (e.g. from hypothesis-generated input)."""
    before = snapshot(workspace)
    line = assert_one_error_line(run(), exit_code, match)
    assert_unchanged(before, snapshot(workspace))
    return line


BAD_PATHS: dict[str, tuple[str, str]] = {
    "a directory": ("{ws}/adir", "directory"),
    "missing parent": ("{ws}/no/such/dir/x", "does not exist|cannot create"),
    "under a regular file": ("{ws}/afile/x", "not a directory|cannot|does not exist"),
    "in /proc": ("/proc/aar-malformed", "not writable"),
}
"""Paths no output can go to, as (path, what the error must say). Tests run as root, so a
chmod-ed directory would still be writable: these fail for every user."""
BAD_PATH_FILES: Files = {"afile": "a regular file, not a directory\n", "adir/keep": "keep me\n"}
"""Files the `BAD_PATHS` need in the workspace."""
