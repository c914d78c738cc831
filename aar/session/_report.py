"""A round's report: `rounds/<n>/report.md`, its figure and a provenance table.

Every number comes from the evaluator's records in the log (holdout for the headline table;
each section built in `_report_sections`), never typed by the agent; `report_data` is a pure
function of the session state, so `aar replay` rebuilds the same report from `events.jsonl`
and compares. Rendering it (Markdown, figure, files) is here.

Long because it keeps the branches of every report layout (1 to 5) side by side: a session
replays the layout it was created with byte for byte, so older layouts' rendering stays here
unchanged while newer ones add to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from aar.files import write_atomic
from aar.session._models import SessionState
from aar.session._report_answer import (
    CHOICE_RULE,
    SESSION_CHOICE_RULE,
    AnswerRow,
    answer_rows,
    no_answer_text,
    session_answer_rows,
    unordered_line,
)
from aar.session._report_context import TaskContext, context_rows
from aar.session._report_evidence import (
    Decided,
    ProposalEvidence,
    evidence_lines,
    p_text,
    proposal_evidence,
    round_holdout,
    session_decided,
)
from aar.session._report_figure import ERROR_BARS, method_colours, write_figure
from aar.session._report_reviews import ReviewNote, review_lines, review_notes
from aar.session._report_sections import (
    NAIVE,
    ProvenanceRow,
    ResultRow,
    early_end_lines,
    failure_lines,
    finding_lines,
    hypothesis_lines,
    mean_se_text,
    model_label,
    number_text,
    provenance_row,
    result_rows,
    threat_lines,
    verdict_lines,
)
from aar.session._verdicts import fresh_round, rule_text
from aar.text import markdown_inline, markdown_quote

if TYPE_CHECKING:
    from aar.session._session import Session


class ReportData(BaseModel):
    session_id: str
    round: int
    kind: str
    goal: str
    directions: list[str]
    model: str
    tasks: list[str]
    seeds: list[int]
    why_ended: str | None
    summary: str | None
    hypotheses: list[dict[str, str]]
    rows: list[ResultRow]
    findings: list[dict[str, str]]
    failures: list[str]
    threats: list[str]
    provenance: list[ProvenanceRow]
    proposals: list[dict[str, str]]
    verdict_rule: str = ""
    verdicts: list[dict[str, str]] = []
    """Every comparison the session decided this round, as its verdicts table shows it."""
    """How the round decided its verdicts (the test, the data, the correction)."""
    early_end: list[str] = []
    """The report's first lines when the round ended before the researcher finished it: how,
    and what the round planned against what it did (empty for a completed round)."""
    layout: int = 1
    """The session's report layout (`aar.session.REPORT_LAYOUT` when it was made)."""
    answer: list[AnswerRow] = []
    """Layout 2: the best method per task, which the report opens with."""
    context: list[TaskContext] = []
    """Layout 3: each task's weak-supervisor and ceiling accuracies on holdout."""
    reviews: list[ReviewNote] = []
    """Layout 4: who approved each proposal a follow-up round ran, when, and their comment."""
    evidence: list[ProposalEvidence] = []
    """Layout 5: per proposal, the session's holdout confirmation of what it builds on."""

    @model_serializer(mode="wrap")
    def _as_its_layout(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A report's data without the fields of later layouts: `report.json` of a session
        made before a layout stays what it was, so `aar replay` still matches it."""
        dumped: dict[str, Any] = handler(self)
        for layout, names in LAYOUT_FIELDS.items():
            if self.layout < layout:
                for name in names:
                    dumped.pop(name, None)
        return dumped


LAYOUT_FIELDS = {2: ("layout", "answer"), 3: ("context",), 4: ("reviews",), 5: ("evidence",)}
"""The fields each layout added to `report.json`."""
LAYOUT_2_FIELDS = LAYOUT_FIELDS[2]


def report_data(
    state: SessionState,
    number: int,
    proposals: list[dict[str, str]],
    reviews: list[ReviewNote] | None = None,
) -> ReportData:
    """Everything the report says about round `number`: a pure function of the state, the
    round's proposals (`proposal_rows`) and, from layout 4, the reviewers' decisions on what a
    follow-up round ran (`review_notes`, read from the audit log; none when not given)."""
    info = next(r for r in state.rounds if r.number == number)
    holdout = round_holdout(state, number)
    layout = state.report_layout
    decided = session_decided(state, number) if layout >= 5 else []
    return ReportData(
        session_id=state.id,
        round=number,
        kind=info.kind,
        goal=state.config.goal,
        directions=state.config.directions,
        model=model_label(state.config, layout),
        tasks=state.config.tasks,
        seeds=state.config.seeds,
        why_ended=info.why_ended,
        early_end=early_end_lines(state, info),
        summary=info.summary,
        hypotheses=hypothesis_lines(state, number, layout),
        rows=(rows := result_rows(state, holdout, number)),
        findings=finding_lines(state, number, rows),
        verdict_rule=rule_text(fresh_round(state, number)),
        verdicts=verdict_lines(state, number, rows),
        failures=failure_lines(state, number, layout),
        threats=threat_lines(state, number, holdout),
        provenance=[provenance_row(state, e) for e in holdout],
        proposals=proposals,
        layout=layout,
        answer=_answer(state, number, rows, decided),
        context=context_rows(state, holdout) if layout >= 3 else [],
        reviews=(reviews or []) if layout >= 4 else [],
        evidence=proposal_evidence(state, number, proposals, decided) if layout >= 5 else [],
    )


def _answer(
    state: SessionState, number: int, rows: list[ResultRow], decided: list[Decided]
) -> list[AnswerRow]:
    """The answer the report opens with: from layout 5 the session's so far (every round up
    to `number`, `decided`), in layouts 2-4 the round's own; none in layout 1."""
    if state.report_layout >= 5:
        return session_answer_rows(state, number, decided)
    return answer_rows(state, number, rows) if state.report_layout >= 2 else []


