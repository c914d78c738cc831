"""`aar team status` cuts a long hypothesis at a word with an ellipsis (issue 22's tour showed
"recovers more of the ga" at every terminal width)."""

import io

from rich.console import Console

from aar._cli.team import status_table
from aar.team._status import ResearcherStatus, TeamStatus

HYPOTHESIS = (
    "An auxiliary confidence loss (coefficient 0.5) recovers more of the gap than naive "
    "training on digits-ge5."
)


def _render(width: int) -> str:
    researcher = ResearcherStatus(
        index=1,
        direction="losses",
        session_id="s-20261207-220105-75f715",
        state="awaiting_review",
        round=1,
        hypothesis=HYPOTHESIS,
        hypotheses=1,
        evals_used=4,
        evals_budget=200,
        usd=0.0,
        worker=None,
        moves=0,
        outcome="round_ended",
    )
    now = TeamStatus(
        id="t-1", researchers=[researcher], finished=True, stop_requested=False, report=None
    )
    out = io.StringIO()
    Console(file=out, width=width).print(status_table(now))
    return out.getvalue()


def test_long_hypothesis_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = _render(200)
    assert "recovers more of the…" in text
    assert "of the ga" not in text
    assert "awaiting_review (round_ended)" in text
