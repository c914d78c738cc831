"""Render benchmark results: a Markdown table, a PGR figure, and the results directory."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

from aar.bench._errors import OutputDirError
from aar.bench._runner import SuiteResult, TaskResult
from aar.bench._stats import Summary


def fmt(s: Summary, digits: int = 2) -> str:
    """'0.53 ± 0.04 [0.45, 0.61]'; NaN parts are shown as 'n/a'."""
    if not math.isfinite(s.mean):
        return "n/a"
    out = f"{s.mean:.{digits}f}"
    if math.isfinite(s.se):
        out += f" ± {s.se:.{digits}f} [{s.ci[0]:.{digits}f}, {s.ci[1]:.{digits}f}]"
    return out


def markdown_table(result: SuiteResult) -> str:
    """Per task × method: holdout accuracy, PGR (acc) mean ± SE [95 % CI], PGR of means."""
    lines = [
        "| task | method | acc | PGR acc (mean ± SE [95% CI]) | PGR of mean acc "
        "| PGR AUROC | flags |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result.tasks.items():
        flags = "; ".join(r.flags) or ""
        lines.append(f"| {name} | weak | {fmt(r.weak.acc, 3)} | | | | {flags} |")
        lines.append(f"| {name} | ceiling | {fmt(r.ceiling.acc, 3)} | | | | |")
        for m, mr in r.methods.items():
            lines.append(
                f"| {name} | {m} | {fmt(mr.acc, 3)} | {fmt(mr.pgr_acc)} "
                f"| {mr.pgr_of_mean_acc:.2f} | {fmt(mr.pgr_auroc)} | |"
            )
    return "\n".join(lines)


def plot_pgr(result: SuiteResult, path: Path) -> Path:
    """Bar chart of mean PGR (accuracy) per task and method with 95 % bootstrap CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(result.tasks)
    methods = result.methods
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(tasks) * max(len(methods), 1) / 2), 4))
    for i, m in enumerate(methods):
        means, lo, hi = [], [], []
        for t in tasks:
            s = result.tasks[t].methods[m].pgr_acc
            means.append(s.mean)
            lo.append(s.mean - s.ci[0] if math.isfinite(s.ci[0]) else 0.0)
            hi.append(s.ci[1] - s.mean if math.isfinite(s.ci[1]) else 0.0)
        x = np.arange(len(tasks)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(x, means, width, yerr=[lo, hi], capsize=3, label=m)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(1, color="grey", linewidth=0.8, linestyle="--")
    labels = [t + (" (flagged)" if result.tasks[t].flags else "") for t in tasks]
    ax.set_xticks(np.arange(len(tasks)), labels, rotation=20, ha="right")
    ax.set_ylabel("PGR (accuracy, holdout)")
    ax.set_title(f"Weak-to-strong PGR, {len(result.seeds)} seeds, 95% bootstrap CI")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def prepare_out_dir(out: Path | None, runs_dir: Path) -> Path:
    """A new writable results directory: `out`, or `runs_dir/bench-<UTC timestamp>`."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = runs_dir / f"bench-{stamp}"
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output path {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create output directory {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise OutputDirError(f"output directory {out} is not writable")
    return out


def check_writable_file(path: Path) -> None:
    """Fail before a long run if a results file could not be written afterwards."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputDirError(f"--json {path} is a directory; give a file name")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputDirError(f"cannot write {path}: {parent} is not a writable directory")


def write_results(result: SuiteResult, out: Path) -> dict[str, Path]:
    """results.json (everything), summary.json (the --json layout), table.md, pgr.png."""
    paths = {
        "results": out / "results.json",
        "summary": out / "summary.json",
        "table": out / "table.md",
        "figure": out / "pgr.png",
    }
    paths["results"].write_text(result.model_dump_json(indent=2))
    paths["summary"].write_text(json.dumps(_json_safe(result.to_summary_json()), indent=2))
    paths["table"].write_text(markdown_table(result) + "\n")
    plot_pgr(result, paths["figure"])
    return paths


def _json_safe(obj: object) -> object:
    """NaN and infinities become null: strict JSON readers reject them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def task_gap_row(r: TaskResult) -> dict[str, object]:
    """What `aar bench list` caches per task: sizes and the measured seed-42 gap."""
    return {
        "sizes": r.sizes,
        "weak_acc": r.weak.acc.mean,
        "ceiling_acc": r.ceiling.acc.mean,
        "gap_acc": r.gap_acc.mean,
        "seeds": r.seeds,
        "student": r.student.model_dump(mode="json"),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
