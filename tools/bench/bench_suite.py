"""Time the full benchmark suite, stacked (the default) vs one model at a time, in one run.

Target: all built-in tasks x (weak, ceiling, naive, logconf) x 5 seeds in <= 20 s on a
2-core machine with text embeddings cached. Prints wall-clock seconds per task for stacked
training (the default since issue 20: each method's seeds of a task as one stacked model,
what `aar bench run` and a session's scripts do) and for training each model separately
(`batched=False`), their ratio, and how far the two disagree (they match up to float
rounding). The ceiling trains one seed at a time in both runs (the `Evaluator` trains it so),
so the methods' own training time is printed apart from it: that ratio is what stacking buys
each experiment a session runs.

    .venv/bin/python tools/bench/bench_suite.py [--seeds 5] [--skip-sequential] [--device cpu]
    .venv/bin/python tools/bench/bench_suite.py --task digits-ge5 digits-10 breast-cancer
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Stages:
    """When each task's stages began (`run_suite`'s `on_stage`): the ceiling's own time."""

    def __init__(self) -> None:
        self.began: dict[str, dict[str, float]] = {}

    def __call__(self, task: str, stage: str) -> None:
        self.began.setdefault(task, {})[stage] = time.perf_counter()

    def ceiling_s(self, task: str, first_method: str) -> float:
        began = self.began[task]
        return began[first_method] - began["ceiling"]


@dataclass
class Timed:
    """A suite's result, its wall time, and per task the seconds its methods took."""

    tasks: dict[str, Any]
    wall_s: float
    methods_s: dict[str, float]


def timed_suite(tasks: list, methods: list[str], seeds: int, device: str, batched: bool) -> Timed:
    """`run_suite` with, per task, the seconds its methods (students minus ceiling) took."""
    from aar.bench import run_suite

    stages = Stages()
    t0 = time.perf_counter()
    result = run_suite(tasks, methods, seeds, device, batched=batched, on_stage=stages)
    wall = time.perf_counter() - t0
    own = {
        name: r.timings["students"] - stages.ceiling_s(name, methods[0])
        for name, r in result.tasks.items()
    }
    return Timed(result.tasks, wall, own)


def show(title: str, suite: Timed) -> None:
    print(f"{title} suite: {suite.wall_s:6.2f} s")
    for name, r in suite.tasks.items():
        t = r.timings
        print(
            f"  {name:24s} {r.seconds:6.2f} s  (weak supervisors {t['weak_supervisor']:.2f} s, "
            f"students {t['students']:.2f} s, of which methods {suite.methods_s[name]:.2f} s)"
        )


def compare(stacked: Timed, single: Timed, methods: list[str]) -> None:
    """Same-run ratios (whole suite, students, methods alone) and the largest disagreement."""
    import numpy as np

    print("\nper task, one-at-a-time / stacked: students (with ceiling), methods alone")
    for name in stacked.tasks:
        students = single.tasks[name].timings["students"] / stacked.tasks[name].timings["students"]
        own = single.methods_s[name] / stacked.methods_s[name]
        print(f"  {name:24s} {students:5.2f}x  {own:5.2f}x")
    diffs = [
        abs(b.holdout.acc - s.holdout.acc)
        for name in stacked.tasks
        for m in methods
        for b, s in zip(
            stacked.tasks[name].methods[m].seeds, single.tasks[name].methods[m].seeds, strict=True
        )
    ]
    train_b = sum(r.timings["students"] for r in stacked.tasks.values())
    train_s = sum(r.timings["students"] for r in single.tasks.values())
    own_b, own_s = sum(stacked.methods_s.values()), sum(single.methods_s.values())
    print(
        f"\nspeed-up, stacked vs one-at-a-time (same run): whole suite "
        f"{single.wall_s / stacked.wall_s:.2f}x;"
    )
    print(f"  student training {train_s:.2f} s vs {train_b:.2f} s = {train_s / train_b:.2f}x")
    print(f"  methods alone (no ceiling) {own_s:.2f} s vs {own_b:.2f} s = {own_s / own_b:.2f}x")
    print(f"max |holdout accuracy difference| stacked vs one-at-a-time: {np.max(diffs):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["naive", "logconf"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--task", nargs="*", help="default: every registered task")
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    import torch

    from aar.bench import get_task, list_tasks
    from aar.bench._runner import load_data

    tasks = [get_task(t) for t in args.task] if args.task else list_tasks()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores: > 2 means others compete)")
    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    t0 = time.perf_counter()
    for task in tasks:
        load_data(task)
    loaded = time.perf_counter() - t0
    print(f"task data loaded (embedding cache read / pools built): {loaded:.2f} s")
    print(
        f"{len(tasks)} tasks x weak, ceiling, {', '.join(args.methods)} x {args.seeds} seeds; "
        "target <= 20 s\n"
    )
    stacked = timed_suite(tasks, args.methods, args.seeds, args.device, batched=True)
    show("STACKED (default)", stacked)
    if args.skip_sequential:
        return
    single = timed_suite(tasks, args.methods, args.seeds, args.device, batched=False)
    show("\nONE-AT-A-TIME (batched=False)", single)
    compare(stacked, single, args.methods)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
