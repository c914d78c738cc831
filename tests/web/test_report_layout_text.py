"""Layout 2 of `report.md` quotes every agent- and user-written text it adds (a hypothesis's
family and rationale, the answer's configuration, the model and its server, a failed cell's
error): rendered by `aar serve`, hostile text adds no structure, as in layout 1
(`test_report_text.py`)."""

from __future__ import annotations

from report_support import HOSTILE, Tags, page_tags

from aar.session import ReportData
from aar.session._report_answer import AnswerRow


def _report(text: str) -> ReportData:
    return ReportData(
        session_id="s-test",
        round=1,
        kind="research",
        goal=text,
        directions=[text],
        model=f"openai:m at http://127.0.0.1/{text}",
        tasks=["digits-ge5"],
        seeds=[42, 43],
        why_ended=text,
        summary=text,
        hypotheses=[
            {
                "id": "h1-1",
                "statement": text,
                "method": "logconf",
                "params": f"{text}=1",
                "experiments": "e-01-abcdef",
                "family": text,
                "rationale": text,
            }
        ],
        rows=[],
        findings=[],
        failures=[f"experiment e-01 cell 2 ended error: {text}"],
        threats=[],
        provenance=[],
        proposals=[
            {
                "id": "p-0123456789ab",
                "rationale": text,
                "sha256": "0" * 64,
                "evals": "4",
                "expires": "2026-12-31",
            }
        ],
        layout=2,
        answer=[
            AnswerRow(
                task="digits-ge5",
                method="logconf",
                family=text,
                params=f"{text}=1",
                candidates=1,
                screen_mean=0.1,
                screen_n=2,
                effect=(0.1, 0.05, 0.15),
                effect_seeds=[42, 43],
                adjusted_p=0.01,
                experiment="e-01",
            )
        ],
    )


def _page(text: str) -> Tags:
    return page_tags(_report(text))


def test_hostile_text_adds_no_structure_to_a_layout_2_report() -> None:
    plain = _page("plain words")
    assert sum(t.startswith("h2") for t in plain.tags) >= 8  # the answer and the appendix too
    assert sum(t.startswith("table") for t in plain.tags) >= 2  # answer, verdicts (rows empty)
    for text in HOSTILE:
        assert _page(text).tags == plain.tags, text
