"""Science table: weak / ceiling / naive / logconf / bootstrap per task, and a gap sweep.

Writes Markdown (stdout and `--out`): per task the holdout accuracies of weak and ceiling,
and PGR (accuracy) mean ± SE [95 % bootstrap CI] over seeds for each method; a paired
comparison of logconf vs naive on the tasks with the largest gaps; and a sweep over the
synthetic task's weak-view noise showing how PGR moves with the gap.

    .venv/bin/python tools/bench/science.py [--seeds 5] [--out runs/science.md]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

METHODS = ["naive", "logconf", "bootstrap", "naive+es", "logconf+es"]
SWEEP_GAPS = [0.0, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0]


def _pgr_cell(mr: object) -> str:
    from aar.bench._report import fmt

    return fmt(mr.pgr_acc)  # type: ignore[attr-defined]


def task_table(results: dict, methods: list[str]) -> list[str]:
    lines = [
        "| task | weak acc | ceiling acc | gap | " + " | ".join(f"PGR {m}" for m in methods) + " |",
        "|---" * (4 + len(methods)) + "|",
    ]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1].gap_acc.mean):
        flag = " ⚑" if r.flags else ""
        cells = [_pgr_cell(r.methods[m]) for m in methods]
        lines.append(
            f"| {name}{flag} | {r.weak.acc.mean:.3f} | {r.ceiling.acc.mean:.3f} | "
            f"{r.gap_acc.mean:.3f} | " + " | ".join(cells) + " |"
        )
    return lines


def paired(results: dict, a: str, b: str, top: int) -> list[str]:
    """Per-seed PGR(a) − PGR(b) on the `top` unflagged tasks with the largest gaps.

    Both methods share splits, weak labels and initialisation per seed, so the paired
    difference has much less noise than comparing the two means.
    """
    from aar.bench import summarize

    ranked = sorted((r for r in results.values() if not r.flags), key=lambda r: -r.gap_acc.mean)[
        :top
    ]
    lines = []
    for r in ranked:
        d = [
            x.pgr_acc - y.pgr_acc
            for x, y in zip(r.methods[a].seeds, r.methods[b].seeds, strict=True)
        ]
        s = summarize(d)
        verdict = (
            f"{a} better"
            if s.ci[0] > 0
            else f"{b} better"
            if s.ci[1] < 0
            else "no significant difference"
        )
        lines.append(
            f"- {r.task} (gap {r.gap_acc.mean:.3f}): PGR {a} − {b} = {s.mean:+.3f} ± {s.se:.3f} "
            f"[{s.ci[0]:+.3f}, {s.ci[1]:+.3f}] → {verdict}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/science.md"))
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()

    from aar.bench import list_tasks, run_task
    from aar.bench.tasks import make_synthetic_task

    t0 = time.perf_counter()
    results = {t.name: run_task(t, METHODS, args.seeds, args.device) for t in list_tasks()}
    out = [
        f"### Built-in tasks: PGR (accuracy, holdout), {args.seeds} seeds, "
        "mean ± SE [95% bootstrap CI]",
        "",
        *task_table(results, METHODS),
        "",
        "⚑ = flagged (gap below `bench.min_gap` or a seed with a non-positive gap).",
        "",
        "#### logconf vs naive, paired per seed (tasks by decreasing gap)",
        "",
        *paired(results, "logconf", "naive", top=len(results)),
        "",
        "#### PGR of mean accuracies vs mean of per-seed PGR (naive)",
        "",
        *(
            f"- {n}: {r.methods['naive'].pgr_of_mean_acc:.3f} vs "
            f"{r.methods['naive'].pgr_acc.mean:.3f}"
            for n, r in results.items()
        ),
    ]
    if not args.skip_sweep:
        sweep = {}
        for gap in SWEEP_GAPS:
            task = make_synthetic_task(gap, name=f"sweep-gap-{gap:g}")
            sweep[f"noise {gap:g}"] = run_task(task, ["naive", "logconf"], args.seeds, args.device)
        out += [
            "",
            f"### Synthetic sweep: weak-view noise → gap → PGR ({args.seeds} seeds)",
            "",
            "| weak noise | weak acc | ceiling acc | gap | PGR naive | PGR logconf |",
            "|---|---|---|---|---|---|",
        ]
        for label, r in sweep.items():
            out.append(
                f"| {label}{' ⚑' if r.flags else ''} | {r.weak.acc.mean:.3f} | "
                f"{r.ceiling.acc.mean:.3f} | {r.gap_acc.mean:.3f} | "
                f"{_pgr_cell(r.methods['naive'])} | {_pgr_cell(r.methods['logconf'])} |"
            )
    out += ["", f"_{time.perf_counter() - t0:.0f} s on device {args.device}_"]
    text = "\n".join(out)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
