"""Time the full benchmark suite, batched vs one model at a time, in one run.

Target: all built-in tasks x (weak, ceiling, naive, logconf) x 5 seeds in <= 20 s on a
2-core machine with text embeddings cached. Prints wall-clock seconds per task for the
batched trainer (all seeds and methods of a task stacked into one model) and for training
each model separately, their ratio, and how far the two disagree (they should match up to
float rounding).

    .venv/bin/python tools/bench/bench_suite.py [--seeds 5] [--skip-sequential] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["naive", "logconf"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--task", nargs="*", help="default: every registered task")
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import torch

    from aar.bench import get_task, list_tasks, run_suite
    from aar.bench._runner import load_data

    tasks = [get_task(t) for t in args.task] if args.task else list_tasks()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores: > 2 means others compete)")
    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    t0 = time.perf_counter()
    for task in tasks:
        load_data(task)
    load_s = time.perf_counter() - t0
    print(f"task data loaded (embedding cache read / pools built): {load_s:.2f} s\n")

    t0 = time.perf_counter()
    batched = run_suite(tasks, args.methods, args.seeds, args.device, batched=True)
    batched_s = time.perf_counter() - t0
    print(
        f"BATCHED  suite: {batched_s:6.2f} s  ({len(tasks)} tasks x weak, ceiling, "
        f"{', '.join(args.methods)} x {args.seeds} seeds; target <= 20 s)"
    )
    for name, r in batched.tasks.items():
        t = r.timings
        print(
            f"  {name:24s} {r.seconds:6.2f} s  (weak supervisors {t['weak_supervisor']:.2f} s, "
            f"students {t['students']:.2f} s)"
        )
    if args.skip_sequential:
        return
    t0 = time.perf_counter()
    single = run_suite(tasks, args.methods, args.seeds, args.device, batched=False)
    single_s = time.perf_counter() - t0
    print(f"\nONE-AT-A-TIME suite: {single_s:6.2f} s")
    for name, r in single.tasks.items():
        ratio = r.timings["students"] / batched.tasks[name].timings["students"]
        print(
            f"  {name:24s} {r.seconds:6.2f} s  (students {r.timings['students']:.2f} s: "
            f"{ratio:.1f}x the batched student time)"
        )
    diffs = [
        abs(b.holdout.acc - s.holdout.acc)
        for name in batched.tasks
        for m in args.methods
        for b, s in zip(
            batched.tasks[name].methods[m].seeds, single.tasks[name].methods[m].seeds, strict=True
        )
    ]
    train_b = sum(r.timings["students"] for r in batched.tasks.values())
    train_s = sum(r.timings["students"] for r in single.tasks.values())
    print(
        f"\nspeed-up, batched vs one-at-a-time (same run): whole suite {single_s / batched_s:.2f}x;"
    )
    print(f"  student training only {train_s:.2f} s vs {train_b:.2f} s = {train_s / train_b:.2f}x")
    print(f"max |holdout accuracy difference| batched vs one-at-a-time: {np.max(diffs):.4f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
