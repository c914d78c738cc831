"""`aar bench ...`: list tasks, run the benchmark, export a public task dir, score predictions.

Heavy imports (torch, sklearn, the bench package) happen inside the commands so that
`aar --help` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from aar.bench import Summary, Task

bench_app = typer.Typer(
    help="Weak-to-strong benchmark: tasks, baselines, student methods, evaluator.",
    no_args_is_help=True,
)
TaskOpt = Annotated[str, typer.Option("--task", "-t", help="Task name (see `aar bench list`).")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help="Protocol seed (fixes the splits).")]


def _check_seed(seed: int) -> None:
    from aar.bench import InvalidSeedsError

    if seed < 0:
        raise InvalidSeedsError(f"--seed must be a non-negative integer, got {seed}")


def _pm(s: Summary, digits: int) -> str:
    """'mean ± se' (just the mean when SE is undefined, e.g. one seed)."""
    if math.isfinite(s.se):
        return f"{s.mean:.{digits}f} ± {s.se:.{digits}f}"
    return f"{s.mean:.{digits}f}"


def _gap_cache_key(task: Task) -> str:
    """Name, student config and the source of the task's module: edits invalidate the entry."""
    import inspect

    try:
        source = Path(inspect.getsourcefile(type(task)) or "").read_bytes()
    except (OSError, TypeError):
        source = b""
    extra = (task.student.model_dump_json() + task.data_token()).encode()  # e.g. the task key
    digest = hashlib.sha256(source + extra).hexdigest()
    return f"{task.name}:{digest[:16]}"


@bench_app.command("list")
def list_cmd(
    names: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Only these tasks (repeatable).")
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Re-measure the gaps instead of using the cache.")
    ] = False,
    device: Annotated[str, typer.Option(help="'auto', 'cpu' or 'cuda'.")] = "auto",
) -> None:
    """Tasks with sizes, weak/strong descriptions and the measured seed-42 accuracy gap.

    Gaps come from a cache under `settings.bench.cache_dir` (keyed by task name, student
    config and the task's source file); missing entries are measured now (weak + ceiling,
    seed 42) and cached. `--refresh` re-measures.
    """
    from rich.table import Table

    from aar.bench import get_task, list_tasks, run_task
    from aar.bench._report import task_gap_row
    from aar.config import get_settings

    console = Console()
    cache_path = get_settings().bench.cache_dir / "bench_gaps.json"
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    except (OSError, json.JSONDecodeError):
        cache = {}
    table = Table(title="aar bench tasks (accuracy on holdout, seed 42)")
    table.add_column("task", overflow="fold")
    table.add_column("k", justify="right")
    table.add_column("weak_train/transfer/\ntest/holdout", no_wrap=True)
    for col in ("weak", "ceiling", "gap", "from"):
        table.add_column(col, justify="right")
    descriptions = []
    changed = False
    for task in [get_task(n) for n in names] if names else list_tasks():
        key = _gap_cache_key(task)
        row = None if refresh else cache.get(key)
        source = "cache" if row else "measured"
        if row is None:
            with console.status(f"measuring {task.name} (weak + ceiling, seed 42)"):
                row = task_gap_row(run_task(task, [], [42], device))
            cache[key] = row
            changed = True
        sizes = row["sizes"]
        table.add_row(
            task.name,
            str(task.n_classes),
            "/".join(str(sizes[s]) for s in ("weak_train", "transfer", "test", "holdout")),
            f"{row['weak_acc']:.3f}",
            f"{row['ceiling_acc']:.3f}",
            f"{row['gap_acc']:.3f}",
            source,
        )
        descriptions.append(
            f"[bold]{task.name}[/]: {task.description}\n  weak: {task.weak_description}"
            f"\n  strong: {task.strong_description}"
        )
    if changed:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_text(json.dumps(cache, indent=2))
        except OSError as exc:
            console.print(f"[yellow]note:[/] could not write the gap cache: {exc}")
    console.print(table)
    for text in descriptions:
        console.print(text, highlight=False)


