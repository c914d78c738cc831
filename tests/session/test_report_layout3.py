"""The round report's layout 3, on real sessions: a scripted `aar run` (one task, two seeds,
the 'confidence' direction, so that a hypothesis tests logconf), its approved follow-up
resumed, both reports replayed. Layout 3 adds the tasks' weak and ceiling accuracies, roles
that say what each row is to the round, the earlier method a sweep started from, and a figure
whose error bars and references are said, with one colour per method in every figure of the
session. Layout 4 (the same session: new sessions write it) adds to a follow-up round's report
who approved each proposal it ran, when, and their comment, read from the review audit log and
quoted (markup escaped, hidden characters marked). A layout-2 session (archived, made by the
aar before layout 3) keeps its reports byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from session_support import run_aar, unpack_session

from aar.review import Decision, ReviewItem, item_history
from aar.session import REPORT_LAYOUT, EventLog, SessionState, replay_session
from aar.session._report import FIGURE_CAPTION, ReportData, render_markdown, report_data
from aar.session._report_figure import method_colours, write_figure
from aar.session._report_reviews import _note, review_lines, review_notes
from aar.session._report_sections import ResultRow

pytestmark = pytest.mark.slow
TASK = "digits-ge5"
DATA = Path(__file__).parent / "data"
LAYOUT2 = "s-20261207-210611-b323ce"
REVIEWER = "Ada *Lovelace* <b>"
COMMENT = "# ok **go** [x](http://evil.example) | a \u202eevil\nsecond line"
"""A reviewer's name and comment with markup, a line break and a bidi override (U+202E)."""


@dataclass
class Ran:
    root: Path
    first: SessionState
    """The state when round 1 ended (as its report and figure were written)."""
    state: SessionState