def render_markdown(data: ReportData) -> str:
    """The report as Markdown (deterministic: the same data gives the same text), in its
    session's layout: from layout 2 the answer comes first and provenance last."""
    lines = [f"# Session {data.session_id}: round {data.round} ({data.kind})", ""]
    if data.early_end:
        first, *rest = data.early_end
        lines += [f"> **{markdown_inline(first)}**", *(f"> {markdown_inline(x)}" for x in rest), ""]
    if data.layout >= 2:
        lines += [*_answer_section(data), ""]
    if data.layout >= 3:
        lines += [*_context_table(data), ""]
    # Agent- and user-written text is quoted (`markdown_inline`, `markdown_quote`): it renders
    # as itself and can forge no heading, table, list, link, image, HTML or code fence.
    model = data.model if data.layout < 2 else markdown_inline(data.model)
    lines += [f"- **Goal:** {markdown_inline(data.goal)}", f"- **Model:** {model}"]
    directions = "; ".join(markdown_inline(d) for d in data.directions)
    lines += [f"- **Directions:** {directions or 'none'}"]
    lines += [f"- **Tasks × seeds:** {', '.join(data.tasks)} × {data.seeds}"]
    lines += [f"- **Round ended:** {markdown_inline(data.why_ended or 'not yet')}", ""]
    if data.layout >= 4 and data.kind == "followup":
        lines += [*review_lines(data.reviews), ""]
    if data.summary:
        lines += ["## The researcher's summary", "", *markdown_quote(data.summary), ""]
    lines += ["## Hypotheses tried", ""]
    lines += [_hypothesis_line(h) for h in data.hypotheses] or ["- none"]
    lines += ["", *_results_table(data), "", "![holdout PGR by task and method](pgr.png)", ""]
    if data.layout >= 3:
        lines += [FIGURE_CAPTION, ""]
    lines += [*_verdicts_table(data), ""]
    lines += ["## Findings (stored in the memory as pending review)", ""]
    lines += [
        f"- `{f['id']}` **{f['verdict']}** — {markdown_inline(f['method'])} on {f['tasks']}: "
        f"{markdown_inline(f['summary'])} "
        f"(test feedback {f['feedback']}; holdout {f['final']}; verdict {f['basis']})"
        for f in data.findings
    ] or ["- none"]
    lines += ["", "## What failed, and threats to validity", ""]
    lines += [f"- {markdown_inline(t)}" for t in [*data.failures, *data.threats]] or [
        "- none noted"
    ]
    if data.layout < 2:
        lines += ["", *_provenance_table(data)]
    lines += ["", "## Proposed follow-ups (need approval)", ""]
    for p in data.proposals:
        lines.append(
            f"- `{p['id']}` {markdown_inline(p['rationale'])} "
            f"(sha256 `{p['sha256'][:16]}…`, ~{p['evals']} evaluations, expires {p['expires']}; "
            f"`aar review show {p['id']}`)"
        )
        lines += _evidence_of(data, p["id"])
    if not data.proposals:
        lines.append("- none")
    if data.layout >= 2:
        lines += ["", *_provenance_table(data, appendix=True)]
    return "\n".join(lines) + "\n"


