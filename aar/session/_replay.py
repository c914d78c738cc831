"""`aar replay`: rebuild every number of every report from the log, and check it.

The state is folded again from `events.jsonl` alone (its events must be numbered without a gap
or a repeat, and the copy committed to the session's git history must be a prefix of it); each
ended round's report is re-derived and compared, byte for byte, with `report.md` and
`report.json`; each finding file must be the finding the log holds; and every evaluation record
whose predictions are still on disk is scored again by a fresh evaluator, which must give the
same metrics and the same predictions hash. Any difference is a mismatch, named; what cannot be
checked (a report or predictions that are gone) is said, never passed over.
"""

from __future__ import annotations

import difflib
import io
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from aar.memory import Finding
from aar.session._config import PROTOCOL
from aar.session._event_kinds import FindingRecorded
from aar.session._events import EventLog
from aar.session._ledger import MAX_PREDICTION_BYTES
from aar.session._models import EvalEntry, SessionState
from aar.session._report import proposal_rows, render_markdown, report_data
from aar.session._report_reviews import review_notes


class ReplayResult(BaseModel):
    session_id: str
    reports_checked: list[str] = Field(default_factory=list)
    findings_checked: int = 0
    records_rescored: int = 0
    records_not_on_disk: int = 0
    mismatches: list[str] = Field(default_factory=list)
    not_checked: list[str] = Field(default_factory=list)
    """What replay could not check and why (never counted as a match)."""

    @property
    def ok(self) -> bool:
        return not self.mismatches


def replay_session(root: Path, *, rescore: bool = True) -> ReplayResult:
    """Check a session directory (read only; it may be running elsewhere)."""
    log = EventLog(root)
    state = log.state()
    result = ReplayResult(session_id=state.id)
    _check_committed_log(root, log.path, result)
    _check_findings(root, state, _as_recorded(log), result)
    if state.protocol != PROTOCOL:
        # Another protocol's evaluator and report rules cannot re-derive its numbers: the log
        # and the finding files are checked, the numbers are said to be unchecked.
        result.not_checked.append(
            f"the session ran under protocol {state.protocol} and this aar runs protocol "
            f"{PROTOCOL}: its {sum(i.ended for i in state.rounds)} report(s) and "
            f"{len(state.evaluations) + len(state.holdout)} evaluation record(s) were not "
            "rebuilt (the log's order and the finding files were checked)"
        )
        return result
    for info in state.rounds:
        if info.ended:
            _check_report(root, state, info.number, result)
    if rescore:
        for entry in [*state.evaluations, *state.holdout]:
            _rescore(root, state, entry, result)
    return result


def _check_committed_log(root: Path, path: Path, result: ReplayResult) -> None:
    """The log committed at the session's last step must be where the log begins: a line
    deleted, changed or repeated before it is a mismatch (the log only ever grows)."""
    import git

    try:
        blob = git.Repo(root).head.commit.tree / path.name
        committed = blob.data_stream.read()
    except (ValueError, KeyError, git.GitError, OSError):
        return  # no commit (or no committed log) yet: nothing to compare with
    committed = committed[: committed.rfind(b"\n") + 1]  # a torn last line is not history
    if not path.read_bytes().startswith(committed):
        result.mismatches.append(
            f"{path.name} does not begin with the copy committed at the session's last step: "
            f"its history was edited (see `git -C {root} diff HEAD -- {path.name}`)"
        )


def _check_report(root: Path, state: SessionState, number: int, result: ReplayResult) -> None:
    directory = root / "rounds" / str(number)
    rows = proposal_rows(root, state, number)
    data = report_data(state, number, rows, review_notes(root, state, number))
    for name, rebuilt in (
        ("report.md", render_markdown(data)),
        ("report.json", data.model_dump_json(indent=2) + "\n"),
    ):
        path = directory / name
        rel = str(path.relative_to(root))
        try:
            written = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc})"
            result.mismatches.append(
                f"{rel} {why}: round {number} ended, so its report cannot be checked"
            )
            continue
        if name == "report.md":  # report.json is the same data: checked, not counted again
            result.reports_checked.append(rel)
        _compare(rel, written, rebuilt, result)


def _as_recorded(log: EventLog) -> dict[str, Finding]:
    """Each finding as its `finding` event recorded it (before the round's end added holdout
    metrics and the decided verdict): what sessions of an older aar left in the file."""
    recorded: dict[str, Finding] = {}
    for event in log.read():
        match event.data:
            case FindingRecorded(finding=finding):
                recorded[finding.id] = finding
    return recorded


def _check_findings(
    root: Path, state: SessionState, recorded: dict[str, Finding], result: ReplayResult
) -> None:
    """Each finding's file must hold the finding the log holds (a truncated one does not):
    as the round's end left it or, in sessions of an older aar, as it was recorded."""
    from pydantic import ValidationError

    for finding in state.findings.values():
        rel = f"findings/{finding.id}.json"
        try:
            written = Finding.model_validate_json((root / rel).read_bytes())
        except FileNotFoundError:
            result.mismatches.append(f"{rel} is missing; the log holds finding {finding.id}")
            continue
        except (OSError, ValidationError) as exc:
            what = "is truncated or not a finding" if isinstance(exc, ValidationError) else exc
            result.mismatches.append(f"{rel} {what}; the log holds finding {finding.id}")
            continue
        result.findings_checked += 1
        if written not in (finding, recorded.get(finding.id)):
            result.mismatches.append(f"{rel} differs from the finding the log holds")


def _compare(rel: str, written: str, rebuilt: str, result: ReplayResult) -> None:
    if rebuilt != written:
        diff = [
            line
            for line in difflib.unified_diff(
                written.splitlines(), rebuilt.splitlines(), lineterm=""
            )
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        ]
        result.mismatches.append(f"{rel} differs from the log: {' | '.join(diff[:6])}")


def _rescore(root: Path, state: SessionState, entry: EvalEntry, result: ReplayResult) -> None:
    from aar.bench import Evaluator
    from aar.sandbox import SandboxUsageError, read_scratch_file

    r = entry.record
    exp = state.experiments.get(entry.experiment)
    rel = f"predictions/{r.method}/{r.task}/seed-{r.seed}.{r.split}.npy"
    try:
        raw = read_scratch_file(root / exp.path, rel, MAX_PREDICTION_BYTES) if exp else b""
    except (SandboxUsageError, OSError):  # scratch is not in git: it may have been removed
        raw = b""
    if not raw:
        result.records_not_on_disk += 1
        return
    ev = Evaluator(r.task, r.seed, budget=10**9, device="cpu")
    probs = np.load(io.BytesIO(raw), allow_pickle=False)
    again = ev.evaluate(probs, method=r.method, code_sha256=r.code_sha256, split=r.split)
    if r.answer is not None:  # the scorer's answer: its numbers are floors of the exact ones
        from aar.scorer import shown_metrics

        exact = ev.exact_metrics(ev.load(probs, r.split), r.split)
        shown = shown_metrics(r, exact, ev.reference_acc(r.split))
        again = again.model_copy(update={"metrics": shown})
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
