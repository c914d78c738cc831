"""How `aar bench` shows its results: the suite's table (run) and one scored record (evaluate).

Rendering only: nothing here reads a file or decides anything, so `bench.py` holds the
commands' checks and calls, and the words of a scorer's answer live in one place.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from aar.bench import EvalRecord, SuiteResult, Summary


def mean_se(summary: Summary, digits: int) -> str:
    """'mean ± se' (just the mean when SE is undefined, e.g. one seed)."""
    if math.isfinite(summary.se):
        return f"{summary.mean:.{digits}f} ± {summary.se:.{digits}f}"
    return f"{summary.mean:.{digits}f}"


def print_results(result: SuiteResult, n_seeds: int) -> None:
    """The holdout table of `aar bench run`: weak, ceiling and each method per task. Task and
    method names are typed into other commands, so they never wrap or shorten; the light
    layout (as `aar bench list`) fits 80 columns with the longest task name, and a task's flag
    goes on the line under its name. Numbers give way first (at their spaces) to a long method
    name; the two-line headers leave them room (a table over 80 columns folded `digits-ge5`)."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"Holdout, {n_seeds} seeds ({result.seconds:.1f} s)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    longest = max(map(len, result.tasks), default=4)
    table.add_column("task", no_wrap=True, min_width=longest)
    table.add_column("method", no_wrap=True)
    for col in ("acc ± SE", "PGR ± SE", "PGR\n95% CI", "PGR\nAUROC"):
        table.add_column(col, justify="right")
    for name, r in result.tasks.items():
        flag = "[yellow](flagged)[/]" if r.flags else ""
        table.add_row(name, "weak", mean_se(r.weak.acc, 3), "", "", "")
        table.add_row(flag, "ceiling", mean_se(r.ceiling.acc, 3), "", "", "")
        for m, mr in r.methods.items():
            ci = mr.pgr_acc.ci
            table.add_row(
                "",
                m,
                mean_se(mr.acc, 3),
                mean_se(mr.pgr_acc, 2),
                f"[{ci[0]:.2f}, {ci[1]:.2f}]",
                f"{mr.pgr_auroc.mean:.2f}",
            )
    Console().print(table)


def _unshown(record: EvalRecord) -> str:
    """The words of a test answer that shows no score (see README "Evaluator")."""
    if record.answer == "not_better":
        return f"not shown: test accuracy below {record.threshold_acc:g} (no new best)"
    if record.answer == "repeat":
        return f"not shown: repeats record {record.repeat_of} (too few predictions differ)"
    return "not shown: this task's informative answers are used up"


def print_record(record: EvalRecord, as_json: bool) -> None:
    """One scored record (`aar bench evaluate`): its JSON, or one line of what it shows."""
    if as_json:
        print(record.model_dump_json(indent=2))
        return
    console = Console()
    m = record.metrics
    # The scorer's shown numbers are floors (never above the truth); older records were rounded.
    verb = "floored" if record.answer is not None else "rounded"
    note = f"{verb} to {record.rounding}" if record.rounded else "exact"
    if record.answer is not None and not math.isfinite(m.get("acc", math.nan)):
        scores = _unshown(record)
    else:
        scores = (
            f"acc {m['acc']:g}, auroc {m['auroc']:g}, PGR acc {m['pgr_acc']:g}, "
            f"PGR auroc {m['pgr_auroc']:g}"
        )
    console.print(
        f"{record.task} seed {record.seed} {record.split} ({note}): {scores} "
        f"(weak {m['weak_acc']:g}, ceiling {m['ceiling_acc']:g}); record {record.id}; "
        f"budget {record.budget_used}/{record.budget_total}",
        highlight=False,
        markup=False,
    )
    from aar.scorer import is_repeat_flag

    for flag in record.flags:  # a repeat of identical predictions is a note, not a warning
        console.print(f"note: {flag}" if is_repeat_flag(flag) else f"[yellow]flag:[/] {flag}")


def tasks_table(names: list[str]) -> Any:
    """Task names are typed into other commands, so they never wrap or shorten; the light
    layout (no outer border, one space between columns) fits 80 columns with the longest."""
    from rich import box
    from rich.table import Table

    table = Table(
        title="aar bench tasks (accuracy on holdout, seed 42)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("task", no_wrap=True, min_width=max(map(len, names), default=4))
    table.add_column("k", justify="right", no_wrap=True)
    table.add_column("sizes: weak_train/\ntransfer/test/holdout", no_wrap=True)
    for column in ("weak", "ceiling", "gap", "from"):
        table.add_column(column, justify="right", no_wrap=True)
    return table
