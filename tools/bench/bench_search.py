"""What one offline `aar run` finds: the session's best method per task, confirmed on holdout.

Run: `.venv/bin/python tools/bench/bench_search.py [--tasks T ...] [--out runs/bench-search.md]`
runs `aar run` (the scripted researcher, default budgets, every built-in task unless --tasks
says otherwise) in a fresh temporary working directory and times it; `--session-dir PATH`
reads a finished session instead; `--two-task` times the default 2-task round.

Why a session and not a sweep: `science_space.py` measures what the method space reaches with
ground truth on the host; this measures what the researcher itself reports under the scorer's
feedback ladder, its budgets and its verdicts. The per-task choice is the report's own answer
("The answer" table, `report_data(...).answer`: the supported method with the largest
test-feedback edge, naive where none), so nothing here chooses by holdout; holdout only
confirms. The uniform method is chosen the same way: on the test feedback the session saw.
Targets (issue 20): median holdout PGR of the per-task answer >= 0.70 over the 7 tasks, the
7-task session <= 20 min on 2 cores, the default 2-task round <= 120 s.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aar.session import EventLog, SessionState, report_data

ROOT = Path(__file__).resolve().parents[2]
AAR = ROOT / ".venv" / "bin" / "aar"
NAIVE = "naive"
TARGETS = {"median_pgr": 0.70, "seven_task_s": 1200.0, "two_task_s": 120.0}
CAVEAT = (
    "Selection used test feedback only: the per-task method is the session report's own "
    "answer (supported on holdout, then largest test-feedback edge over naive), and the "
    "uniform method is the one with the best median test-feedback PGR over the tasks. "
    "Holdout only confirms. Test feedback is the scorer's ladder: a score is shown only when "
    "it beats the best shown (starting at naive), so a withheld score counts as naive's "
    "shown PGR on that seed and ties go to naive."
)

Scores = dict[int, float]
"""PGR (accuracy) by seed."""


@dataclass
class Held:
    """The round's holdout PGR by (task, method): on its own seeds and on fresh ones."""

    own: dict[tuple[str, str], Scores]
    fresh: dict[tuple[str, str], Scores]


@dataclass
class TaskRow:
    task: str
    method: str
    basis: str
    """'fresh' (confirmation seeds) or 'own' (the session's seeds)."""
    fresh: Scores
    own: Scores
    naive_fresh: Scores
    naive_own: Scores
    report_effect: float | None

    @property
    def pgr(self) -> float:
        """What the median is over: fresh seeds where the method has them, else own."""
        return mean(self.fresh if self.basis == "fresh" else self.own)


