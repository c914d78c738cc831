"""`aar replay`: rebuild every number of every report from the log, and check it.

The state is folded again from `events.jsonl` alone; each round's report is re-derived and
compared, byte for byte, with the committed `report.md`; and every evaluation record whose
predictions are still on disk is scored again by a fresh evaluator, which must give the same
metrics and the same predictions hash. Any difference is a mismatch, named.
"""

from __future__ import annotations

import difflib
import io
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from aar.session._events import EventLog
from aar.session._ledger import MAX_PREDICTION_BYTES
from aar.session._models import EvalEntry, SessionState
from aar.session._report import proposal_rows, render_markdown, report_data


class ReplayResult(BaseModel):
    session_id: str
    reports_checked: list[str] = Field(default_factory=list)
    records_rescored: int = 0
    records_not_on_disk: int = 0
    mismatches: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def replay_session(root: Path, *, rescore: bool = True) -> ReplayResult:
    """Check a session directory (read only; it may be running elsewhere)."""
    state = EventLog(root).state()
    result = ReplayResult(session_id=state.id)
    for info in state.rounds:
        path = root / "rounds" / str(info.number) / "report.md"
        if info.ended and path.is_file():
            _check_report(root, state, info.number, path, result)
    if rescore:
        for entry in [*state.evaluations, *state.holdout]:
            _rescore(root, state, entry, result)
    return result


def _check_report(
    root: Path, state: SessionState, number: int, path: Path, result: ReplayResult
) -> None:
    rebuilt = render_markdown(report_data(state, number, proposal_rows(root, state, number)))
    written = path.read_text(encoding="utf-8")
    result.reports_checked.append(str(path.relative_to(root)))
    if rebuilt != written:
        diff = [
            line
            for line in difflib.unified_diff(
                written.splitlines(), rebuilt.splitlines(), lineterm=""
            )
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        ]
        result.mismatches.append(
            f"{path.relative_to(root)} differs from the log: {' | '.join(diff[:6])}"
        )


def _rescore(root: Path, state: SessionState, entry: EvalEntry, result: ReplayResult) -> None:
    from aar.bench import Evaluator
    from aar.sandbox import SandboxUsageError, read_scratch_file

    r = entry.record
    exp = state.experiments.get(entry.experiment)
    rel = f"predictions/{r.method}/{r.task}/seed-{r.seed}.{r.split}.npy"
    try:
        raw = read_scratch_file(root / exp.path, rel, MAX_PREDICTION_BYTES) if exp else b""
    except SandboxUsageError:
        raw = b""
    if not raw:
        result.records_not_on_disk += 1
        return
    again = Evaluator(r.task, r.seed, budget=10**9, device="cpu").evaluate(
        np.load(io.BytesIO(raw), allow_pickle=False),
        method=r.method,
        code_sha256=r.code_sha256,
        split=r.split,
    )
    result.records_rescored += 1
    if again.predictions_sha256 != r.predictions_sha256:
        result.mismatches.append(f"record {r.id}: the predictions on disk are not the ones scored")
        return
    changed = [
        k
        for k, v in r.metrics.items()
        if not (math.isnan(v) and math.isnan(again.metrics.get(k, math.nan)))
        and abs(again.metrics.get(k, math.inf) - v) > 1e-12
    ]
    if changed:
        what = ", ".join(
            f"{k} logged {r.metrics[k]:.4g} now {again.metrics[k]:.4g}" for k in changed
        )
        result.mismatches.append(
            f"record {r.id} ({r.task} seed {r.seed}, {r.method}, {r.split}): {what}"
        )