def _hypothesis_line(h: dict[str, str]) -> str:
    """One hypothesis: its statement, method, parameters and experiments; from layout 2 on
    its family and the researcher's rationale too (their words, quoted)."""
    line = (
        f"- `{h['id']}` {markdown_inline(h['statement'])} — method `{h['method']}`"
        + (f" ({markdown_inline(h['params'])})" if h["params"] else "")
        + f"; experiments {h['experiments']}"
    )
    if "family" in h:
        line += f"; family {markdown_inline(h['family']) or 'not given'}"
        line += f". Rationale: {markdown_inline(h['rationale']) or 'none given'}"
    return line


def _answer_section(data: ReportData) -> list[str]:
    """The report's opening: per task the best method, its configuration, its confirmed
    effect against naive, and what to try next (from layout 5: the session's best so far,
    with the round that confirmed it, and under each proposal the session's holdout
    evidence on what it builds on)."""
    session = data.layout >= 5
    out = ["## The answer", ""]
    if session:
        out += [
            f"The best method per task in the session so far (rounds 1–{data.round}), chosen "
            "on test feedback among the methods the session confirmed on holdout.",
            "",
        ]
    out += _answer_table(data)
    rule = SESSION_CHOICE_RULE if session else CHOICE_RULE
    out += ["", f"How chosen: {rule}", "", "### What to try next", ""]
    for p in data.proposals:
        out += [f"- `{p['id']}` {markdown_inline(p['rationale'])}", *_evidence_of(data, p["id"])]
    if not data.proposals:
        out.append("- nothing was proposed this round")
    return out


def _answer_table(data: ReportData) -> list[str]:
    """The answer's table; from layout 5 with a column for the round that confirmed it."""
    session = data.layout >= 5
    out = [
        "| task | best method | "
        + ("round | " if session else "")
        + "configuration | holdout PGR vs naive [95 % t-interval] "
        "| adjusted p | chosen on test feedback |",
        "|---|---|---|---|---|---|" + ("---|" if session else ""),
    ]
    blank = "— | " if session else ""
    for a in data.answer:
        if a.method == NAIVE:
            out.append(f"| {a.task} | {no_answer_text(a)} | {blank}— | — | — | — |")
            continue
        if a.unordered:  # layout 5: test feedback cannot order the best confirmed methods
            out.append(unordered_line(a, markdown_inline))
            continue
        config = a.configuration()
        effect = "—"
        if a.effect is not None:
            mean, low, high = a.effect
            effect = (
                f"{number_text(mean)} [{number_text(low)}, {number_text(high)}] on "
                f"{len(a.effect_seeds)} seeds ({a.experiment})"
            )
        chosen = (
            f"edge {number_text(a.screen_mean)} on {a.screen_n} seeds"
            if a.screen_mean is not None
            else "edge withheld by the scorer"
        )
        where = f"{a.round} | " if session else ""
        out.append(
            f"| {a.task} | {markdown_inline(a.method)} | {where}{markdown_inline(config) or '—'} | "
            f"{effect} | {p_text(a.adjusted_p)} | {chosen}, best of {a.candidates} "
            "confirmed |"
        )
    if not data.answer:
        out.append("| — | — | — | — | — | — |" + (" — |" if session else ""))
    return out


def _evidence_of(data: ReportData, proposal_id: str) -> list[str]:
    """Layout 5: the nested lines under a proposal with the session's holdout evidence on
    what it builds on (none in earlier layouts)."""
    out: list[str] = []
    for ev in data.evidence:
        if ev.proposal_id == proposal_id:
            out += evidence_lines(ev)
    return out


FIGURE_CAPTION = (
    f"Figure: holdout PGR per task, one bar per method (the mean over seeds); {ERROR_BARS}; "
    "dashed line: the weak supervisor (PGR 0), dotted line: the ceiling (PGR 1); each method "
    "keeps its colour in every figure of the session."
)


def _context_table(data: ReportData) -> list[str]:
    """Layout 3: what each task's PGR is measured between (its accuracies on holdout)."""
    out = ["## The tasks: weak supervisor and ceiling (holdout accuracy)", ""]
    out += ["PGR 0 is the weak supervisor's accuracy, PGR 1 the ceiling's.", ""]
    out += ["| task | seeds | weak supervisor | ceiling | gap |", "|---|---|---|---|---|"]
    out += [
        f"| {c.task} | {len(c.seeds)} | {number_text(c.weak_acc)} | "
        f"{number_text(c.ceiling_acc)} | {number_text(c.ceiling_acc - c.weak_acc)} |"
        for c in data.context
    ] or ["| — | — | — | — | — |"]
    return out


