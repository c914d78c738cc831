"""Run the benchmark: tasks × methods × seeds, scored exactly on holdout.

`run_task` is the one entry point to run one task (the tasks helper tunes tasks with it);
`run_suite` runs several and collects a JSON-ready `SuiteResult`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from aar.bench._errors import InvalidDeviceError, InvalidSeedsError
from aar.bench._method_spec import DEFAULT_METHODS, Method, parse_methods
from aar.bench._protocol import SCORED_SPLITS, SeedSetup, setup_seed, validate_data
from aar.bench._stats import Summary, accuracy, auroc, pgr, summarize
from aar.bench._task import StudentConfig, Task, TaskData
from aar.config import DEVICE_PATTERN, SEED_MAX

if TYPE_CHECKING:  # torch: imported by the functions that train
    import torch

MAX_SEEDS = 100
REPORT_SPLIT = "holdout"
"""The final numbers come from holdout; test is the feedback split of research sessions."""

_DATA_CACHE: dict[int, tuple[Task, str, TaskData]] = {}


def load_data(task: Task) -> TaskData:
    """`task.load()` once per process and `data_token()` (text tasks embed their inputs).
    Refused where a scorer service holds the labels (`LabelsElsewhereError`)."""
    from aar.bench._key import labels_here

    labels_here(f"task {task.name}'s data")
    token = task.data_token()
    hit = _DATA_CACHE.get(id(task))
    if hit is not None and hit[0] is task and hit[1] == token:
        return hit[2]
    data = task.load()
    validate_data(task, data)
    _DATA_CACHE[id(task)] = (task, token, data)
    return data


def resolve_task(task: Task | str) -> Task:
    """A task instance, or the registered task of that name (`UnknownTaskError` otherwise)."""
    if isinstance(task, Task):
        return task
    from aar.bench._registry import get_task

    return get_task(task)


def check_seed(seed: object, what: str = "seed") -> int:
    """A protocol seed: an integer in [0, 2**32 - 1] (what numpy, sklearn and torch all take)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidSeedsError(f"{what} must be an integer, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise InvalidSeedsError(f"{what} must be between 0 and {SEED_MAX}, got {seed}")
    return int(seed)


def resolve_seeds(seeds: int | Sequence[int] | None) -> list[int]:
    """A seed count (from 42 up) or an explicit list; `None` is `settings.bench.seeds`."""
    if seeds is None:
        from aar.config import get_settings

        seeds = get_settings().bench.seeds
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_SEEDS:
            raise InvalidSeedsError(f"seed count must be between 1 and {MAX_SEEDS}, got {seeds}")
        return list(range(42, 42 + seeds))
    seeds = list(seeds)
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise InvalidSeedsError(f"give between 1 and {MAX_SEEDS} seeds, got {len(seeds)}")
    seeds = [check_seed(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise InvalidSeedsError(f"seeds must be distinct, got {seeds}")
    return seeds


def check_device(device: str) -> str:
    """'auto', 'cpu', 'cuda' or 'cuda:N', checked without importing torch."""
    if not isinstance(device, str) or not re.fullmatch(DEVICE_PATTERN, device):
        raise InvalidDeviceError(
            f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        )
    return device


def device_for(device: str) -> torch.device:
    """The torch device for `device`; CUDA asked for but missing is one clear error."""
    from aar.bench._train import resolve_device

    check_device(device)
    try:
        return resolve_device(device)
    except ValueError as exc:
        raise InvalidDeviceError(str(exc)) from None


class SplitMetrics(BaseModel):
    """Scores of one model on one split."""

    acc: float
    auroc: float


class SeedRecord(BaseModel):
    """One method on one seed: scores on test and holdout, PGR on holdout."""

    seed: int
    test: SplitMetrics
    holdout: SplitMetrics
    pgr_acc: float
    pgr_auroc: float


class MethodResult(BaseModel):
    """One method over all seeds (PGR on holdout)."""

    acc: Summary
    auroc: Summary
    pgr_acc: Summary
    pgr_auroc: Summary
    pgr_of_mean_acc: float = Field(description="PGR of the mean accuracies (vs mean of PGRs).")
    pgr_of_mean_auroc: float
    seeds: list[SeedRecord]


class TaskResult(BaseModel):
    """A task's weak and ceiling baselines and its student methods, over seeds."""

    task: str
    n_classes: int
    seeds: list[int]
    sizes: dict[str, int]
    student: StudentConfig
    device: str
    weak: MethodResult
    ceiling: MethodResult
    methods: dict[str, MethodResult]
    gap_acc: Summary
    gap_auroc: Summary
    flags: list[str] = Field(description="e.g. 'small_gap': PGR on this task is not meaningful.")
    seconds: float
    timings: dict[str, float] = Field(
        default_factory=dict, description="Seconds: load, weak_supervisor, students (all seeds)."
    )


def _public_metrics(setup: SeedSetup, split: str, probs: np.ndarray) -> SplitMetrics:
    """Scores of `probs` (in `Splits.rows` order) computed as the evaluator computes them:
    rows in exported order, probabilities as float64 (what `load_predictions` makes of a
    submission), so a session's records and the bench give exactly the same numbers."""
    y = setup.to_public(split, setup.labels(split))
    p = setup.to_public(split, np.asarray(probs, dtype=np.float64))
    return SplitMetrics(acc=accuracy(y, p), auroc=auroc(y, p))


def _method_result(
    scores: dict[int, dict[str, SplitMetrics]],
    weak: dict[int, dict[str, SplitMetrics]],
    ceiling: dict[int, dict[str, SplitMetrics]],
) -> MethodResult:
    records = []
    for seed, by_split in scores.items():
        w, c, s = weak[seed][REPORT_SPLIT], ceiling[seed][REPORT_SPLIT], by_split[REPORT_SPLIT]
        records.append(
            SeedRecord(
                seed=seed,
                test=by_split["test"],
                holdout=by_split["holdout"],
                pgr_acc=pgr(s.acc, w.acc, c.acc),
                pgr_auroc=pgr(s.auroc, w.auroc, c.auroc),
            )
        )

    def mean(d: dict[int, dict[str, SplitMetrics]], metric: str) -> float:
        return float(np.mean([getattr(v[REPORT_SPLIT], metric) for v in d.values()]))

    return MethodResult(
        acc=summarize([r.holdout.acc for r in records]),
        auroc=summarize([r.holdout.auroc for r in records]),
        pgr_acc=summarize([r.pgr_acc for r in records]),
        pgr_auroc=summarize([r.pgr_auroc for r in records]),
        pgr_of_mean_acc=pgr(mean(scores, "acc"), mean(weak, "acc"), mean(ceiling, "acc")),
        pgr_of_mean_auroc=pgr(mean(scores, "auroc"), mean(weak, "auroc"), mean(ceiling, "auroc")),
        seeds=records,
    )


def run_task(
    task: Task,
    methods: Sequence[str | Method] = DEFAULT_METHODS,
    seeds: int | Sequence[int] | None = None,
    device: str = "auto",
    *,
    batched: bool = True,
    min_gap: float | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TaskResult:
    """Weak, ceiling and `methods` on `task` for every seed, scored exactly on holdout.

    Each method's seeds train as one stacked model, sorted by seed, as a session's kernel
    stacks them (identical numbers; `batched=False`: every model alone, as scripts written
    before stacking trained). Every split is scored in its exported order, as the evaluator
    scores it.
    Tasks whose mean holdout accuracy gap is below `min_gap` (default
    `settings.bench.min_gap`), or with a seed whose gap is not positive, are flagged.
    """
    from aar.bench._methods import train_students

    start = time.perf_counter()
    parsed = parse_methods(list(methods))
    seed_list = resolve_seeds(seeds)
    min_gap = _settings_min_gap() if min_gap is None else min_gap
    dev = device_for(device)
    data = load_data(task)
    if on_stage is not None:
        on_stage("weak supervisor")
    t_weak = time.perf_counter()
    setups: list[SeedSetup] = [setup_seed(task, data, s) for s in seed_list]
    t_students = time.perf_counter()
    preds = train_students(setups, parsed, device=str(dev), batched=batched, on_stage=on_stage)
    timings = {
        "load": t_weak - start,
        "weak_supervisor": t_students - t_weak,
        "students": time.perf_counter() - t_students,
    }

    def trained(name: str) -> Callable[[SeedSetup, str], np.ndarray]:
        return lambda st, s: preds[name][st.seed][s]

    weak = _scores(setups, lambda st, s: st.weak_probs[s])
    ceiling = _scores(setups, trained("ceiling"))
    gaps_acc = [ceiling[s][REPORT_SPLIT].acc - weak[s][REPORT_SPLIT].acc for s in seed_list]
    gaps_auroc = [ceiling[s][REPORT_SPLIT].auroc - weak[s][REPORT_SPLIT].auroc for s in seed_list]
    return TaskResult(
        task=task.name,
        n_classes=task.n_classes,
        seeds=seed_list,
        sizes=setups[0].splits.sizes(),
        student=task.student,
        device=str(dev),
        weak=_method_result(weak, weak, ceiling),
        ceiling=_method_result(ceiling, weak, ceiling),
        methods={
            m.name: _method_result(_scores(setups, trained(m.name)), weak, ceiling) for m in parsed
        },
        gap_acc=summarize(gaps_acc),
        gap_auroc=summarize(gaps_auroc),
        flags=_gap_flags(gaps_acc, min_gap),
        seconds=time.perf_counter() - start,
        timings=timings,
    )


def _scores(
    setups: list[SeedSetup], get_probs: Callable[[SeedSetup, str], np.ndarray]
) -> dict[int, dict[str, SplitMetrics]]:
    """Public metrics of every seed and scored split, for one source of probabilities."""
    return {
        st.seed: {s: _public_metrics(st, s, get_probs(st, s)) for s in SCORED_SPLITS}
        for st in setups
    }


def _settings_min_gap() -> float:
    from aar.config import get_settings

    return get_settings().bench.min_gap


def _gap_flags(gaps_acc: list[float], min_gap: float) -> list[str]:
    """Why a task's weak-to-ceiling gap is too small for PGR to mean anything."""
    flags = []
    if not np.mean(gaps_acc) >= min_gap:
        flags.append(f"small_gap: ceiling - weak accuracy {np.mean(gaps_acc):.3f} < {min_gap}")
    if any(not g > 0 for g in gaps_acc):
        flags.append("non_positive_gap: some seed has ceiling <= weak accuracy")
    return flags


class SuiteResult(BaseModel):
    """Several tasks; cross-task means leave out flagged tasks (and say which)."""

    tasks: dict[str, TaskResult]
    methods: list[str]
    seeds: list[int]
    device: str
    seconds: float
    git_commit: str | None = None
    excluded_from_means: list[str] = Field(default_factory=list)
    mean_pgr_acc: dict[str, float] = Field(default_factory=dict)
    method_configs: dict[str, dict] = Field(default_factory=dict)
    """Each method's `MethodConfig` (what `--method CONFIG.json` reproduces)."""

    def to_summary_json(self) -> dict:
        """The `aar bench run --json` layout (plus hyper-parameters, sizes and provenance)."""
        tasks = {}
        for name, r in self.tasks.items():
            tasks[name] = {
                "n_classes": r.n_classes,
                "sizes": r.sizes,
                "student": r.student.model_dump(),
                "flags": r.flags,
                "gap_acc_mean": r.gap_acc.mean,
                "weak": {"acc_mean": r.weak.acc.mean, "auroc_mean": r.weak.auroc.mean},
                "ceiling": {"acc_mean": r.ceiling.acc.mean, "auroc_mean": r.ceiling.auroc.mean},
                "methods": {
                    m: {
                        "pgr_acc_mean": mr.pgr_acc.mean,
                        "pgr_acc_se": mr.pgr_acc.se,
                        "pgr_acc_ci": list(mr.pgr_acc.ci),
                        "pgr_auroc_mean": mr.pgr_auroc.mean,
                        "pgr_auroc_se": mr.pgr_auroc.se,
                        "pgr_auroc_ci": list(mr.pgr_auroc.ci),
                        "pgr_of_mean_acc": mr.pgr_of_mean_acc,
                        "acc_mean": mr.acc.mean,
                        "auroc_mean": mr.auroc.mean,
                        "seeds": [s.model_dump() for s in mr.seeds],
                    }
                    for m, mr in r.methods.items()
                },
            }
        return {
            "tasks": tasks,
            "seconds": self.seconds,
            "seeds": self.seeds,
            "methods": self.methods,
            "device": self.device,
            "split": REPORT_SPLIT,
            "git_commit": self.git_commit,
            "excluded_from_means": self.excluded_from_means,
            "method_configs": self.method_configs,
            "mean_pgr_acc": self.mean_pgr_acc,
        }


def run_suite(
    tasks: Sequence[Task],
    methods: Sequence[str | Method] = DEFAULT_METHODS,
    seeds: int | Sequence[int] | None = None,
    device: str = "auto",
    *,
    batched: bool = True,
    on_stage: Callable[[str, str], None] | None = None,
) -> SuiteResult:
    """`run_task` for each task; `on_stage(task, stage)` reports progress."""
    start = time.perf_counter()
    chosen = parse_methods(list(methods))
    parsed = [m.name for m in chosen]
    seed_list = resolve_seeds(seeds)
    dev = device_for(device)
    results: dict[str, TaskResult] = {}
    for task in tasks:
        cb = None if on_stage is None else (lambda stage, t=task.name: on_stage(t, stage))
        results[task.name] = run_task(task, chosen, seed_list, device, batched=batched, on_stage=cb)
    excluded = [name for name, r in results.items() if r.flags]
    kept = [r for name, r in results.items() if name not in excluded]
    means = {
        m: float(np.mean([r.methods[m].pgr_acc.mean for r in kept])) if kept else math.nan
        for m in parsed
    }
    return SuiteResult(
        tasks=results,
        methods=parsed,
        method_configs={m.name: m.config for m in chosen},
        seeds=seed_list,
        device=str(dev),
        seconds=time.perf_counter() - start,
        git_commit=git_commit(),
        excluded_from_means=excluded,
        mean_pgr_acc=means,
    )


def git_commit() -> str | None:
    """The commit of the aar checkout (with `-dirty` if it has uncommitted changes), if any."""
    import git

    try:
        repo = git.Repo(Path(__file__).resolve().parent, search_parent_directories=True)
        sha = repo.head.commit.hexsha
        return f"{sha}-dirty" if repo.is_dirty(untracked_files=False) else sha
    except (git.GitError, ValueError):
        return None