@bench_app.command("run")
def run_cmd(
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Task (repeatable); default: all.")
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(
            "--method",
            "-m",
            help="Student method (repeatable): naive, logconf, bootstrap, naive+es, "
            "logconf+es, bootstrap+es. Default: naive, logconf. weak and ceiling always run.",
        ),
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(help="Number of seeds (42, 43, ...); default settings.")
    ] = None,
    device: Annotated[str, typer.Option(help="'auto', 'cpu' or 'cuda'.")] = "auto",
    out: Annotated[
        Path | None, typer.Option(help="Results directory (default runs/bench-<time>).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary JSON here.")
    ] = None,
) -> None:
    """Run weak, ceiling and student methods on tasks over seeds; exact holdout scores."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from aar.bench import DEFAULT_METHODS, get_task, list_tasks, resolve_seeds, run_suite
    from aar.bench._methods import parse_methods
    from aar.bench._report import check_writable_file, prepare_out_dir, write_results
    from aar.bench._train import resolve_device
    from aar.config import get_settings

    console = Console()
    settings = get_settings()
    # Validate everything before a long run.
    methods = [m.name for m in parse_methods(method or list(DEFAULT_METHODS))]
    seed_list = resolve_seeds(seeds)
    tasks = [get_task(t) for t in task] if task else list_tasks()
    try:
        resolve_device(device)
    except ValueError as exc:
        from aar.errors import AarError

        raise AarError(str(exc)) from None
    if json_path is not None:
        check_writable_file(json_path)
    out_dir = prepare_out_dir(out, settings.runs_dir)

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} tasks"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("starting", total=len(tasks))
        started: list[str] = []

        def on_stage(task_name: str, stage: str) -> None:
            if started and started[-1] != task_name:
                progress.advance(bar)
            if not started or started[-1] != task_name:
                started.append(task_name)
            progress.update(bar, description=f"{task_name}: {stage}")

        result = run_suite(tasks, methods, seed_list, device, on_stage=on_stage)
        progress.update(bar, completed=len(tasks))

    table = Table(title=f"Holdout, {len(seed_list)} seeds ({result.seconds:.1f} s)")
    table.add_column("task", overflow="fold")
    table.add_column("method", no_wrap=True)
    for col in ("acc ± SE", "PGR ± SE", "PGR 95% CI", "PGR AUROC"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, r in result.tasks.items():
        flag = " [yellow](flagged)[/]" if r.flags else ""
        table.add_row(name + flag, "weak", _pm(r.weak.acc, 3), "", "", "")
        table.add_row("", "ceiling", _pm(r.ceiling.acc, 3), "", "", "")
        for m, mr in r.methods.items():
            ci = mr.pgr_acc.ci
            table.add_row(
                "",
                m,
                _pm(mr.acc, 3),
                _pm(mr.pgr_acc, 2),
                f"[{ci[0]:.2f}, {ci[1]:.2f}]",
                f"{mr.pgr_auroc.mean:.2f}",
            )
    console.print(table)
    paths = write_results(result, out_dir)
    if json_path is not None:
        json_path.write_text(paths["summary"].read_text())
    for name, r in result.tasks.items():
        for flag in r.flags:
            console.print(f"[yellow]flag:[/] {name}: {flag}")
    console.print(f"results: {out_dir} (results.json, summary.json, table.md, pgr.png)")


@bench_app.command("export-public")
def export_public_cmd(
    directory: Annotated[Path, typer.Argument(help="New or empty directory to write.")],
    task: TaskOpt,
    seed: SeedOpt = 42,
) -> None:
    """Write what an experiment may see (inputs, ids, weak labels; never ground truth)."""
    from aar.bench import export_public

    _check_seed(seed)
    path = export_public(task, seed, directory)
    console = Console()
    files = json.loads((path / "manifest.json").read_text())["files"]
    console.print(f"exported {task} seed {seed} to {path} ({len(files)} files)")


@bench_app.command("evaluate")
def evaluate_cmd(
    predictions: Annotated[Path, typer.Argument(help="PREDICTIONS.npy, .csv or .json")],
    task: TaskOpt,
    seed: SeedOpt = 42,
    method: Annotated[str, typer.Option(help="Name of what you submit.")] = "submission",
    split: Annotated[str, typer.Option(help="'test' (rounded) or 'holdout' (exact).")] = "test",
    code: Annotated[
        Path | None, typer.Option(help="File with the code that made the predictions (hashed).")
    ] = None,
    log: Annotated[
        Path | None, typer.Option(help="JSONL log to append the record to (budget counts it).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Score test (or holdout) predictions for a task and seed; prints an EvalRecord."""
    from aar.bench import Evaluator, InvalidPredictionsError
    from aar.bench._runner import git_commit

    _check_seed(seed)
    if split not in ("test", "holdout"):
        raise InvalidPredictionsError(f"--split must be 'test' or 'holdout', got {split!r}")
    if not predictions.is_file():
        raise InvalidPredictionsError(f"invalid predictions: file {predictions} does not exist")
    if code is not None and not code.is_file():
        raise InvalidPredictionsError(f"--code {code} is not a file")
    code_sha = hashlib.sha256(code.read_bytes()).hexdigest() if code else "unspecified"
    evaluator = Evaluator(task, seed, log_path=log)
    record = evaluator.evaluate(
        predictions, method=method, code_sha256=code_sha, split=split, git_commit=git_commit()
    )
    if as_json:
        print(record.model_dump_json(indent=2))
        return
    console = Console()
    m = record.metrics
    note = f"rounded to {record.rounding}" if record.rounded else "exact"
    console.print(
        f"{record.task} seed {record.seed} {record.split} ({note}): acc {m['acc']:g}, "
        f"auroc {m['auroc']:g}, PGR acc {m['pgr_acc']:g}, PGR auroc {m['pgr_auroc']:g} "
        f"(weak {m['weak_acc']:g}, ceiling {m['ceiling_acc']:g}); record {record.id}; "
        f"budget {record.budget_used}/{record.budget_total}"
    )
    for flag in record.flags:
        console.print(f"[yellow]flag:[/] {flag}")
