"""A round's figure, `rounds/<n>/pgr.png`: holdout PGR by task and method.

A reader compares figures across rounds, so each method keeps one colour in every figure of
its session (`method_colours`: the order in which the session first scored its methods, which
only ever grows, so a later round never recolours an earlier method). The figure says what its
error bars are, draws the weak supervisor (PGR 0) and the ceiling (PGR 1) it is measured
between, and leaves no empty slot: each task's group holds only the methods scored on it, and a
task with none is left out. The figure is not part of what `aar replay` compares (the report's
Markdown and data are), so every layout gets the same drawing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from aar.session._report_sections import NAIVE

if TYPE_CHECKING:
    from aar.session._models import SessionState
    from aar.session._report import ReportData
    from aar.session._report_sections import ResultRow

NAIVE_COLOUR = "#7f7f7f"
ERROR_BARS = "error bars: ±1 SE over seeds (none where one seed was scored)"
"""What the figure's error bars are (its footnote, and the report's caption from layout 3)."""


def palette() -> list[str]:
    """Distinct colours, grey left to naive: tab10, then tab20b and tab20c (49 in all)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab10 = [to_hex(c) for c in colormaps["tab10"].colors]  # type: ignore[attr-defined]
    more = [to_hex(c) for name in ("tab20b", "tab20c") for c in colormaps[name].colors]  # type: ignore[attr-defined]
    return [c for c in tab10 if c != NAIVE_COLOUR] + more


def method_colours(state: SessionState) -> dict[str, str]:
    """One colour per method for every figure of the session: naive grey, then the palette in
    the order the session first scored each method (test feedback, then holdout)."""
    order: list[str] = []
    for entry in [*state.evaluations, *state.holdout]:
        if entry.record.method not in order and entry.record.method != NAIVE:
            order.append(entry.record.method)
    colours = palette()
    out = {NAIVE: NAIVE_COLOUR}
    out |= {m: colours[i % len(colours)] for i, m in enumerate(order)}
    return out


def _groups(data: ReportData) -> list[tuple[str, list[ResultRow]]]:
    """Each task with the rows that have a finite PGR (tasks with none are left out)."""
    out = []
    for task in data.tasks:
        rows = [r for r in data.rows if r.task == task and math.isfinite(r.pgr_mean)]
        if rows:
            out.append((task, rows))
    return out


def _task_label(data: ReportData, task: str) -> str:
    """The task's name and, where the report has them, its weak and ceiling accuracies."""
    ctx = next((c for c in data.context if c.task == task), None)
    if ctx is None:
        return task
    return f"{task}\nweak {ctx.weak_acc:.3f} · ceiling {ctx.ceiling_acc:.3f}"


def write_figure(
    data: ReportData, path: Path, colours: dict[str, str] | None = None
) -> list[tuple[str, list[str]]]:
    """Draw the figure (see the module docstring); `colours` is the session's method map.
    Returns what it drew: each task's group with its methods, in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = colours or {}
    spare = iter(palette())
    groups = _groups(data)
    bars = sum(len(rows) for _, rows in groups)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * bars + 1.2 * len(groups) + 2.0), 4.2), dpi=110)
    x, ticks, seen = 0.0, [], set()
    for task, rows in groups:
        start = x
        for row in rows:
            colour = colours.get(row.method) or colours.setdefault(row.method, next(spare))
            se = row.pgr_se if math.isfinite(row.pgr_se) else 0.0
            label = None if row.method in seen else row.method
            seen.add(row.method)
            hatch = "//" if row.role == "confirmation" else None
            ax.bar(x, row.pgr_mean, 0.8, yerr=se, color=colour, label=label, capsize=2, hatch=hatch)
            x += 1.0
        ticks.append(((start + x - 1.0) / 2, _task_label(data, task)))
        x += 1.0  # a gap between tasks
    if not groups:
        ax.text(0.5, 0.5, "no holdout results this round", ha="center", transform=ax.transAxes)
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    ax.axhline(0, color="black", linewidth=0.8, linestyle="--", label="weak supervisor (PGR 0)")
    ax.axhline(1, color="black", linewidth=0.8, linestyle=":", label="ceiling (PGR 1)")
    ax.set_ylabel("holdout PGR (accuracy)")
    ax.set_title(f"{data.session_id}, round {data.round}: bars are means over seeds", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    note = ERROR_BARS + ("; hatched: confirmation on fresh seeds" if _confirmed(data) else "")
    fig.text(0.01, 0.01, note, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return [(task, [r.method for r in rows]) for task, rows in groups]


def _confirmed(data: ReportData) -> bool:
    return any(r.role == "confirmation" for r in data.rows)
