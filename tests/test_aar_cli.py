"""The top-level CLI: fast help, only working commands, user errors as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

AAR = [sys.executable, "-m", "aar"]


def run_aar(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AAR, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_help_lists_command_groups() -> None:
    result = run_aar("--help")
    assert result.returncode == 0
    for group in ("bench", "sandbox", "memory", "version"):
        assert group in result.stdout
    assert "TODO" not in result.stdout


def test_version() -> None:
    from aar import __version__

    result = run_aar("version")
    assert result.returncode == 0
    assert result.stdout.strip() == __version__


def test_unknown_command_is_usage_error() -> None:
    result = run_aar("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "aar.toml").write_text('[bench]\neval_budget = "lots"\n')
    result = run_aar("bench", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "bench.eval_budget" in result.stderr


def test_user_error_through_cli_runner_is_exit_2(tmp_path: Path) -> None:
    """CliRunner goes through the same error handling as the console script."""
    from typer.testing import CliRunner

    from aar.cli import app

    result = CliRunner().invoke(
        app, ["bench", "run", "--task", "no-such-task", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no-such-task" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
