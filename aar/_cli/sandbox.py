"""`aar sandbox ...` commands: run a script in the isolated kernel, check isolation."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from aar.errors import UsageError
from aar.files import check_empty_or_creatable, check_names

if TYPE_CHECKING:
    from aar.sandbox import HiddenReport, IsolationReport, SandboxPolicy

sandbox_app = typer.Typer(
    help="Run experiment code in the isolated Jupyter kernel; check isolation.",
    no_args_is_help=True,
)


@sandbox_app.command("exec")
def exec_(
    file: Annotated[Path, typer.Argument(help="Python file; cells split on '# %%' lines.")],
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds per cell (default from policy).")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Mount this task's public files at /task.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the task's splits.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--dir", help="Experiment directory (default: <runs_dir>/sandbox-<time>)."),
    ] = None,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Run the remaining cells after a failure.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    unsafe: Annotated[
        bool,
        typer.Option(
            "--unsafe-no-sandbox",
            help="DEVELOPMENT ONLY: run without isolation; every result is marked unsafe.",
        ),
    ] = False,
) -> None:
    """Run FILE cell by cell in a fresh sandbox. Exit 0 if every cell is ok, 1 otherwise."""
    from aar.config import get_settings
    from aar.sandbox import KernelSandbox

    cells = _read_cells(file)
    _check_exec_args(task, seed, timeout)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    exp_dir = out or get_settings().runs_dir / f"sandbox-{stamp}-{file.stem}"
    check_empty_or_creatable(exp_dir, "experiment directory")
    policy = _exec_policy(unsafe, timeout)
    if task is not None and seed is not None:  # checked above: both or neither
        _export_task(task, seed, exp_dir / "task")
    results = []
    with KernelSandbox(exp_dir, policy=policy) as sandbox:
        for index, code in enumerate(cells, 1):
            result = sandbox.run_cell(code, timeout=timeout)
            results.append(result)
            if not as_json:
                _render(Console(), index, len(cells), result)
            if not result.ok and not keep_going:
                break
        notebook = sandbox.notebook_path
    skipped = len(cells) - len(results)
    _exec_summary(results, skipped, notebook, policy.unsafe, as_json=as_json)
    raise typer.Exit(0 if results and all(r.ok for r in results) and not skipped else 1)


def _check_exec_args(task: str | None, seed: int | None, timeout: float | None) -> None:
    """The cheap checks, before any kernel or export."""
    if (task is None) != (seed is None):
        raise UsageError("--task and --seed go together")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be positive and finite, got {timeout}")
    if task is not None:
        from aar.bench import check_seed, check_task_names

        check_seed(seed, "--seed")
        check_task_names([task])


def _exec_policy(unsafe: bool, timeout: float | None) -> SandboxPolicy:
    """The policy (label sources hidden; isolation off only when asked), timeout checked."""
    from aar.sandbox import load_policy

    longest = load_policy().limits.experiment_timeout_s  # before the label sources: they
    if timeout is not None and timeout > longest:  # import every task's libraries (~1.5 s)
        raise UsageError(
            f"--timeout {timeout:g} is longer than the experiment's wall clock ({longest:g} s, "
            "sandbox.experiment_timeout_s)"
        )
    policy = _policy_hiding_label_sources()
    if unsafe:
        policy = policy.model_copy(update={"isolation": "none"})
    if policy.unsafe:
        Console(stderr=True).print(
            "[bold white on red] UNSAFE [/] running WITHOUT isolation (development only): "
            "the code can reach the network, your files and your secrets.",
            highlight=False,
        )
    return policy


def _exec_summary(
    results: list[Any], skipped: int, notebook: Path, unsafe: bool, *, as_json: bool
) -> None:
    if as_json:
        doc = {
            "cells": [
                {
                    "status": r.status,
                    "stdout": r.stdout,
                    "stderr": r.stderr,
                    "error": None if r.ok else (r.summary() or None),
                    "duration_s": round(r.duration_s, 4),
                }
                for r in results
            ],
            "skipped": skipped,
            "notebook": str(notebook),
            "unsafe": unsafe,
        }
        print(json.dumps(doc))
        return
    err = Console(stderr=True)
    if skipped:
        err.print(f"{skipped} cell(s) not run after the failure (use --keep-going)")
    err.print(f"notebook: {notebook}", highlight=False)


def _read_cells(file: Path) -> list[str]:
    """The script's cells; a missing, binary, non-UTF-8 or code-free file is a usage error."""
    from aar.sandbox import split_cells

    check_names(file, "script")
    if not file.exists():
        raise UsageError(f"no such file: {file}")
    if not file.is_file():
        raise UsageError(f"{file} is not a regular file")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not a UTF-8 text file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    if "\0" in text:
        raise UsageError(f"{file} holds NUL bytes: it is not a Python text file")
    cells = [cell for cell in split_cells(text) if cell.strip()]
    if not cells:
        raise UsageError(f"{file} has no code to run (cells are split on '# %%' lines)")
    return cells


