"""`aar run / resume / replay / sessions` argument checks: one line, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from session_support import run_aar


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--task", "nosuch"], {}, "unknown task 'nosuch'"),
        (["--seeds", "0"], {}, "--seeds must be between 1 and 20"),
        (["--budget-usd", "nan"], {}, "--budget-usd must be a positive number"),
        (["--hypotheses", "0"], {}, "hypotheses"),
        (["--hypotheses", "50"], {}, "--hypotheses must be between 1 and 20, got 50"),
        (["--budget-evals", "-1"], {}, "--budget-evals must be 0 or more, got -1"),
        (["--budget-requests", "-2"], {}, "--budget-requests must be 0 or more, got -2"),
        (["--goal", "   "], {}, "--goal is blank"),
        (["--direction", "ok", "--direction", ""], {}, "--direction 2 is blank"),
        (["--direction", "x" * 1001], {}, "--direction 1 is longer than 1000 characters"),
        (["--direction", "quantum annealing"], {}, "names nothing the scripted researcher"),
        (["--base-url", "http://127.0.0.1:9/v1"], {}, "--base-url needs a provider model"),
        (["--model", "gpt-4o"], {}, "unknown model"),
        (["--model", "openai:gpt-4o-mini"], {"OPENAI_API_KEY": ""}, "set OPENAI_API_KEY"),
        (
            ["--model", "openai:no-such-model-x", "--budget-usd", "1"],
            {"OPENAI_API_KEY": "sk-test-not-real-key-000"},
            "--budget-usd needs a price",
        ),
    ],
)
def test_bad_run_arguments_are_one_line(workspace: Path, args, env, message) -> None:
    done = run_aar("run", *args, cwd=workspace, env=env)
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, lines
    assert not (workspace / "runs").exists() or not list((workspace / "runs").glob("s-*"))


def _runs_dir(workspace: Path, kind: str) -> Path:
    """A runs directory that `aar run` cannot use, made in the workspace."""
    (workspace / "afile").write_text("notes")
    (workspace / "link").symlink_to(workspace / "nowhere")
    return {
        "a-file": workspace / "afile",
        "under-a-file": workspace / "afile" / "runs",
        "dangling-link": workspace / "link",
        "in-proc": Path("/proc/self/runs"),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("a-file", "runs_dir: exists and is not a directory"),
        ("under-a-file", "afile is not a directory"),
        ("dangling-link", "is a dangling symbolic link"),
        ("in-proc", "cannot create runs directory /proc/self/runs"),
    ],
)
def test_unusable_runs_directories_are_one_line(workspace: Path, kind: str, message: str) -> None:
    runs = _runs_dir(workspace, kind)
    before = sorted(p.name for p in workspace.iterdir())
    done = run_aar("run", "--seeds", "1", cwd=workspace, env={"AAR_RUNS_DIR": str(runs)})
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(p.name for p in workspace.iterdir()) == before


def test_resume_and_replay_of_unknown_sessions(workspace: Path) -> None:
    for command in (
        ["resume", "s-nope"],
        ["replay", "s-nope"],
        ["sessions", "show", "s-nope"],
        ["resume", "../etc"],
    ):
        done = run_aar(*command, cwd=workspace)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_sessions_list_json_when_empty(workspace: Path) -> None:
    done = run_aar("sessions", "list", "--json", cwd=workspace)
    assert done.returncode == 0 and json.loads(done.stdout) == []


def test_every_budget_option_is_described() -> None:
    """`aar run --help` listed the five budget options with no description."""
    from typer.testing import CliRunner

    from aar.cli import app

    done = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    for name in ("usd", "tokens", "evals", "requests", "minutes"):
        row = next(ln for ln in done.stdout.splitlines() if f"--budget-{name} " in ln)
        described = row.strip("│ ").split(">", 1)[1].strip()
        assert len(described) > 10, row
