"""What the method space can reach on the bench, under "choose on test, confirm on holdout".

For every built-in task and seed, a fixed grid of `MethodConfig`s (the ten legacy families at
their defaults, strong-feature geometry settings, and geometry combined with the other
components) trains on the weak labels; PGR (accuracy) per seed against the weak supervisor
and the ceiling (naive on ground truth) is computed on test and on holdout. Per task the
config with the best mean TEST PGR is chosen, and its HOLDOUT PGR is what is reported: the
test number of a winner among ~30 configs is optimistic, the holdout one is not, because the
choice never looked at it. Writes Markdown (stdout and `--out`) and the raw per-seed PGRs
(`--out` with `.json`).

    .venv/bin/python tools/bench/science_space.py [--seeds 5] [--out runs/science-space.md]
    .venv/bin/python tools/bench/science_space.py --quick   # 2 small tasks, a 2-seed smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIRST_SEED = 42
LEGACY_FAMILIES = (
    "naive",
    "logconf",
    "bootstrap",
    "early_stopping",
    "confidence_filter",
    "cotrain",
    "label_smoothing",
    "temperature",
    "control_random_flip",
    "control_hard_labels",
)
"""The ten `aar_methods` families of before the method space, at their defaults."""
BUILTIN = ("naive", "logconf", "bootstrap")
"""The families a session had before the method space: the "best built-in" baseline."""
LP: dict[str, Any] = {"neighbours": 10, "weight": 0.9, "steps": 10}
"""Label propagation (geometry 10 / 0.9 / 10), the geometry the combinations build on."""
QUICK_TASKS = ("breast-cancer", "digits-ge5")
SPLITS = ("test", "holdout")
TOP = 5


def grid() -> dict[str, Any]:
    """The candidate configs, fixed before any result is seen (so choosing among them on test
    is a plain multiple-choice, not an adaptive search): the legacy families, the geometry
    grid, geometry combined with each other component, a few single components, then any
    other family of `FAMILY_CONFIGS`. Equal configs keep the first name. The auxiliary loss
    hardens balanced, as everything aar writes now does (`with_balanced_hardening`)."""
    from aar.bench import with_balanced_hardening
    from aar.bench._train import recipes

    rec = recipes()
    raw: dict[str, dict] = {name: rec.FAMILY_CONFIGS[name].model_dump() for name in LEGACY_FAMILIES}
    for k in (10, 20):
        for w in (0.5, 0.9):
            for steps in (1, 10):
                raw[f"geo k{k} w{w} s{steps}"] = {
                    "geometry": {"neighbours": k, "weight": w, "steps": steps}
                }
    combos: dict[str, dict[str, Any]] = {
        "lp+logconf": {"loss": {"aux_coef": 0.5}},
        "lp+self1": {"training": {"self_training_rounds": 1}},
        "lp+bootstrap": {"training": {"bootstrap_stages": 2}},
        "lp+es": {"training": {"early_stopping": True, "patience": 2}},
        "lp+balanced_hard": {"labels": {"kind": "balanced_hard"}},
        "lp+ens4": {"ensemble": {"members": 4, "bagging": True}},
    }
    for name, parts in combos.items():
        raw[name] = {"geometry": LP, **parts}
    cosine = {"neighbours": 20, "weight": 0.99, "steps": 20, "metric": "cosine"}
    raw["cos k20 w0.99 s20"] = {"geometry": cosine}
    raw["cos k10 w0.9 s10"] = {"geometry": {**LP, "metric": "cosine"}}
    raw["raw k10 w0.9 s10"] = {"geometry": {**LP, "metric": "raw"}}
    raw["cos+self1"] = {"geometry": cosine, "training": {"self_training_rounds": 1}}
    raw["cos+logconf"] = {"geometry": cosine, "loss": {"aux_coef": 0.5}}
    raw["self1"] = {"training": {"self_training_rounds": 1}}
    raw["self2 w1.0"] = {"training": {"self_training_rounds": 2, "self_training_weight": 1.0}}
    raw["crossfit3"] = {"relabel": {"folds": 3, "weight": 0.5}}
    raw["ens4"] = {"ensemble": {"members": 4, "bagging": True}}
    for c in (0.25, 0.75):
        raw[f"logconf{c}+bootstrap"] = {
            "loss": {"aux_coef": c},
            "training": {"bootstrap_stages": 2},
        }
    for name, cfg in rec.FAMILY_CONFIGS.items():
        raw.setdefault(name, cfg.model_dump())
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for name, parts in raw.items():
        cfg = rec.MethodConfig.model_validate(with_balanced_hardening(parts))
        key = cfg.model_dump_json()
        if key not in seen:
            seen.add(key)
            out[name] = cfg
    return out


@dataclass
class TaskRun:
    """One task's per-seed PGRs: config -> split -> [PGR per seed], and how long each took."""

    task: str
    gap: dict[str, list[float]]
    pgr: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_task(task: Any, configs: dict[str, Any], seeds: list[int]) -> TaskRun:
    """Train every config on every seed of `task`; PGR per seed on test and holdout.

    The student sees exactly what the kernel sees (`seed_data`: weak labels, exported order);
    ground truth enters only here, on the host, to score against weak and ceiling. Each
    config's seeds train stacked in seed order and the ceiling one seed at a time, as
    `aar bench run` and a session's scripts train them (the same numbers).
    """
    from aar.bench._methods import seed_data
    from aar.bench._protocol import setup_seed
    from aar.bench._train import recipes

    rec = recipes()
    data = task.load()
    x = data.x_strong.astype(np.float32)
    setups = [setup_seed(task, data, s) for s in sorted(seeds)]

    def acc(st: Any, split: str, probs: np.ndarray) -> float:
        truth = st.to_public(split, st.labels(split))
        return float(np.mean(probs.argmax(1) == truth))

    ceiling_out = rec.train_config(
        rec.MethodConfig(), [seed_data(st, x, labels=True) for st in setups]
    )
    weak = {
        sp: [float(np.mean(st.weak_probs[sp].argmax(1) == st.labels(sp))) for st in setups]
        for sp in SPLITS
    }
    ceil = {
        sp: [acc(st, sp, o.probs[sp]) for st, o in zip(setups, ceiling_out, strict=True)]
        for sp in SPLITS
    }
    gap = {sp: [c - w for c, w in zip(ceil[sp], weak[sp], strict=True)] for sp in SPLITS}
    run = TaskRun(task.name, gap)
    data_seeds = [seed_data(st, x) for st in setups]
    for name, cfg in configs.items():
        t0 = time.perf_counter()
        outs = rec.train_config(cfg, data_seeds, batch=True)  # stacked, as the bench
        run.seconds[name] = time.perf_counter() - t0
        run.pgr[name] = {
            sp: [
                (acc(st, sp, o.probs[sp]) - w) / g if g != 0 else math.nan
                for st, o, w, g in zip(setups, outs, weak[sp], gap[sp], strict=True)
            ]
            for sp in SPLITS
        }
        print(
            f"  {task.name:22s} {name:24s} test {np.nanmean(run.pgr[name]['test']):+.3f} "
            f"holdout {np.nanmean(run.pgr[name]['holdout']):+.3f} ({run.seconds[name]:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
    return run


def mean(values: list[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def best_on_test(run: TaskRun, names: list[str]) -> str:
    """The candidate with the highest mean test PGR: holdout is never looked at."""
    return max(names, key=lambda n: (np.nan_to_num(mean(run.pgr[n]["test"]), nan=-np.inf), n))


def uniform_best(runs: list[TaskRun], names: list[str]) -> str:
    """The single config with the best mean over tasks of its mean test PGR."""
    return max(names, key=lambda n: float(np.nanmean([mean(r.pgr[n]["test"]) for r in runs])))


def fmt_summary(values: list[float]) -> str:
    from aar.bench import summarize

    s = summarize(values)
    return f"{s.mean:+.3f} ± {s.se:.3f} [{s.ci[0]:+.3f}, {s.ci[1]:+.3f}]"


def fmt_paired(method: list[float], baseline: list[float], seeds: list[int]) -> str:
    from aar.bench import paired_difference

    d = paired_difference(method, baseline, seeds=seeds)
    if d.n == 0 or not math.isfinite(d.mean):
        return "n/a"
    return f"{d.mean:+.3f} ± {d.se:.3f} [{d.ci[0]:+.3f}, {d.ci[1]:+.3f}] p={d.p_value:.2g}"


def chosen_table(runs: list[TaskRun], names: list[str], seeds: list[int]) -> list[str]:
    """Per task: the test-chosen config, its test mean, its holdout PGR and its paired holdout
    difference against naive (the honest columns)."""
    lines = [
        "| task | holdout gap | chosen on test | test PGR | holdout PGR mean ± SE [95% CI] "
        "| holdout PGR naive | holdout Δ vs naive (paired) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        c = best_on_test(r, names)
        lines.append(
            f"| {r.task} | {mean(r.gap['holdout']):.3f} | `{c}` | {mean(r.pgr[c]['test']):+.3f} "
            f"| {fmt_summary(r.pgr[c]['holdout'])} | {mean(r.pgr['naive']['holdout']):+.3f} "
            f"| {fmt_paired(r.pgr[c]['holdout'], r.pgr['naive']['holdout'], seeds)} |"
        )
    return lines


def medians(runs: list[TaskRun], names: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Median over tasks of test and holdout PGR for three selection rules and naive."""
    uni = uniform_best(runs, names)
    rules = {
        "space, best per task (chosen on test)": [best_on_test(r, names) for r in runs],
        "best built-in family per task (naive/logconf/bootstrap, chosen on test)": [
            best_on_test(r, list(BUILTIN)) for r in runs
        ],
        f"one config for all tasks (`{uni}`, best mean test PGR)": [uni] * len(runs),
        "naive": ["naive"] * len(runs),
    }
    lines = [
        "| selection rule | median test PGR | median holdout PGR |",
        "|---|---|---|",
    ]
    summary: dict[str, Any] = {"uniform_best": uni}
    for rule, chosen in rules.items():
        test = float(
            np.nanmedian([mean(r.pgr[c]["test"]) for r, c in zip(runs, chosen, strict=True)])
        )
        hold = float(
            np.nanmedian([mean(r.pgr[c]["holdout"]) for r, c in zip(runs, chosen, strict=True)])
        )
        lines.append(f"| {rule} | {test:+.3f} | **{hold:+.3f}** |")
        summary[rule] = {"test": test, "holdout": hold, "chosen": chosen}
    return lines, summary


def top_lists(runs: list[TaskRun], names: list[str]) -> list[str]:
    """The top configs per task by test PGR with their holdout PGR: the test -> holdout drop
    of the winners is the optimism of choosing on test."""
    lines = []
    for r in runs:
        ranked = sorted(names, key=lambda n: -np.nan_to_num(mean(r.pgr[n]["test"]), nan=-np.inf))
        cells = ", ".join(
            f"`{n}` {mean(r.pgr[n]['test']):+.3f} → {mean(r.pgr[n]['holdout']):+.3f}"
            for n in ranked[:TOP]
        )
        lines.append(f"- **{r.task}**: {cells}")
    return lines


CAVEAT = (
    "Caveat. The config is chosen on test among {n} candidates on {s} seeds, so the chosen "
    "config's test PGR is optimistic (it is the maximum of {n} noisy means); the holdout "
    "column is the honest one, because the choice never looked at holdout. The paired "
    "holdout difference vs naive uses the same seeds' splits and weak labels, and its "
    "p-value is one uncorrected paired t-test per task. These are the numbers of a bench "
    "sweep over a fixed grid with ground truth on the host, not of a session: a session's "
    "search runs under the scorer's feedback ladder and its budgets, and sees far fewer test "
    "evaluations than this sweep spends."
)


def commit() -> str:
    """HEAD's short hash, marked when the trainer or bench code differs from it (the numbers
    then come from code no commit holds)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--", "sandbox/kernel", "aar/bench").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (+ uncommitted changes to sandbox/kernel or aar/bench)" if dirty else head


def report(runs: list[TaskRun], names: list[str], seeds: list[int], seconds: float) -> tuple:
    """The Markdown report and the summary numbers."""
    med_lines, summary = medians(runs, names)
    per_config = {n: sum(r.seconds[n] for r in runs) for n in names}
    slowest = sorted(per_config, key=lambda n: -per_config[n])[:3]
    out = [
        f"### Method space under choose-on-test, confirm-on-holdout ({len(runs)} tasks, "
        f"seeds {seeds[0]}..{seeds[-1]}, {len(names)} configs)",
        "",
        "PGR on accuracy per seed, against the weak supervisor and the ceiling (naive on "
        "ground truth); mean over seeds.",
        "",
        "#### Median over tasks",
        "",
        *med_lines,
        "",
        "#### Per task: the config chosen on test, scored on holdout",
        "",
        *chosen_table(runs, names, seeds),
        "",
        f"#### Top {TOP} configs per task by test PGR (test → holdout)",
        "",
        *top_lists(runs, names),
        "",
        "#### Candidates",
        "",
        *(f"- `{n}`: {_changes(n)}" for n in names),
        "",
        CAVEAT.format(n=len(names), s=len(seeds)),
        "",
        f"_{seconds:.0f} s wall on {os.cpu_count()} CPU cores, commit {commit()}; slowest "
        "configs over all tasks: "
        + ", ".join(f"`{n}` {per_config[n]:.0f} s" for n in slowest)
        + "_",
    ]
    return "\n".join(out), summary


_GRID: dict[str, Any] = {}


def _changes(name: str) -> str:
    changes = _GRID[name].changes()
    return ", ".join(f"{k}={v}" for k, v in changes.items()) or "(naive)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/science-space.md"))
    parser.add_argument("--quick", action="store_true", help="2 small tasks, 2 seeds (smoke)")
    args = parser.parse_args()

    from aar.bench import list_tasks

    seeds = list(range(FIRST_SEED, FIRST_SEED + (2 if args.quick else args.seeds)))
    tasks = [t for t in list_tasks() if not args.quick or t.name in QUICK_TASKS]
    _GRID.update(grid())
    names = list(_GRID)
    t0 = time.perf_counter()
    runs = [run_task(t, _GRID, seeds) for t in tasks]
    text, summary = report(runs, names, seeds, time.perf_counter() - t0)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    raw = {r.task: {"gap": r.gap, "pgr": r.pgr, "seconds": r.seconds} for r in runs}
    args.out.with_suffix(".json").write_text(
        json.dumps({"seeds": seeds, "summary": summary, "tasks": raw}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
