"""`aar bench ...`: list tasks, run the benchmark, export a public task dir, score predictions.

Every command checks its arguments first, with imports that cost milliseconds (task names,
methods, seeds, devices, paths, prediction files and logs), and only then imports torch and
scikit-learn: a mistake is reported in well under a second and `aar --help` stays fast.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from aar._cli.bench_split import warn_named_split
from aar._cli.bench_views import print_record, print_results, tasks_table
from aar.errors import UsageError
from aar.files import check_names

if TYPE_CHECKING:
    from aar.bench import EvalRecord, Method, SuiteResult, Task

bench_app = typer.Typer(
    help="Weak-to-strong benchmark: tasks, baselines, student methods, evaluator.",
    no_args_is_help=True,
)
TaskOpt = Annotated[str, typer.Option("--task", "-t", help="Task name (see `aar bench list`).")]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help="Protocol seed (fixes the splits).")]
DeviceOpt = Annotated[str, typer.Option(help="'auto', 'cpu', 'cuda' or 'cuda:N'.")]


@bench_app.command("list")
def list_cmd(
    names: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Only these tasks (repeatable).")
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Re-measure the gaps instead of using the cache.")
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Tasks with sizes, weak/strong descriptions and the measured seed-42 accuracy gap.

    Gaps come from a cache under `settings.bench.cache_dir` (keyed by task name, student
    config and the task's source file); missing entries are measured now (weak + ceiling,
    seed 42) and cached. `--refresh` re-measures.
    """
    from aar.bench import check_device, check_task_names

    check_device(device)
    check_gpu_present(device)
    if names:
        check_task_names(names)

    from aar.bench import gap_table, get_task, list_tasks

    console = Console()
    tasks = [get_task(n) for n in names] if names else list_tasks()
    gaps = gap_table(
        tasks,
        device,
        refresh=refresh,
        measuring=lambda t: console.status(f"measuring {t.name} (weak + ceiling, seed 42)"),
    )
    table = tasks_table([gap.task for gap in gaps.gaps])
    for gap in gaps.gaps:
        table.add_row(
            gap.task,
            str(gap.n_classes),
            "/".join(str(size) for size in gap.sizes.values()),
            f"{gap.weak_acc:.3f}",
            f"{gap.ceiling_acc:.3f}",
            f"{gap.gap_acc:.3f}",
            gap.source,
        )
    if gaps.cache_problem is not None:
        note = f"could not write the gap cache: {gaps.cache_problem}"
        console.print(f"[yellow]note:[/] {note}", markup=False)
    console.print(table)
    for task in tasks:
        console.print(
            f"[bold]{task.name}[/]: {task.description}\n  weak: {task.weak_description}"
            f"\n  strong: {task.strong_description}",
            highlight=False,
        )


MethodOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        "-m",
        help="Student method (repeatable): naive, logconf, bootstrap, naive+es, "
        "logconf+es, bootstrap+es, or a MethodConfig file CONFIG.json (named after the file). "
        "Default: naive, logconf. weak and ceiling always run.",
    ),
]


@bench_app.command("run")
def run_cmd(
    task: Annotated[
        list[str] | None, typer.Option("--task", "-t", help="Task (repeatable); default: all.")
    ] = None,
    method: MethodOpt = None,
    seeds: Annotated[
        int | None, typer.Option(help="Number of seeds (42, 43, ...); default settings.")
    ] = None,
    device: DeviceOpt = "auto",
    out: Annotated[
        Path | None,
        typer.Option(help="New or empty results directory (default runs/bench-<time>)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the summary JSON to this new file.")
    ] = None,
) -> None:
    """Run weak, ceiling and student methods on tasks over seeds; exact holdout scores."""
    from aar.bench import (
        DEFAULT_METHODS,
        check_device,
        check_json_target,
        check_task_names,
        parse_methods,
        prepare_out_dir,
        resolve_seeds,
    )
    from aar.config import get_settings

    methods = parse_methods(method or list(DEFAULT_METHODS))
    seed_list = resolve_seeds(seeds)
    check_device(device)
    check_gpu_present(device)
    if task:
        task = list(dict.fromkeys(task))  # a task given twice runs once
        check_task_names(task)
    if json_path is not None:
        check_json_target(json_path)
    out_dir = prepare_out_dir(out, get_settings().runs_dir)

    from aar.bench import device_for, get_task, list_tasks

    device_for(device)  # CUDA asked for where there is none: before any training
    tasks = [get_task(t) for t in task] if task else list_tasks()
    result = _run_with_progress(tasks, methods, seed_list, device)
    print_results(result, len(seed_list))
    _write_outputs(result, out_dir, json_path)


def _run_with_progress(
    tasks: list[Task], methods: list[Method], seeds: list[int], device: str
) -> SuiteResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aar.bench import run_suite

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} tasks"),
        TimeElapsedColumn(),
        console=Console(),
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

        result = run_suite(tasks, methods, seeds, device, on_stage=on_stage)
        progress.update(bar, completed=len(tasks))
    return result