def _verdicts_table(data: ReportData) -> list[str]:
    out = ["## Verdicts (decided by the session, not by the researcher)", ""]
    out += [
        "| method | task | verdict | test feedback (screen) | holdout (confirmation) "
        "| adjusted p |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {v['method']} | {v['task']} | **{v['verdict']}** | {v['screen']} | {v['confirm']} "
        f"| {v['adjusted']} |"
        for v in data.verdicts
    ] or ["| — | — | — | — | — | — |"]
    if data.verdict_rule:
        out += ["", f"How: {data.verdict_rule}"]
    return out


def _results_table(data: ReportData) -> list[str]:
    out = ["## Results (holdout, scored once at the end of the round)", ""]
    out += [
        "PGR on accuracy, mean ± SE over seeds [95 % bootstrap CI]; the last column is the "
        "paired difference from the naive baseline on the same seeds [95 % t-interval, before "
        "the round's Holm correction].",
        "",
    ]
    if data.layout >= 3:
        out += [
            "Role: baseline (the session's own run), hypothesis (a method the round tests), "
            "sweep start (the value a sweep began from, from an earlier round where it says "
            "so), sweep (a value it tried), confirmation (a re-run on fresh seeds).",
            "",
        ]
    out += [
        "| task | method | role | seeds | PGR | accuracy | vs naive [95 % t-interval] |",
        "|---|---|---|---|---|---|---|",
    ]
    # From layout 3 a role quotes the hypothesis's parameter names (the researcher's text).
    role = markdown_inline if data.layout >= 3 else str
    for r in data.rows:
        vs = (
            f"{number_text(r.vs_naive[0])} "
            f"[{number_text(r.vs_naive[1])}, {number_text(r.vs_naive[2])}]"
            if r.vs_naive
            else "—"
        )
        out.append(
            f"| {r.task} | {r.method} | {role(r.role)} | {len(r.seeds)} | "
            f"{mean_se_text(r.pgr_mean, r.pgr_se)} "
            f"[{number_text(r.pgr_ci[0])}, {number_text(r.pgr_ci[1])}] | "
            f"{number_text(r.acc_mean)} | {vs} |"
        )
    if not data.rows:
        out.append("| — | — | — | — | — | — | — |")
    return out


def _provenance_table(data: ReportData, *, appendix: bool = False) -> list[str]:
    where = "appendix: " if appendix else ""
    out = [f"## Provenance ({where}every holdout number above → its evaluator record)", ""]
    out += [
        "| record | task | seed | method | PGR | accuracy | code sha256 | commit | notebook |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in data.provenance:
        out.append(
            f"| `{p.record_id[:12]}` | {p.task} | {p.seed} | {p.method} | "
            f"{number_text(p.pgr_acc)} | "
            f"{number_text(p.acc)} | `{p.code_sha256[:12]}` | `{(p.commit or 'none')[:12]}` | "
            f"{p.notebook} |"
        )
    return out


def proposal_rows(root: Path, state: SessionState, number: int) -> list[dict[str, str]]:
    """The round's proposals as the report lists them (read from their committed files); from
    layout 5 with the experiment each follows (what its holdout evidence is about)."""
    from aar.review import read_proposal

    rows = []
    for pid in next(r for r in state.rounds if r.number == number).proposals:
        p = read_proposal(root / "proposals" / f"{pid}.json")
        row = {
            "id": p.id,
            "rationale": p.rationale,
            "sha256": p.sha256,
            "evals": str(p.estimated_evaluations),
            "expires": f"{p.expires_at:%Y-%m-%d}",
        }
        if state.report_layout >= 5:
            row["follows"] = p.follows or ""
        rows.append(row)
    return rows


def report_path(root: Path, number: int) -> Path:
    """Where round `number` of the session at `root` has its report."""
    return root / "rounds" / str(number) / "report.md"


def write_report(session: Session, number: int) -> Path:
    """Write `rounds/<n>/report.md`, `pgr.png` and `provenance.json`; returns the report."""
    state, root = session.state, session.root
    data = report_data(
        state, number, proposal_rows(root, state, number), review_notes(root, state, number)
    )
    path = report_path(session.root, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(data, path.parent / "pgr.png", method_colours(session.state))
    write_atomic(path.parent / "report.json", data.model_dump_json(indent=2) + "\n")
    write_atomic(path, render_markdown(data))
    return path