def mean(scores: Scores) -> float:
    """Mean over the finite values (NaN when none)."""
    values = [v for v in scores.values() if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def paired(method: Scores, naive: Scores) -> float:
    """Mean of method - naive over the seeds both have (NaN when none)."""
    diffs = {s: method[s] - naive[s] for s in method.keys() & naive.keys()}
    return mean(diffs)


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def finite_median(values: list[float]) -> float:
    """Median of the finite values (NaN when none)."""
    kept = [v for v in values if math.isfinite(v)]
    return statistics.median(kept) if kept else math.nan


def find_session(path: Path) -> Path:
    """The session directory `path` names: itself, or the one session under it or its runs/."""
    if (path / "events.jsonl").is_file():
        return path
    for base in (path, path / "runs"):
        found = sorted(p.parent for p in base.glob("*/events.jsonl"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            sys.exit(f"{base} holds {len(found)} sessions; name one with --session-dir")
    sys.exit(f"no session found under {path}")


def run_session(tasks: list[str] | None, work: Path) -> tuple[Path, float, int]:
    """Run `aar run` (scripted researcher, default budgets) in the fresh working directory
    `work` (its runs/ and memory/ go there), timing its wall clock; returns the session
    directory, seconds and exit status."""
    env = {
        **os.environ,
        "AAR_RUNS_DIR": str(work / "runs"),
        "AAR_MEMORY_PATH": str(work / "memory"),
    }
    args = [str(AAR), "run", *(x for t in tasks or [] for x in ("-t", t))]
    print(f"running: {' '.join(args)} (in {work})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(work / "run.log", "wb") as log:
        rc = subprocess.run(
            args, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    seconds = time.perf_counter() - t0
    if rc != 0:
        print((work / "run.log").read_text()[-4000:], file=sys.stderr)
    return find_session(work), seconds, rc


def holdout(state: SessionState, number: int) -> Held:
    """Round `number`'s holdout PGR per (task, method), split into the session's own seeds and
    the fresh seeds of its confirmation experiments (those with `confirms` set)."""
    held = Held(own={}, fresh={})
    for entry in state.holdout:
        if entry.round != number:
            continue
        exp = state.experiments.get(entry.experiment)
        side = held.fresh if exp is not None and exp.confirms else held.own
        r = entry.record
        side.setdefault((r.task, r.method), {})[r.seed] = r.metrics.get("pgr_acc", math.nan)
    return held


def test_feedback(state: SessionState, number: int) -> dict[tuple[str, str], Scores]:
    """Round `number`'s shown test-feedback PGR per (task, method) (withheld ones are NaN)."""
    out: dict[tuple[str, str], Scores] = {}
    for entry in state.evaluations:
        if entry.round == number and entry.record.split == "test":
            r = entry.record
            out.setdefault((r.task, r.method), {})[r.seed] = r.metrics.get("pgr_acc", math.nan)
    return out


def task_rows(state: SessionState, number: int, held: Held) -> list[TaskRow]:
    """Per task, the report's answer and its holdout PGR next to naive's."""
    answer = {a.task: a for a in report_data(state, number, []).answer}
    if not answer:
        sys.exit("the round's report has no answer table (a layout-1 session); nothing to read")
    rows = []
    for task in state.config.tasks:
        a = answer.get(task)
        method = a.method if a is not None else NAIVE
        fresh = held.fresh.get((task, method), {})
        rows.append(
            TaskRow(
                task=task,
                method=method,
                basis="fresh" if fresh else "own",
                fresh=fresh,
                own=held.own.get((task, method), {}),
                naive_fresh=held.fresh.get((task, NAIVE), {}),
                naive_own=held.own.get((task, NAIVE), {}),
                report_effect=a.effect[0] if a is not None and a.effect else None,
            )
        )
    return rows


def test_rank(tasks: list[str], method: str, test: dict[tuple[str, str], Scores]) -> tuple:
    """How the uniform choice ranks `method` on test feedback alone: the median over tasks of
    its mean test PGR over the seeds it was scored on, a withheld score counting as naive's
    shown PGR on that seed (the ladder withholds what does not beat the best shown, which
    starts at naive: a withheld score is no evidence of a gain), then how many (task, seed)
    pairs showed it, then naive first and names for a stable tie-break."""
    per_task, shown = [], 0
    for t in tasks:
        naive = test.get((t, NAIVE), {})
        scores = test.get((t, method), {})
        shown += sum(math.isfinite(v) for v in scores.values())
        filled = {s: v if math.isfinite(v) else naive.get(s, math.nan) for s, v in scores.items()}
        per_task.append(mean(filled))
    return (finite_median(per_task), shown, method != NAIVE, method)


def uniform(
    tasks: list[str], held: Held, test: dict[tuple[str, str], Scores]
) -> list[tuple[str, tuple, float, float]]:
    """Methods with own-seed holdout records on every task, best on test feedback first:
    (method, test rank, holdout median on own seeds, on fresh seeds where every task has them)."""
    methods = {m for (_, m) in held.own}
    complete = [m for m in methods if all(held.own.get((t, m)) for t in tasks)]
    out = []
    for m in complete:
        own = finite_median([mean(held.own[(t, m)]) for t in tasks])
        has_fresh = all(held.fresh.get((t, m)) for t in tasks)
        fresh = finite_median([mean(held.fresh[(t, m)]) for t in tasks]) if has_fresh else math.nan
        out.append((m, test_rank(tasks, m, test), own, fresh))
    return sorted(out, key=lambda x: (-x[1][0], -x[1][1], x[1][2], x[1][3]))


def commit() -> str:
    """HEAD's short hash (what code ran), 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def task_table(rows: list[TaskRow]) -> list[str]:
    lines = [
        "| task | chosen (report's answer) | PGR fresh seeds | naive fresh | Δ fresh | "
        "PGR own seeds | naive own | Δ own | report's Δ | median uses |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.task} | {r.method} | {num(mean(r.fresh))} (n={len(r.fresh)}) | "
            f"{num(mean(r.naive_fresh))} | {num(paired(r.fresh, r.naive_fresh))} | "
            f"{num(mean(r.own))} (n={len(r.own)}) | {num(mean(r.naive_own))} | "
            f"{num(paired(r.own, r.naive_own))} | {num(r.report_effect)} | {r.basis} |"
        )
    return lines


def uniform_lines(ranked: list[tuple[str, tuple, float, float]], top: int = 5) -> list[str]:
    lines = [
        "| method (uniform) | test median PGR | (task, seed) shown | holdout median (own) | "
        "holdout median (fresh) |",
        "|---|---|---|---|---|",
    ]
    for m, (test_med, shown, *_), own, fresh in ranked[:top]:
        lines.append(f"| {m} | {num(test_med)} | {shown} | {num(own)} | {num(fresh)} |")
    return lines


def render(state: SessionState, number: int, seconds: float | None, rc: int | None) -> str:
    """The Markdown report of round `number` of a finished session."""
    held, test = holdout(state, number), test_feedback(state, number)
    rows = task_rows(state, number, held)
    tasks = state.config.tasks
    chosen = finite_median([r.pgr for r in rows])
    naive_own = finite_median([mean(r.naive_own) for r in rows])
    naive_fresh = finite_median([mean(r.naive_fresh) for r in rows])
    ranked = uniform(tasks, held, test)
    bases = sorted({r.basis for r in rows})
    lines = [
        f"### `aar run` search: session {state.id}, round {number} ({len(tasks)} tasks, "
        f"seeds {state.config.seeds})",
        "",
        *task_table(rows),
        "",
        f"- **Median holdout PGR of the per-task answer:** {num(chosen)} "
        f"(target >= {TARGETS['median_pgr']:.2f}; seeds: {' / '.join(bases)}, per task as the "
        "last column says)",
    ]
    if ranked:
        m, (test_med, shown, *_), own, fresh = ranked[0]
        lines.append(
            f"- **Best uniform method (chosen on test):** {m}: holdout median {num(own)} on own "
            f"seeds, {num(fresh)} on fresh seeds (test median {num(test_med)}, shown on "
            f"{shown} (task, seed) pairs)"
        )
    else:
        lines.append("- **Best uniform method:** none has holdout records on every task")
    lines += [
        f"- **Naive:** holdout median {num(naive_own)} on own seeds, {num(naive_fresh)} on "
        "fresh seeds",
        f"- **Wall time:** {num(seconds, 0)} s"
        + (f" (exit status {rc})" if rc is not None else ""),
        f"- **Commit:** {commit()}"
        + (" (HEAD when analysed; the session may have run earlier code)" if rc is None else ""),
        f"- **Caveat:** {CAVEAT}",
        "",
        "Uniform candidates (methods with holdout on every task), best on test first:",
        "",
        *uniform_lines(ranked),
    ]
    return "\n".join(lines) + "\n"


def event_span(root: Path, number: int) -> float:
    """Seconds from the session's first event to the last of round `number` (its wall time
    when not timed; a later resume's rounds do not count)."""
    events = [e for e in EventLog(root).read() if e.round <= number]
    return (events[-1].at - events[0].at).total_seconds()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=None, help="default: the 7 built-in tasks")
    p.add_argument("--out", type=Path, default=Path("runs/bench-search.md"))
    p.add_argument("--session-dir", type=Path, help="analyse this finished session instead")
    p.add_argument("--wall-s", type=float, help="its measured wall time (else the event span)")
    p.add_argument("--two-task", action="store_true", help="time the default 2-task round")
    p.add_argument("--round", type=int, default=1, help="the round to read (aar run makes 1)")
    p.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    args = p.parse_args()
    rc: int | None = None
    work: Path | None = None
    if args.session_dir:
        root = find_session(args.session_dir)
        seconds = args.wall_s if args.wall_s is not None else event_span(root, args.round)
    else:
        from aar.bench._registry import BUILTIN_TASK_NAMES

        tasks = None if args.two_task else (args.tasks or list(BUILTIN_TASK_NAMES))
        work = Path(tempfile.mkdtemp(prefix="aar-bench-search-"))
        root, seconds, rc = run_session(tasks, work)
    try:
        text = report(root, args.round, seconds, rc, args.two_task)
    finally:
        if work is not None and args.keep:
            print(f"kept: {work}", file=sys.stderr)
        elif work is not None:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


def report(root: Path, number: int, seconds: float, rc: int | None, two_task: bool) -> str:
    """The Markdown for the session at `root`, with the timing target it answers."""
    state = EventLog(root).state()
    text = render(state, number, seconds, rc)
    if two_task:
        verdict = "meets" if seconds <= TARGETS["two_task_s"] else "misses"
        return text + f"\nDefault 2-task round: {seconds:.0f} s ({verdict} the 120 s target).\n"
    if len(state.config.tasks) == 7:
        verdict = "meets" if seconds <= TARGETS["seven_task_s"] else "misses"
        return text + f"\n7-task session: {seconds:.0f} s ({verdict} the 20 min target).\n"
    return text


if __name__ == "__main__":
    main()
