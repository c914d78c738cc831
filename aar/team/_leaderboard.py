"""The leaderboard: confirmed holdout results per task and method configuration, across every
session of a runs directory.

Why only these rows: a number the researcher saw (test feedback) chose the method, so it is
biased upwards; and a verdict that no holdout test decided is a claim. An entry is a (method,
task) comparison with naive that the session itself decided on holdout, in a round that ended,
with the verdict its report states (`ReportData.verdicts`: 'supported' or 'refuted', never one
its own holdout table contradicts). Its numbers are the holdout records that decided it: the
confirmation re-run on fresh seeds where the round ran one, else the round's own holdout.

Everything is read through `aar.session`'s public read API (`EventLog(...).state()` and the
pure `report_data`), so the leaderboard is what `aar replay` would rebuild, and reading writes
nothing: no lock is taken and no torn tail is mended. A session whose log cannot be read is a
`SkipNote`, never a crash, and never hides the other sessions.

Identical configurations: every session's row is kept (each is its own evidence, on its own
seeds), and rows of one task with the same configuration (the full `MethodConfig` where a
finding holds it, else the method name) share a `config_key`; the best of them (highest
holdout PGR) has `best_of_config` set and the others say how many repeat it (`same_config`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from aar.bench import EvalRecord, summarize, t_interval
from aar.errors import AarError
from aar.memory import Finding, Verdict
from aar.session import EventLog, SessionState, changes_text, report_data

EVENTS = "events.jsonl"
DECIDED: tuple[Verdict, ...] = ("supported", "refuted")
"""The verdicts a holdout test decides (an 'inconclusive' one confirmed nothing)."""


class Effect(BaseModel):
    """PGR(method) - PGR(naive) on holdout, paired by seed: what decided the verdict."""

    mean: float
    ci: tuple[float, float]
    """95 % t-interval of the paired differences (before Holm's correction)."""
    adjusted_p: float | None = None
    """Holm-adjusted p of the session's decision, as its finding logged it (the largest over
    the finding's tasks); None where no finding of the method holds a decided basis."""
    family_size: int | None = None


class LeaderboardEntry(BaseModel):
    """One confirmed (method, task) of one session round, with where its evidence lives."""

    task: str
    method: str
    verdict: Verdict
    config: dict[str, Any] | None = None
    """The full `MethodConfig` a finding of the method holds (None where none holds one)."""
    config_text: str
    """Its fields other than naive's, or the hypothesis's family and parameters."""
    config_key: str
    """Rows of one task with the same key are the same configuration (see the module doc)."""
    pgr_mean: float
    pgr_ci: tuple[float, float]
    """95 % t-interval of the holdout PGR over the seeds."""
    n_seeds: int
    seeds: list[int]
    fresh_seeds: bool
    """Decided on fresh confirmation seeds (else on the round's own holdout)."""
    vs_naive: Effect | None
    session_id: str
    round: int
    experiment: str
    finding_id: str | None = None
    record_ids: list[str]
    code_sha256: str
    script: str
    """The experiment's cells, relative to the session directory."""
    git_commit: str | None = None
    best_of_config: bool = True
    same_config: int = 1
    """How many rows of this task share the configuration (this one included)."""


class SkipNote(BaseModel):
    """A session the leaderboard could not read, and why (its files are left as they are)."""

    session_id: str
    path: str
    reason: str


class TaskBoard(BaseModel):
    task: str
    entries: list[LeaderboardEntry]
    """Best first: highest holdout PGR mean (a NaN mean last)."""


class Leaderboard(BaseModel):
    runs_dir: str
    tasks: list[TaskBoard] = Field(default_factory=list)
    skipped: list[SkipNote] = Field(default_factory=list)
    sessions_read: int = 0

    def entries(self) -> list[LeaderboardEntry]:
        return [e for board in self.tasks for e in board.entries]


def leaderboard(runs_dir: Path, task: str | None = None) -> Leaderboard:
    """Every confirmed holdout result under `runs_dir` (of `task` only, if given), grouped by
    task (alphabetical), best first; read-only."""
    rows: list[LeaderboardEntry] = []
    skipped: list[SkipNote] = []
    read = 0
    for root in _session_dirs(runs_dir):
        try:
            state = EventLog(root).state()
            found = session_entries(state)
        except (AarError, OSError, ValueError, KeyError) as exc:
            # one damaged session must not hide the others
            skipped.append(SkipNote(session_id=root.name, path=str(root), reason=str(exc)))
            continue
        read += 1
        rows += [e for e in found if task is None or e.task == task]
    _mark_configs(rows)
    boards = [
        TaskBoard(task=t, entries=sorted((e for e in rows if e.task == t), key=_rank))
        for t in sorted({e.task for e in rows})
    ]
    return Leaderboard(runs_dir=str(runs_dir), tasks=boards, skipped=skipped, sessions_read=read)


def _session_dirs(runs_dir: Path) -> list[Path]:
    """The session directories (`s-*` with a log), oldest first; none if the folder is gone."""
    try:
        return sorted(p for p in runs_dir.glob("s-*") if (p / EVENTS).is_file())
    except OSError:
        return []


def session_entries(state: SessionState) -> list[LeaderboardEntry]:
    """The confirmed comparisons of every ended round of one session."""
    out: list[LeaderboardEntry] = []
    for info in state.rounds:
        if not info.ended:
            continue  # its confirmation may not have run yet
        data = report_data(state, info.number, [])
        for line in data.verdicts:
            if line["verdict"] not in DECIDED:
                continue
            fresh = any(e.confirms and e.round == info.number for e in state.experiments.values())
            role = "confirmation" if fresh else "hypothesis"
            for row in data.rows:
                if (row.method, row.task, row.role) == (line["method"], line["task"], role):
                    out.append(_entry(state, info.number, line["verdict"], row, fresh))
    return out


def _entry(
    state: SessionState, number: int, verdict: Any, row: Any, fresh: bool
) -> LeaderboardEntry:
    """One row of the report's holdout table, with its configuration and provenance."""
    records = [e.record for rid in row.record_ids if (e := state.record(rid)) is not None]
    pgr = [r.metrics.get("pgr_acc", math.nan) for r in records]
    finding = _finding(state, number, row.method, row.task)
    config = finding.config if finding is not None else None
    exp = state.experiments.get(row.experiment)
    basis = finding.verdict_basis if finding is not None else None
    effect = None
    if row.vs_naive is not None:
        mean, lo, hi = row.vs_naive
        effect = Effect(
            mean=mean,
            ci=(lo, hi),
            adjusted_p=basis.adjusted_p if basis else None,
            family_size=basis.family_size if basis else None,
        )
    return LeaderboardEntry(
        task=row.task,
        method=row.method,
        verdict=verdict,
        config=config,
        config_text=_config_text(state, number, row.method, config),
        config_key=row.task + ":" + _config_key(row.method, config),
        pgr_mean=summarize(pgr).mean,
        pgr_ci=t_interval(pgr),
        n_seeds=len(records),
        seeds=[r.seed for r in records],
        fresh_seeds=fresh,
        vs_naive=effect,
        session_id=state.id,
        round=number,
        experiment=row.experiment,
        finding_id=finding.id if finding is not None else None,
        record_ids=[r.id for r in records],
        code_sha256=_one({r.code_sha256 for r in records}),
        script=f"experiments/{row.experiment}/cells.py",
        git_commit=_commit(records) or (exp.commit if exp else None),
    )


def _finding(state: SessionState, number: int, method: str, task: str) -> Finding | None:
    """The round's latest finding of `method` on `task` (its name before " (params)")."""
    mine = [
        f
        for f in state.findings.values()
        if f.round == number and f.method.split(" (")[0] == method and task in f.tasks
    ]
    return mine[-1] if mine else None


def _config_text(
    state: SessionState, number: int, method: str, config: dict[str, Any] | None
) -> str:
    """The configuration as the report's answer table says it: the diff from naive where a
    finding holds the configuration, else the hypothesis's family and parameters."""
    text = changes_text(config) if config is not None else None
    if text is not None:
        return text
    hyp = next(
        (h for h in state.hypotheses.values() if h.round == number and h.method == method), None
    )
    if hyp is None:
        return ""
    params = ", ".join(f"{k}={v:g}" for k, v in sorted(hyp.params.items()))
    return "; ".join(x for x in (f"family {hyp.family}" if hyp.family else "", params) if x)


def _config_key(method: str, config: dict[str, Any] | None) -> str:
    if config is None:
        return f"method {method}"
    return "config " + json.dumps(config, sort_keys=True, separators=(",", ":"))


def _one(values: set[str]) -> str:
    """The one value (several, sorted and joined, would say the rows mixed code)."""
    return ",".join(sorted(values))


def _commit(records: list[EvalRecord]) -> str | None:
    commits = {r.git_commit for r in records if r.git_commit}
    return commits.pop() if len(commits) == 1 else None


def _rank(e: LeaderboardEntry) -> tuple[bool, float, str, int, str]:
    """Best first by holdout PGR mean (NaN last), then stable by session, round, method."""
    nan = not math.isfinite(e.pgr_mean)
    return (nan, 0.0 if nan else -e.pgr_mean, e.session_id, e.round, e.method)


def _mark_configs(rows: list[LeaderboardEntry]) -> None:
    """Flag the best row of each configuration, and count each configuration's rows."""
    groups: dict[str, list[LeaderboardEntry]] = {}
    for e in rows:
        groups.setdefault(e.config_key, []).append(e)
    for group in groups.values():
        best = min(group, key=_rank)
        for e in group:
            e.best_of_config = e is best
            e.same_config = len(group)


__all__ = [
    "Effect",
    "Leaderboard",
    "LeaderboardEntry",
    "SkipNote",
    "TaskBoard",
    "leaderboard",
    "session_entries",
]
