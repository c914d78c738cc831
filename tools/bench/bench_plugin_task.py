"""Does a task aar has never seen get a confirmed method from one offline `aar run`?

Run: `.venv/bin/python tools/bench/bench_plugin_task.py [--task keyed-clusters]
[--hypotheses 3] [--seeds 5]`. It registers `tools/bench/plugin_task/my_tasks.py` exactly as
the README says (`AAR_BENCH__PLUGINS='["my_tasks"]'`, the folder on `PYTHONPATH`), then, in a
throw-away directory (the session writes runs/ and memory/ there):

1. `aar bench run -t TASK -m naive` for the task's weak, ceiling and naive holdout numbers;
2. `aar run -t TASK` with the scripted researcher and default budgets;

and prints the round's answer row from its `report.json` (the chosen method, its confirmed
holdout PGR vs naive with the 95 % t-interval and the Holm-adjusted p) and the wall times.
Exit 0 when the answer names a confirmed method, 1 when naive stands (a measured "no").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_task"
PLUGIN_MODULE = "my_tasks"
DEFAULT_TASK = "keyed-clusters"


def plugin_env() -> dict[str, str]:
    """The environment that registers the plug-in the README's first way."""
    env = dict(os.environ)
    env["AAR_BENCH__PLUGINS"] = json.dumps([PLUGIN_MODULE])
    paths = [str(PLUGIN_DIR), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def aar(args: list[str], cwd: Path) -> float:
    """Run the `aar` CLI of this interpreter in `cwd`; its wall time in seconds."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aar", *args],
        cwd=cwd,
        env=plugin_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"aar {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return time.perf_counter() - t0


def baselines(task: str, seeds: int, work: Path) -> dict[str, Any]:
    """Weak, ceiling and naive on holdout, from `aar bench run`'s summary JSON."""
    summary = work / "bench.json"
    wall = aar(
        [
            "bench",
            "run",
            "-t",
            task,
            "-m",
            "naive",
            "--seeds",
            str(seeds),
            "--out",
            str(work / "bench"),
            "--json",
            str(summary),
        ],
        work,
    )
    entry = json.loads(summary.read_text())["tasks"][task]
    naive = entry["methods"]["naive"]
    return {
        "weak": entry["weak"]["acc_mean"],
        "ceiling": entry["ceiling"]["acc_mean"],
        "naive_acc": naive["acc_mean"],
        "naive_pgr": naive["pgr_acc_mean"],
        "naive_ci": naive["pgr_acc_ci"],
        "wall_s": wall,
    }


def session(task: str, seeds: int, hypotheses: int, work: Path) -> tuple[dict[str, Any], float]:
    """One default `aar run` on the task; the round's report.json and the wall time (the
    report.md's answer table is printed as the report shows it)."""
    args = ["run", "-t", task, "--seeds", str(seeds), "--hypotheses", str(hypotheses)]
    wall = aar(args, work)
    reports = sorted(work.glob("runs/s-*/rounds/1/report.json"))
    if len(reports) != 1:
        sys.exit(f"expected one round report under {work}/runs, found {len(reports)}")
    markdown = (reports[0].parent / "report.md").read_text().splitlines()
    start = markdown.index("## The answer")
    print("\n".join(line for line in markdown[start : start + 8] if line.startswith("|")))
    return json.loads(reports[0].read_text()), wall


def answer_row(report: dict[str, Any], task: str) -> dict[str, Any]:
    """The report's answer for `task` (naive when none was confirmed)."""
    return next(row for row in report["answer"] if row["task"] == task)


def show(task: str, base: dict[str, Any], row: dict[str, Any], wall: float) -> None:
    """Print the numbers the check is judged on."""
    lo, hi = base["naive_ci"]
    print(
        f"task {task}: holdout accuracy weak {base['weak']:.3f}, ceiling {base['ceiling']:.3f}"
        f" (gap {base['ceiling'] - base['weak']:.3f}), naive {base['naive_acc']:.3f}; naive PGR"
        f" {base['naive_pgr']:.3f} [{lo:.3f}, {hi:.3f}] ({base['wall_s']:.1f} s)"
    )
    if row["effect"] is None:
        print(
            f"answer: naive stands ({row['tested']} methods tested, "
            f"{row['confirmations']} confirmation tests, none confirmed better)"
        )
    else:
        mean, lo, hi = row["effect"]
        print(
            f"answer: {row['method']} ({row.get('changes') or row['params']}); holdout PGR vs"
            f" naive {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] on {len(row['effect_seeds'])} fresh"
            f" seeds, adjusted p {row['adjusted_p']:.3g}; {row['candidates']} of"
            f" {row['tested']} methods confirmed"
        )
    print(f"session wall time {wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hypotheses", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aar-plugin-") as tmp:
        work = Path(tmp)
        base = baselines(args.task, args.seeds, work)
        report, wall = session(args.task, args.seeds, args.hypotheses, work)
        row = answer_row(report, args.task)
        show(args.task, base, row, wall)
        print(json.dumps({"baselines": base, "answer": row, "session_wall_s": wall}))
    sys.exit(0 if row["effect"] is not None else 1)


if __name__ == "__main__":
    main()
