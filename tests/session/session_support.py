"""Helpers of the session tests: small configurations and scripted (hostile) researchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aar.agent import run_round, script_model, start_round
from aar.config import get_settings
from aar.session import Budgets, Session, SessionConfig, ToolCalled

PLANTED_KEY = "sk-planted-test-key-7d3a91c0ffee"


def small_config(**overrides: Any) -> SessionConfig:
    """One task, two seeds: the smallest session that still pairs seeds."""
    fields: dict[str, Any] = {"tasks": ["digits-ge5"], "seeds": [42, 43], "hypotheses": 2}
    fields |= overrides
    return SessionConfig(**fields)


@contextmanager
def session_of(config: SessionConfig) -> Iterator[Session]:
    session = Session.create(get_settings().runs_dir, config)
    try:
        yield session
    finally:
        session.shutdown()


def run_scripted(session: Session, make_script: Callable[[], Any]) -> str:
    """Start a research round and drive it with a script of tool calls (a generator)."""
    start_round(session)
    return run_round(session, model=script_model(make_script, session.round_number))


def tool_outcomes(session: Session, name: str) -> list[Any]:
    """The logged results of every call of tool `name` (JSON-decoded where possible)."""
    out = []
    for event in session.log.read():
        if isinstance(event.data, ToolCalled) and event.data.name == name:
            outcome = event.data.outcome
            try:
                out.append(json.loads(outcome))
            except ValueError:
                out.append(outcome)
    return out


def run_aar(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`aar ARGS` in a fresh process (the test's environment, plus `env`)."""
    full = dict(os.environ) | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "aar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full,
    )


def unpack_session(archive: Path, session_id: str, runs: Path) -> Path:
    """Extract an archived session directory into `runs` (every member checked first)."""
    runs.mkdir(exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        assert all(m.name.startswith(session_id) and ".." not in m.name for m in members)
        assert all(m.isfile() or m.isdir() for m in members)
        tar.extractall(runs, members=members)  # names and kinds checked just above
    return runs / session_id


def all_text(root: Path) -> str:
    """Every file of a session directory and every revision of its git history, as text."""
    parts = []
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    history = subprocess.run(
        ["git", "-C", str(root), "log", "-p", "--all", "--binary"],
        capture_output=True,
        text=True,
        check=True,
    )
    parts.append(history.stdout)
    return "\n".join(parts)


__all__ = [
    "PLANTED_KEY",
    "Budgets",
    "all_text",
    "run_scripted",
    "session_of",
    "small_config",
    "tool_outcomes",
]
