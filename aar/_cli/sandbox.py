"""`aar sandbox ...` commands: run a script in the isolated kernel, check isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
    from aar.sandbox import KernelSandbox, SandboxUsageError, load_policy, split_cells

    if not file.is_file():
        raise SandboxUsageError(f"no such file: {file}")
    if (task is None) != (seed is None):
        raise SandboxUsageError("--task and --seed go together")
    if timeout is not None and timeout <= 0:
        raise SandboxUsageError("--timeout must be positive")
    try:
        cells = split_cells(file.read_text())
    except UnicodeDecodeError:
        raise SandboxUsageError(f"{file} is not a UTF-8 text file") from None
    settings = get_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    exp_dir = out or settings.runs_dir / f"sandbox-{stamp}-{file.stem}"
    if exp_dir.exists() and any(exp_dir.iterdir()):
        raise SandboxUsageError(f"experiment directory {exp_dir} exists and is not empty")
    policy = load_policy()
    if unsafe:
        policy = policy.model_copy(update={"isolation": "none"})
    err = Console(stderr=True)
    if policy.unsafe:
        err.print(
            "[bold white on red] UNSAFE [/] running WITHOUT isolation (development only): "
            "the code can reach the network, your files and your secrets.",
            highlight=False,
        )
    if task is not None:
        _export_task(task, seed, exp_dir / "task")  # type: ignore[arg-type]
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
            "unsafe": policy.unsafe,
        }
        print(json.dumps(doc))
    else:
        if skipped:
            err.print(f"{skipped} cell(s) not run after the failure (use --keep-going)")
        err.print(f"notebook: {notebook}", highlight=False)
    raise typer.Exit(0 if results and all(r.ok for r in results) and not skipped else 1)


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
    """Report whether isolation works here and which protections are active (exit 1 if not)."""
    from aar.sandbox import check_isolation

    report = check_isolation()
    if as_json:
        print(report.model_dump_json())
    else:
        console = Console()
        head = "green" if report.all_active else "bold red"
        console.print(f"[{head}]{report.message}[/] (isolation: {report.isolation})")
        for p in report.protections:
            mark = "[green]yes[/]" if p.active else "[bold red]NO[/]"
            console.print(f"  {mark}  {p.name}: {p.detail}", highlight=False)
    raise typer.Exit(0 if report.all_active else 1)
