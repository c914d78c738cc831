"""Render benchmark results: a Markdown table, a PGR figure, and the results directory.

Output paths are checked before a run starts and written all at once after it, into a new
or empty directory only: results of an earlier run are never overwritten.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from aar.bench._errors import OutputDirError
from aar.bench._runner import SuiteResult, TaskResult
from aar.bench._stats import Summary
from aar.errors import PathError
from aar.files import check_creatable, check_empty_or_creatable, check_names, write_new_dir


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


def plot_pgr(result: SuiteResult) -> bytes:
    """Bar chart of mean PGR (accuracy) per task and method with 95 % bootstrap CI bars (PNG)."""
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
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    return png.getvalue()


def prepare_out_dir(out: Path | None, runs_dir: Path) -> Path:
    """The results directory to write after the run: `out` (missing or empty) or a new
    `runs_dir/bench-<UTC timestamp>`. Nothing is created yet."""
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = runs_dir / f"bench-{stamp}"
        for n in range(2, 100):
            if not out.exists():
                break
            out = runs_dir / f"bench-{stamp}-{n}"
    try:
        check_empty_or_creatable(out, "output directory")
    except PathError as exc:
        raise OutputDirError(str(exc)) from None
    return out


def check_json_target(path: Path) -> None:
    """Fail before a long run if the --json file could not be written afterwards."""
    try:
        check_names(path, "--json file")
    except PathError as exc:
        raise OutputDirError(str(exc)) from None
    if path.is_dir():
        raise OutputDirError(f"--json {path} is a directory; give a file name")
    try:
        check_creatable(path, "--json file")
    except PathError as exc:
        raise OutputDirError(str(exc)) from None


def write_results(result: SuiteResult, out: Path) -> dict[str, Path]:
    """results.json (everything), summary.json (the --json layout), table.md, pgr.png.

    All four appear at once in `out`, which must still be missing or empty.
    """
    files: dict[str, bytes | str] = {
        "results.json": result.model_dump_json(indent=2),
        "summary.json": summary_json(result),
        "table.md": markdown_table(result) + "\n",
        "pgr.png": plot_pgr(result),
    }
    try:
        write_new_dir(out, files)
    except PathError as exc:
        raise OutputDirError(str(exc)) from None
    names = {"results": "results.json", "summary": "summary.json", "table": "table.md"}
    return {key: out / name for key, name in (*names.items(), ("figure", "pgr.png"))}


def summary_json(result: SuiteResult) -> str:
    """The `--json` document: strict JSON (NaN and infinities are null)."""
    return json.dumps(_json_safe(result.to_summary_json()), indent=2)


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
