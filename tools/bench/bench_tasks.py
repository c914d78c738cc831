"""Measure the built-in tasks with the real protocol runner: the numbers in the README.

Prints, per task: pool size, feature widths, split sizes, weak / ceiling / naive accuracy on
test and holdout (mean over seeds), the gap and naive PGR; then the text task's load times
and, with --sweep, weak/ceiling/naive PGR of the synthetic task over its `gap` parameter.

    .venv/bin/python tools/bench/bench_tasks.py [--seeds 5] [--first-run] [--sweep]

--first-run embeds the Rotten Tomatoes corpus again into a temporary cache directory (the
one-time cost a fresh machine pays; minutes on 2 cores). Timings depend on machine load:
the script prints the load average next to them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from aar.bench import list_tasks, run_task
from aar.bench.tasks import RottenTomatoesTask, make_synthetic_task


def _mean_test(result: object) -> float:
    return float(np.mean([s.test.acc for s in result.seeds]))  # type: ignore[attr-defined]


def task_table(seeds: list[int]) -> None:
    print(f"seeds {seeds}; student = task.student; methods: naive (cross-entropy on weak labels)")
    print(
        "| task | n | d_strong | d_weak | weak_train/transfer/test/holdout | weak acc test | "
        "ceiling acc test | gap test | naive PGR test | weak / ceiling / naive holdout | "
        "naive PGR holdout (mean ± SE) | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task in list_tasks():
        data = task.load()
        start = time.perf_counter()
        r = run_task(task, ["naive"], seeds, "cpu")
        naive = r.methods["naive"]
        w, c, s = _mean_test(r.weak), _mean_test(r.ceiling), _mean_test(naive)
        sizes = "/".join(str(r.sizes[k]) for k in ("weak_train", "transfer", "test", "holdout"))
        print(
            f"| {task.name} | {len(data.y)} | {data.x_strong.shape[1]} | {data.x_weak.shape[1]} "
            f"| {sizes} | {w:.3f} | {c:.3f} | {c - w:+.3f} | {(s - w) / (c - w):.2f} "
            f"| {r.weak.acc.mean:.3f} / {r.ceiling.acc.mean:.3f} / {naive.acc.mean:.3f} "
            f"| {naive.pgr_acc.mean:.2f} ± {naive.pgr_acc.se:.2f} "
            f"| {time.perf_counter() - start:.1f} |" + (f" flags: {r.flags}" if r.flags else "")
        )


def text_timings(first_run: bool) -> None:
    code = (
        "import time; t=time.perf_counter(); from aar.bench import get_task; "
        "i=time.perf_counter(); get_task('rt-sentiment').load(); "
        "print(f'{i-t:.2f} {time.perf_counter()-i:.2f}')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imp, load = out.stdout.split()
    print(
        f"rt-sentiment, fresh process: import aar.bench {imp} s, load() from the disk cache "
        f"{load} s (load average {os.getloadavg()[0]:.1f})"
    )
    task = RottenTomatoesTask()
    task.load()
    start = time.perf_counter()
    task.load()
    print(f"rt-sentiment, second load() in a process: {1e3 * (time.perf_counter() - start):.3f} ms")
    if first_run:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            RottenTomatoesTask(cache_dir=cache).load()
            print(
                f"rt-sentiment, first run (embed 4,866 snippets + write cache): "
                f"{time.perf_counter() - start:.1f} s (load average {os.getloadavg()[0]:.1f})"
            )


def gap_sweep(seeds: list[int]) -> None:
    print("synthetic task over `gap` (holdout, mean over seeds):")
    print("| gap | weak acc | ceiling acc | ceiling - weak | naive acc | naive PGR of means |")
    print("|---|---|---|---|---|---|")
    for gap in (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0):
        r = run_task(make_synthetic_task(gap), ["naive"], seeds, "cpu")
        naive = r.methods["naive"]
        print(
            f"| {gap:g} | {r.weak.acc.mean:.3f} | {r.ceiling.acc.mean:.3f} | "
            f"{r.gap_acc.mean:+.3f} | {naive.acc.mean:.3f} | {naive.pgr_of_mean_acc:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 42, 43, ... (default 5)")
    parser.add_argument("--first-run", action="store_true", help="time a fresh embedding")
    parser.add_argument("--sweep", action="store_true", help="sweep the synthetic gap")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = list(range(42, 42 + args.seeds))
    task_table(seeds)
    text_timings(args.first_run)
    if args.sweep:
        gap_sweep(seeds)


if __name__ == "__main__":
    main()