def _policy_hiding_label_sources() -> SandboxPolicy:
    """The policy, with every registered task's label sources hidden from the kernel."""
    from aar.bench import label_sources
    from aar.sandbox import load_policy

    return load_policy().with_label_sources(label_sources())


def _export_task(task: str, seed: int, dest: Path) -> None:
    """The evaluator writes the task's public files (never ground truth) for the kernel."""
    from aar.bench import export_public

    export_public(task, seed, dest)


def _render(console: Console, index: int, total: int, result: object) -> None:
    from rich.text import Text

    from aar.sandbox import CellResult

    assert isinstance(result, CellResult)
    style = "green" if result.ok else "bold red"
    console.print(
        f"[bold]cell {index}/{total}[/] [{style}]{result.status}[/] ({result.duration_s:.3f} s)",
        highlight=False,
    )
    if result.stdout:
        console.print(Text(result.stdout.rstrip("\n")))
    if result.stderr:
        console.print(Text(result.stderr.rstrip("\n"), style="yellow"))
    for item in result.display:
        if "image/png" in item.data:
            console.print(f"[dim]<image/png, {len(item.data['image/png']) * 3 // 4} bytes>[/]")
        elif "text/plain" in item.data:
            console.print(Text(str(item.data["text/plain"])))
    if result.error is not None:
        console.print(Text.from_ansi("\n".join(result.error.traceback[-8:])))
    if result.message:
        console.print(Text(f"[sandbox] {result.message}", style="magenta"))


@sandbox_app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Report whether isolation works here, which protections are active, and what is hidden
    from the kernel and why (exit 1 if any protection is missing)."""
    from aar.sandbox import check_isolation

    report = check_isolation(_policy_hiding_label_sources())
    if as_json:
        print(report.model_dump_json())
    else:
        console = Console()
        head = "green" if report.all_active else "bold red"
        console.print(f"[{head}]{report.message}[/] (isolation: {report.isolation})")
        for p in report.protections:
            mark = "[green]yes[/]" if p.active else "[bold red]NO[/]"
            console.print(f"  {mark}  {p.name}: {p.detail}", highlight=False)
        if report.hidden:
            _render_hidden(console, report)
    raise typer.Exit(0 if report.all_active else 1)


def _render_hidden(console: Console, report: IsolationReport) -> None:
    """Hidden paths grouped by reason; denied distributions on one line."""
    console.print(
        f"hidden from the kernel ({len(report.hidden)} paths, each probed from inside; "
        f"Python: {len(report.distributions)} allow-listed distributions bound):"
    )
    groups: dict[str, list[HiddenReport]] = {}
    denied: list[str] = []
    for h in report.hidden:
        if h.why.startswith("denied distribution "):
            denied.append(h.why.removeprefix("denied distribution "))
        else:
            groups.setdefault(h.why, []).append(h)
    for why, items in groups.items():
        seen = any(h.visible for h in items)
        mark = "[bold red]VISIBLE[/]" if seen else f"[dim]{items[0].how}[/]"
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        console.print(f"  {mark}  {items[0].path}{more}\n      {why}", highlight=False)
    if denied:
        names = ", ".join(sorted(set(denied)))
        console.print(f"  [dim]not bound[/]  denied distributions: {names}", highlight=False)