def _write_outputs(result: SuiteResult, out_dir: Path, json_path: Path | None) -> None:
    from aar.bench import summary_json, write_results
    from aar.files import write_new

    console = Console()
    write_results(result, out_dir)
    if json_path is not None:
        write_new(json_path, summary_json(result))
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
    from aar.bench import check_seed, check_task_names
    from aar.files import check_empty_or_creatable

    check_seed(seed, "--seed")
    check_task_names([task])
    check_empty_or_creatable(directory, "export directory")

    from aar.bench import export_public

    path = export_public(task, seed, directory)
    files = json.loads((path / "manifest.json").read_text())["files"]
    Console().print(f"exported {task} seed {seed} to {path} ({len(files)} files)")


@bench_app.command("evaluate")
def evaluate_cmd(
    predictions: Annotated[Path, typer.Argument(help="PREDICTIONS.npy, .csv or .json")],
    task: TaskOpt,
    seed: SeedOpt = 42,
    method: Annotated[str, typer.Option(help="Name of what you submit.")] = "submission",
    split: Annotated[
        str, typer.Option(help="'test' (the scorer's answer); holdout is refused on request.")
    ] = "test",
    code: Annotated[
        Path | None, typer.Option(help="File with the code that made the predictions (hashed).")
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            help="Evaluator log: the budget account that pays (default: one 'cli' account for "
            "the installation); the record is appended to it."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Score test (or holdout) predictions for a task and seed; prints an EvalRecord."""
    from aar.bench import (
        EvalLog,
        InvalidPredictionsError,
        check_label,
        check_seed,
        check_task_names,
        load_predictions,
        read_submission,
        recall_public_ids,
    )

    check_seed(seed, "--seed")
    if split not in ("test", "holdout"):
        raise InvalidPredictionsError(f"--split must be 'test' or 'holdout', got {split!r}")
    warn_named_split(predictions, split)
    if split == "holdout":
        from aar.bench import HoldoutRefusedError

        # Exact answers on request give the labels away: 85 one-row submissions recovered all
        # of breast-cancer seed 42's holdout labels, and seeds share their pool's rows.
        raise HoldoutRefusedError(
            "holdout is never scored on request (exact answers to repeated submissions give "
            "its labels away); its numbers come from `aar bench run` and from a session's end "
            "of round: submit to --split test"
        )
    check_label(method, "--method")
    code_sha = _hash_code(code)
    submission = read_submission(predictions)
    cached = recall_public_ids(task, seed, split)
    if cached is not None:  # refuse what cannot match before the task loads (see the cache)
        load_predictions(submission, *cached)
    if log is not None:
        EvalLog(log)  # a log that is not an evaluator log is refused before any work
    check_task_names([task])

    record = _score(task, seed, method, code_sha, submission, log)
    print_record(record, as_json)


def _score(
    task: str, seed: int, method: str, code_sha: str, submission: Any, log: Path | None
) -> EvalRecord:
    """Score on test (holdout is never scored on request) through the installation's scorer
    (the one ledger every session and command shares); a `--log` is the account that pays,
    and gets the record appended too."""
    import base64

    import numpy as np

    from aar.bench import EvalLog, git_commit, remember_public_ids
    from aar.config import get_settings
    from aar.scorer import Scorer, ScoreRequest

    budget = get_settings().bench.eval_budget
    account = "cli"
    old = None
    scorer = Scorer()
    if log is not None:
        old = EvalLog(log)
        account = f"log:{log.resolve()}"
        paid = scorer.charged(account)
        budget -= sum(1 for r in old.records if r.id not in paid)  # scored before the scorer
    evaluator = scorer.evaluator(task, seed)
    ids = {s: evaluator.ids(s) for s in ("test", "holdout")}
    remember_public_ids(task, seed, ids, evaluator.task.n_classes)
    probs = evaluator.load(submission, "test")
    response = scorer.score(
        ScoreRequest(
            task=task,
            seed=seed,
            split="test",
            method=method,
            code_sha256=code_sha,
            git_commit=git_commit(),
            account=account,
            budget=max(budget, 0),
            probs=probs.tolist(),
        )
    )
    if old is not None:
        old.append(response.record, np.frombuffer(base64.b64decode(response.hard), np.uint8))
    return response.record


def check_gpu_present(device: str) -> None:
    """`cuda` / `cuda:N` where the machine has no such GPU is refused from the device files,
    before torch is imported (importing it to ask took ~1.5 s of a usage error). Only a sure
    "no": with no /dev/nvidiaN, /dev/dxg (WSL) or /dev/kfd (ROCm) CUDA cannot be there, and
    cuda:N needs at least N+1 NVIDIA devices; anything else is left to torch, as before."""
    import glob
    import os

    if not device.startswith("cuda") or any(map(os.path.exists, ("/dev/dxg", "/dev/kfd"))):
        return
    gpus = [p for p in glob.glob("/dev/nvidia[0-9]*") if p[len("/dev/nvidia") :].isdigit()]
    index = int(device.partition(":")[2] or 0)
    if index >= len(gpus):
        from aar.bench import InvalidDeviceError

        have = f"{len(gpus)} NVIDIA GPU(s)" if gpus else "no NVIDIA GPU"
        raise InvalidDeviceError(
            f"device {device!r} requested but CUDA is not available (this machine has {have})"
        )


def _hash_code(code: Path | None) -> str:
    if code is None:
        return "unspecified"
    check_names(code, "--code")
    if not code.is_file():
        raise UsageError(f"--code {code} is not a file")
    try:
        return hashlib.sha256(code.read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"cannot read --code {code}: {exc.strerror}") from None