@pytest.fixture(scope="module")
def ran(module_workspace: Path) -> Ran:
    """`aar run`, approve its follow-up, `aar resume`: a research round and a follow-up."""
    args = ("run", "-t", TASK, "--seeds", "2", "--hypotheses", "3", "-d", "confidence")
    out = run_aar(*args, cwd=module_workspace, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    (root,) = (module_workspace / "runs").glob("s-*")
    first = EventLog(root).state()
    (pid,) = first.proposals
    sha = json.loads((root / "proposals" / f"{pid}.json").read_text())["sha256"]
    decided = run_aar(
        *("review", "approve", pid, "--sha256", sha, "-m", COMMENT),
        cwd=module_workspace,
        env={"AAR_REVIEWER": REVIEWER},
    )
    assert decided.returncode == 0, decided.stdout + decided.stderr
    resumed = run_aar("resume", root.name, cwd=module_workspace, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return Ran(root, first, EventLog(root).state())


def _report(ran: Ran, number: int) -> tuple[str, dict[str, Any]]:
    """Round `number`'s report as written: its Markdown and its data."""
    directory = ran.root / "rounds" / str(number)
    data = json.loads((directory / "report.json").read_text())
    return (directory / "report.md").read_text(), data


def test_the_session_writes_the_current_layout_and_replays(ran: Ran) -> None:
    assert REPORT_LAYOUT == 5 and ran.state.report_layout == 5
    assert [r.kind for r in ran.state.rounds] == ["research", "followup"]
    result = replay_session(ran.root)
    assert result.ok, result.mismatches
    assert result.reports_checked == ["rounds/1/report.md", "rounds/2/report.md"]


def test_it_opens_with_the_answer_then_each_tasks_weak_and_ceiling(ran: Ran) -> None:
    md, data = _report(ran, 1)
    headings = [x for x in md.splitlines() if x.startswith("## ")]
    assert headings[0] == "## The answer" and headings[-1].startswith("## Provenance (appendix")
    assert md.index("### What to try next") < md.index("## The tasks") < md.index("- **Goal:**")
    held = [e.record for e in ran.state.holdout if e.round == 1 and e.record.method == "naive"]
    weak = np.mean([r.metrics["weak_acc"] for r in held])
    ceiling = np.mean([r.metrics["ceiling_acc"] for r in held])
    (ctx,) = data["context"]
    assert ctx["task"] == TASK and ctx["seeds"] == [42, 43]
    assert ctx["weak_acc"] == pytest.approx(weak) and ctx["ceiling_acc"] == pytest.approx(ceiling)
    assert f"| {TASK} | 2 | {weak:.3f} | {ceiling:.3f} | {ceiling - weak:.3f} |" in md


def test_logconf_is_not_labelled_baseline_while_a_hypothesis_tests_it(ran: Ran) -> None:
    assert any(h.method == "logconf" for h in ran.first.hypotheses.values())
    _, data = _report(ran, 1)
    roles = {r["method"]: r["role"] for r in data["rows"]}
    assert roles["logconf"] == "hypothesis (the session's logconf baseline run)"
    assert roles["naive"] == "baseline"
    _, later = _report(ran, 2)  # round 2 tests no logconf: there it is the baseline again
    later_roles = {r["method"]: r["role"] for r in later["rows"]}
    assert later_roles["naive"] == "baseline" and later_roles["logconf"].startswith("baseline")


def test_a_sweep_shows_the_value_it_started_from(ran: Ran) -> None:
    _, first = _report(ran, 1)
    swept = [h for h in ran.first.hypotheses.values() if h.params]
    for h in swept:
        if any(r["method"].startswith(f"{h.method}-") for r in first["rows"]):
            (row,) = [r for r in first["rows"] if r["method"] == h.method]
            value = ", ".join(f"{k}={v:g}" for k, v in sorted(h.params.items()))
            assert row["role"] == f"hypothesis, sweep start: {value}"
    md, second = _report(ran, 2)
    methods = {h.method for h in ran.state.hypotheses.values() if h.round == 2}
    starts = [r for r in second["rows"] if "sweep start" in r["role"]]
    assert starts and all(any(m.startswith(f"{r['method']}-") for m in methods) for r in starts)
    for r in starts:  # a start is the earlier round's record, in the table and the appendix
        earlier = {e.record.id for e in ran.state.holdout if e.round == 1}
        assert set(r["record_ids"]) <= earlier
        provenance = md.split("## Provenance")[1]
        assert all(f"`{rid[:12]}`" in provenance for rid in r["record_ids"])
        assert r["role"].startswith("baseline") or r["role"].endswith("(round 1)")


def _has_colour(png: Path, colour: str) -> bool:
    pixels = imread(png)[..., :3]
    return bool(np.any(np.all(np.abs(pixels - np.array(to_rgb(colour))) < 1 / 255, axis=-1)))


def test_one_colour_per_method_in_every_figure_of_the_session(ran: Ran) -> None:
    first, later = method_colours(ran.first), method_colours(ran.state)
    assert all(later[m] == c for m, c in first.items())  # a later round recolours nothing
    assert len(set(later.values())) == len(later)
    md, second = _report(ran, 2)
    assert FIGURE_CAPTION in md and "error bars: ±1 SE over seeds" in FIGURE_CAPTION
    _, first_data = _report(ran, 1)
    in_both = {r["method"] for r in second["rows"]} & {r["method"] for r in first_data["rows"]}
    assert {"naive", "logconf"} <= in_both  # the baselines (and the sweep's start)
    for method in in_both:  # the same colour in each figure
        for number in (1, 2):
            assert _has_colour(ran.root / f"rounds/{number}/pgr.png", later[method]), method


def test_the_figure_draws_no_empty_group(tmp_path: Path, ran: Ran) -> None:
    data = report_data(ran.state, 2, [])
    assert isinstance(data, ReportData)
    empty = data.model_copy(update={"tasks": ["no-rows-task", *data.tasks]})
    drawn = write_figure(empty, tmp_path / "pgr.png", method_colours(ran.state))
    assert [task for task, _ in drawn] == [TASK]
    assert sorted(drawn[0][1]) == sorted(r.method for r in data.rows)
    one: list[ResultRow] = [r for r in data.rows if r.method == "naive"]
    alone = write_figure(data.model_copy(update={"rows": one}), tmp_path / "one.png")
    assert alone == [(TASK, ["naive"])]


def test_a_layout_2_session_keeps_its_reports(workspace: Path) -> None:
    root = unpack_session(DATA / "layout2-session.tar.gz", LAYOUT2, workspace / "runs")
    state = EventLog(root).state()
    assert state.report_layout == 2 and len(state.rounds) == 2
    result = replay_session(root, rescore=False)
    assert result.ok, result.mismatches
    assert result.reports_checked == ["rounds/1/report.md", "rounds/2/report.md"]
    md = (root / "rounds/2/report.md").read_text()
    assert "## The tasks" not in md and "sweep start" not in md and "Figure:" not in md
    assert "context" not in json.loads((root / "rounds/2/report.json").read_text())


def test_the_follow_up_report_shows_who_approved_what_it_ran_and_their_comment(ran: Ran) -> None:
    (pid,) = ran.state.rounds[1].followups
    (record,) = [r for r in item_history(ran.root.parent, pid) if r.outcome == "recorded"]
    assert record.decision.reviewer == REVIEWER and record.decision.comment == COMMENT
    md, data = _report(ran, 2)
    (note,) = data["reviews"]
    assert note["proposal_id"] == pid and note["reviewer"] == REVIEWER
    assert note["comment"] == COMMENT and note["edited_from"] is None
    when = record.decision.decided_at.astimezone(UTC)
    line = (
        f"- `{pid}` approved by Ada \\*Lovelace\\* \\<b> on {when:%Y-%m-%d %H:%M:%S} UTC "
        f"(sha256 `{record.decision.sha256[:16]}…`). Comment: \\# ok \\*\\*go\\*\\* "
        r"\[x\](http://evil.example) \| a \\u{202e}evil ↵ second line"
    )
    section = md.split("## The reviewers' decisions on what this round ran\n\n")[1]
    assert section.split("\n\n")[0] == line
    assert "\u202e" not in md and "\n# ok" not in md and " <b>" not in md
    assert md.index("- **Round ended:**") < md.index("## The reviewers' decisions")
    first, first_data = _report(ran, 1)  # a research round ran nothing a reviewer approved
    assert "## The reviewers' decisions" not in first and first_data["reviews"] == []


def test_a_layout_3_session_keeps_its_follow_up_report(ran: Ran) -> None:
    notes = review_notes(ran.root, ran.state, 2)
    assert [n.reviewer for n in notes] == [REVIEWER]
    old = ran.state.model_copy(update={"report_layout": 3})
    assert review_notes(ran.root, old, 2) == []
    data = report_data(old, 2, [], notes)
    assert data.reviews == [] and "reviews" not in json.loads(data.model_dump_json())
    assert "## The reviewers' decisions" not in render_markdown(data)


def _item(pid: str, verdict: str, comment: str) -> ReviewItem:
    decided = datetime(2026, 12, 7, 22, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    decision = Decision(
        item="proposal",
        item_id=pid,
        session_id="s-test",
        sha256="b" * 64,
        decision=verdict,  # type: ignore[arg-type]
        reviewer="bob",
        comment=comment,
        decided_at=decided,
    )
    status = "approved" if verdict == "approve" else "rejected"
    return ReviewItem(
        kind="proposal",
        id=pid,
        session_id="s-test",
        round=1,
        status=status,  # type: ignore[arg-type]
        sha256="b" * 64,
        summary="",
        created_at=decided,
        decision=decision,
    )


def test_an_edit_is_named_only_when_the_audit_log_proves_it() -> None:
    """'approved with edits' as the web page records it (the original's rejection names the
    new proposal); the same words typed in a comment, with no such rejection, prove nothing."""
    old, new = "p-000000000001", "p-000000000002"
    items = {
        old: _item(old, "reject", f"replaced by {new} (sha256 {'b' * 64}; approved with edits)"),
        new: _item(new, "approve", typed := f"approved with edits of {old}: lr *halved*"),
    }
    note = _note(new, items)
    assert note.edited_from == old and note.comment == "lr *halved*"
    assert note.decided_at == datetime(2026, 12, 7, 20, 0, 5, tzinfo=UTC)
    (_, line) = review_lines([note])[1:]
    assert line == (
        f"- `{new}` approved with edits (the reviewer's version of `{old}`) by bob on "
        f"2026-12-07 20:00:05 UTC (sha256 `{'b' * 16}…`). Comment: lr \\*halved\\*"
    )
    forged = {new: items[new]}  # no rejection of the original names this proposal
    claimed = _note(new, forged)
    assert claimed.edited_from is None and claimed.comment == typed
    assert "with edits" not in review_lines([claimed])[2].split(" Comment:")[0]
    missing = review_lines([_note("p-000000000003", items)])[2]
    assert missing == "- `p-000000000003`: the audit log holds no decision on it"
