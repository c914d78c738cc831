"""The round report's layout 2: it opens with the answer (the best method per task, chosen on
test feedback and confirmed on holdout, never chosen by holdout), shows each hypothesis's
family and rationale as quoted text, lists failed cells, names the model's server, and keeps
provenance in an appendix. A session made before layouts keeps its layout-1 report, byte for
byte, so `aar replay` still matches it.

Built from evaluator-shaped records (no kernel), as `test_verdicts.py` does: the report is a
pure function of the session state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from records_support import SEEDS, TASK, entries
from session_support import session_of, small_config

from aar.session import REPORT_LAYOUT, CellRun, Created, EventLog, SessionConfig
from aar.session._finalize import BASELINES
from aar.session._models import (
    Experiment,
    FailedCell,
    Hypothesis,
    RoundInfo,
    SessionState,
)
from aar.session._report import render_markdown, report_data

HOSTILE = "# forged heading\n| a | b |\n[link](http://x) <b>bold</b>"


def _state(layout: int) -> SessionState:
    """Two methods confirmed better than naive: `bagged` has the larger edge on test feedback,
    `smooth` the larger edge on holdout. The answer must be `bagged`."""
    config = SessionConfig(
        tasks=[TASK],
        seeds=SEEDS,
        model="openai:local-model",
        base_url="http://user:secret@127.0.0.1:8000/v1?api-key=hidden",
    )
    state = SessionState(id="s-test", config=config, report_layout=layout)
    state.rounds.append(RoundInfo(number=1, kind="research", started_at=datetime.now(UTC)))
    state.rounds[0].ended = True
    state.hypotheses = {
        "h1-1": Hypothesis(
            id="h1-1",
            round=1,
            statement="bagging helps",
            method="bagged",
            family="ensemble",
            rationale=HOSTILE,
            params={"members": 5.0},
        ),
        "h1-2": Hypothesis(id="h1-2", round=1, statement="smoothing helps", method="smooth"),
    }
    for exp, hyp in (("e-01", BASELINES), ("e-02", "h1-1"), ("e-03", "h1-2")):
        state.experiments[exp] = Experiment(id=exp, round=1, hypothesis_id=hyp, status="done")
    zero = [0.0] * 5
    state.evaluations = [
        *entries("naive", "e-01", zero, "test"),
        *entries("bagged", "e-02", [0.20, 0.22, 0.21, 0.23, 0.20], "test"),
        *entries("smooth", "e-03", [0.10, 0.12, 0.11, 0.13, 0.10], "test"),
    ]
    state.holdout = [
        *entries("naive", "e-01", zero, "holdout"),
        *entries("bagged", "e-02", [0.11, 0.10, 0.12, 0.12, 0.11], "holdout"),
        *entries("smooth", "e-03", [0.31, 0.30, 0.32, 0.32, 0.31], "holdout"),
    ]
    state.failed_cells = [
        FailedCell(round=1, experiment="e-02", index=2, status="error", error="KeyError: 'x'"),
        FailedCell(round=1, experiment="e-03", index=1, status="timeout"),
    ]
    return state


PROPOSALS = [
    {
        "id": "p-1",
        "rationale": "try more members",
        "sha256": "a" * 64,
        "evals": "10",
        "expires": "2026-12-31",
    }
]


def test_new_sessions_write_layout_5() -> None:
    assert REPORT_LAYOUT == 5  # layouts 3 and 4: test_report_layout3.py; 5: test_report_layout5.py


def test_the_report_opens_with_the_answer_chosen_on_test_feedback_not_holdout() -> None:
    data = report_data(_state(2), 1, PROPOSALS)
    (answer,) = data.answer
    assert answer.method == "bagged" and answer.candidates == 2  # smooth wins only on holdout
    assert answer.family == "ensemble" and answer.params == "members=5"
    assert answer.effect is not None and answer.effect[1] > 0  # its confirmed CI, above naive
    assert answer.experiment == "e-02" and answer.effect_seeds == SEEDS
    row = next(r for r in data.rows if r.method == "bagged")
    assert answer.effect == row.vs_naive  # the results table's numbers (the records')
    md = render_markdown(data)
    assert md.index("## The answer") < md.index("- **Goal:**") < md.index("## Hypotheses")
    line = next(x for x in md.splitlines() if x.startswith("| digits-ge5 | bagged |"))
    assert "family ensemble; members=5" in line
    assert f"{row.vs_naive[0]:.3f} [{row.vs_naive[1]:.3f}, {row.vs_naive[2]:.3f}]" in line
    assert "best of 2 confirmed" in line
    what_next = md.index("### What to try next")
    assert md.index("- `p-1` try more members", what_next) < md.index("- **Goal:**")


def test_provenance_is_the_appendix_at_the_end() -> None:
    md = render_markdown(report_data(_state(2), 1, PROPOSALS))
    headings = [x for x in md.splitlines() if x.startswith("## ")]
    assert headings[-1].startswith("## Provenance (appendix")
    assert md.index("## Proposed follow-ups") < md.index("## Provenance")
    assert "| `bagged-holdo` | digits-ge5 | 42 | bagged |" in md.split("## Provenance")[1]


def test_hypotheses_show_family_and_rationale_as_quoted_text() -> None:
    md = render_markdown(report_data(_state(2), 1, []))
    line = next(x for x in md.splitlines() if x.startswith("- `h1-1`"))
    assert "family ensemble" in line and "Rationale: \\# forged heading ↵ \\| a \\| b \\|" in line
    assert "\\[link\\](http://x) \\<b>bold\\</b>" in line
    assert "# forged heading" not in [x.strip() for x in md.splitlines()]
    smooth = next(x for x in md.splitlines() if x.startswith("- `h1-2`"))
    assert "family not given" in smooth and "Rationale: none given" in smooth


def test_what_failed_lists_every_failed_cell() -> None:
    md = render_markdown(report_data(_state(2), 1, []))
    failed = md.split("## What failed")[1].split("## ")[0]
    assert "- experiment e-02 cell 2 ended error: KeyError: 'x'" in failed
    assert "- experiment e-03 cell 1 ended timeout: no error text was logged" in failed
    assert "none noted" not in failed


def test_the_model_line_names_its_server_without_secrets() -> None:
    md = render_markdown(report_data(_state(2), 1, []))
    assert "- **Model:** openai:local-model at http://127.0.0.1:8000/v1\n" in md
    assert "secret" not in md and "hidden" not in md


def test_a_layout_1_session_keeps_its_old_report() -> None:
    data = report_data(_state(1), 1, PROPOSALS)
    md = render_markdown(data)
    assert "## The answer" not in md and "Rationale" not in md and "; family" not in md
    assert "ended error" not in md and "ended timeout" not in md
    assert "- **Model:** openai:local-model\n" in md
    assert md.index("## Provenance (every") < md.index("## Proposed follow-ups")
    dumped = json.loads(data.model_dump_json())
    assert "layout" not in dumped and "answer" not in dumped
    assert all(set(h) == {"id", "statement", "method", "params", "experiments"} for h in
               dumped["hypotheses"])  # fmt: skip


def test_a_failed_cell_logs_its_error_and_an_ok_cell_keeps_its_keys(workspace: Path) -> None:
    """A real kernel: the failed cell's event carries its exception on one line, which the
    state folds into `failed_cells` (the report's "What failed"); an ok cell's line holds the
    keys it always had, and the session records its report layout."""
    with session_of(small_config()) as session:
        session.start_round()
        session.research.propose_hypothesis("a cell fails", "failing", rationale="a test")
        session.research.run_cell("print('fine')")
        outcome = session.research.run_cell("x = {}\nx['missing']")
        assert outcome.status == "error"
        events = EventLog(session.root).read()
        state = EventLog(session.root).state()
    created, *_ = events
    assert isinstance(created.data, Created) and created.data.report_layout == REPORT_LAYOUT
    assert state.report_layout == REPORT_LAYOUT
    cells = [e.data for e in events if isinstance(e.data, CellRun)]
    assert [c.status for c in cells] == ["ok", "error"]
    assert "error" not in cells[0].model_dump() and cells[1].error == "KeyError: 'missing'"
    (failed,) = state.failed_cells
    assert (failed.round, failed.index, failed.status) == (1, 2, "error")
    assert failed.error == "KeyError: 'missing'"


def test_layout_3_roles_quote_the_researchers_parameter_names() -> None:
    """A role names the sweep's start by the hypothesis's parameters, which the researcher
    wrote: the report quotes them (no table cell, tag or link can be forged)."""
    state = _state(3)
    state.hypotheses["h1-1"].params = {"members": 5.0, "x|<b>[a](b)": 1.0}
    state.evaluations += entries("bagged-members-9", "e-02", [0.2] * 5, "test")
    state.holdout += entries("bagged-members-9", "e-02", [0.1] * 5, "holdout")
    data = report_data(state, 1, [])
    (start,) = [r for r in data.rows if r.method == "bagged"]
    assert start.role == "hypothesis, sweep start: members=5, x|<b>[a](b)=1"
    (swept,) = [r for r in data.rows if r.method == "bagged-members-9"]
    assert swept.role == "hypothesis, sweep"
    results = render_markdown(data).split("## Results")[1]
    line = next(x for x in results.splitlines() if x.startswith("| digits-ge5 | bagged |"))
    assert "| hypothesis, sweep start: members=5, x\\|\\<b>\\[a\\](b)=1 |" in line
    assert line.count(" | ") == 6  # the row's own 7 cells, none forged
