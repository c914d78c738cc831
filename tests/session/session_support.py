"""Helpers of the session tests: small configurations and scripted (hostile) researchers."""

from __future__ import annotations

import json
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


def all_text(root: Path) -> str:
    """Every file of a session directory and every revision of its git history, as text."""
    import subprocess

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
